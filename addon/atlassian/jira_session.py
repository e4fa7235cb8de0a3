"""The HTTP session under every call to one Jira site: signs, times out, retries, raises JiraError.

atlassian-python-api sends all its requests through `Session.request`, so overriding it here puts
one retry loop under every library method. The library's own retries are switched off where the
client is built.

A 429 with `Retry-After` pauses every call of this process to the same site until that instant,
whichever session or thread makes it, because Atlassian asks apps to wait that long before calling again. Without
the hold, the other threads would keep calling, get 429 in turn, and each back off on its own.
NOTE: Jira Cloud scopes its burst limit to one endpoint and method (RateLimit-Reason
jira-burst-based); holding the whole site is stricter than needed and assumes the limits of one
site are shared by the calls of this process.
"""

import logging
import threading
import time
from contextlib import contextmanager
from urllib.parse import urlsplit

import requests

from .jira_errors import JiraTimeout, JiraUnavailable, error_class_for_status, message_of
from .retry import NOT_PROCESSED_STATUSES, is_idempotent, is_retryable_status, parse_retry_after

log = logging.getLogger(__name__)

_RATE_LIMIT_HEADER_PREFIXES = ("x-ratelimit", "beta-ratelimit", "x-beta-ratelimit", "ratelimit-")
_BODY_ARGUMENTS = ("data", "json", "files")

# Site base URL -> time.monotonic() instant before which no call to that site may start.
_site_holds = {}
_site_holds_lock = threading.Lock()


def hold_site(site, seconds):
    """Let no call of this process reach `site` for `seconds`, unless a longer hold is already set."""
    until = time.monotonic() + seconds
    with _site_holds_lock:
        if _site_holds.get(site, 0.0) < until:
            _site_holds[site] = until


def wait_for_site(site):
    """Sleep until the hold on `site` has passed; return the seconds slept."""
    with _site_holds_lock:
        until = _site_holds.get(site)
    if until is None:
        return 0.0
    delay = until - time.monotonic()
    if delay <= 0:
        return 0.0
    time.sleep(delay)
    return delay


def is_under(url, base_url):
    """Return True when `url` has the origin of `base_url` and lies below its path."""
    target, base = urlsplit(url), urlsplit(base_url)
    if (target.scheme, target.netloc) != (base.scheme, base.netloc):
        return False
    base_path = base.path.rstrip("/")
    return target.path == base_path or target.path.startswith(base_path + "/")


class JiraSession(requests.Session):
    """A requests session bound to one Jira site and one identity (the app, or a user)."""

    def __init__(self, *, site, auth, policy, timeout_secs, user_agent):
        super().__init__()
        self.site = site.rstrip("/")
        self.auth = auth
        self.policy = policy
        self.timeout_secs = timeout_secs
        self.headers["User-Agent"] = user_agent
        self._local = threading.local()

    @contextmanager
    def idempotent(self, enabled=True):
        """Treat the calls made inside the block as safe to repeat, even POSTs."""
        previous = getattr(self._local, "idempotent", False)
        self._local.idempotent = previous or enabled
        try:
            yield
        finally:
            self._local.idempotent = previous

    def request(self, method, url, **kwargs):
        method = method.upper()
        # Our timeout, not a caller's: the library truncates its own to whole seconds.
        kwargs["timeout"] = self.timeout_secs
        if method == "GET":
            # Jira Cloud rejects a GET that carries a body with 403.
            for name in _BODY_ARGUMENTS:
                kwargs.pop(name, None)
        idempotent = is_idempotent(method) or getattr(self._local, "idempotent", False)
        # NOTE: a retry re-sends `files` as they are, already read; rewind them before relying on
        # retries for uploads.

        attempts = 0
        reauthorized = False
        while True:
            attempts += 1
            retry_after = None
            wait_for_site(self.site)
            try:
                response = super().request(method, url, **kwargs)
            except requests.Timeout as exc:
                failure = self._failure(JiraTimeout, method, exc, url, attempts,
                                        f"no response within {self.timeout_secs} s")
                retryable = idempotent
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                failure = self._failure(JiraUnavailable, method, exc, url, attempts,
                                        "the connection was refused or closed early")
                retryable = idempotent
            else:
                self._log_rate_limit(method, response)
                status = response.status_code
                if status < 400:
                    return response
                if status == 401 and hasattr(self.auth, "invalidate") and not reauthorized:
                    # A cached bearer token may have been revoked early: fetch a new one, once.
                    reauthorized = True
                    self.auth.invalidate()
                    log.info("Jira site %s returned 401 to %s %s; retrying with a new token",
                             self.site, method, urlsplit(response.url).path)
                    continue
                failure = error_class_for_status(status)(
                    site=self.site, method=method, url=response.url, status=status,
                    jira_message=message_of(response), attempts=attempts,
                )
                retryable = is_retryable_status(status, idempotent)
                if status in NOT_PROCESSED_STATUSES:
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                    failure.retry_after_secs = retry_after
                if status == 429 and retry_after is not None:
                    hold_site(self.site, min(retry_after, self.policy.max_retry_after_secs))

            retries_done = attempts - 1 - int(reauthorized)
            if not retryable or retries_done >= self.policy.max_retries:
                raise failure
            wait_secs = self.policy.delay_secs(retries_done + 1, retry_after)
            log.info(
                "Retrying %s %s on Jira site %s in %.2f s (status %s, retry %d of %d)",
                method, urlsplit(failure.url).path, self.site, wait_secs,
                failure.status if failure.status is not None else failure.kind,
                retries_done + 1, self.policy.max_retries,
            )
            time.sleep(wait_secs)

    def rebuild_auth(self, prepared_request, response):
        # requests keeps the old Authorization on a same-host redirect, but its qsh names the old
        # URL. Sign the new URL when it is still on this site; send nothing to any other place.
        prepared_request.headers.pop("Authorization", None)
        if self.auth is not None and is_under(prepared_request.url, self.site):
            self.auth(prepared_request)

    def _failure(self, error_class, method, exc, url, attempts, detail):
        sent_url = exc.request.url if getattr(exc, "request", None) is not None else url
        return error_class(site=self.site, method=method, url=sent_url, attempts=attempts,
                           detail=detail)

    def _log_rate_limit(self, method, response):
        if not log.isEnabledFor(logging.DEBUG):
            return
        limits = {
            name: value for name, value in response.headers.items()
            if name.lower().startswith(_RATE_LIMIT_HEADER_PREFIXES) or name.lower() == "retry-after"
        }
        if limits:
            log.debug("Rate-limit headers from Jira site %s on %s %s: %s",
                      self.site, method, urlsplit(response.url).path, limits)

