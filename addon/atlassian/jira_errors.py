"""Errors of calls to Jira. Each names the site, the method and the URL, never a token or secret."""

import re
from urllib.parse import urlsplit, urlunsplit

# Anything shaped like a JWT or an Authorization value is blanked before it reaches a message,
# whatever a server echoes back.
_CREDENTIAL_PATTERNS = (
    re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"),
    re.compile(r"(?i)\b(Bearer|JWT)\s+[A-Za-z0-9._~+/=-]+"),
)

MAX_MESSAGE_CHARS = 300


def scrub(text):
    """Return `text` with every JWT-shaped or Authorization-shaped substring replaced."""
    for pattern in _CREDENTIAL_PATTERNS:
        text = pattern.sub("[redacted]", text)
    return text


def url_without_query(url):
    # The query can carry text users typed (knowledge-base searches), so messages leave it out.
    parts = urlsplit(url)
    shown = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return shown + ("?…" if parts.query else "")


class JiraError(Exception):
    """A call to Jira failed: an error status, a timeout or a broken connection.

    `status` is Jira's HTTP status, None when no response arrived. `kind` is one of "not_found",
    "permission", "rate_limited", "unavailable", "timeout", "error" or "impersonation_refused".
    """

    kind = "error"
    # Seconds Jira asked the caller to wait (its Retry-After header), None when it did not ask.
    retry_after_secs = None

    def __init__(self, *, site, method, url, status=None, jira_message=None, attempts=1, detail=None):
        self.site = site
        self.method = method.upper()
        self.url = scrub(url)
        self.status = status
        self.jira_message = scrub(jira_message)[:MAX_MESSAGE_CHARS] if jira_message else None
        self.attempts = attempts
        self.detail = detail
        super().__init__(self._describe())

    def _describe(self):
        target = f"{self.method} {url_without_query(self.url)} for Jira site {self.site}"
        if self.status is not None:
            text = f"{target} failed with HTTP {self.status}"
        else:
            text = f"{target} failed: {self.detail or 'no response'}"
        if self.attempts > 1:
            text += f" after {self.attempts} attempts"
        if self.jira_message:
            text += f": {self.jira_message}"
        return text


class JiraNotFound(JiraError):
    kind = "not_found"


class JiraPermissionDenied(JiraError):
    kind = "permission"


class JiraRateLimited(JiraError):
    kind = "rate_limited"


class JiraUnavailable(JiraError):
    """Jira returned a 5xx status, or the connection broke before a response arrived."""

    kind = "unavailable"


class JiraTimeout(JiraError):
    kind = "timeout"


class ImpersonationRefused(JiraError):
    """The token endpoint refused to let the app act as a user; the caller may act as the app."""

    kind = "impersonation_refused"

    def __init__(self, *, account_id, **kwargs):
        self.account_id = account_id
        super().__init__(**kwargs)

    def _describe(self):
        return (
            f"Jira site {self.site} refused a token to act as user {self.account_id} "
            f"(HTTP {self.status} from {url_without_query(self.url)})"
            + (f": {self.jira_message}" if self.jira_message else "")
            + "; act as the app user instead"
        )


def error_class_for_status(status):
    if status == 404:
        return JiraNotFound
    if status in (401, 403):
        return JiraPermissionDenied
    if status == 429:
        return JiraRateLimited
    if status >= 500:
        return JiraUnavailable
    return JiraError


def message_of(response):
    """Jira's own error text from a response body, or None."""
    try:
        body = response.json()
    except ValueError:
        text = (response.text or "").strip()
        return text[:MAX_MESSAGE_CHARS] or None
    if not isinstance(body, dict):
        return None

    messages = [str(item) for item in body.get("errorMessages") or []]
    errors = body.get("errors")
    if isinstance(errors, dict):
        messages += [f"{field}: {text}" for field, text in errors.items()]
    for key in ("errorMessage", "message"):
        if isinstance(body.get(key), str):
            messages.append(body[key])
    # OAuth 2.0 errors (RFC 6749 section 5.2): the description is more specific than the code.
    oauth_error = body.get("error_description") or body.get("error")
    if isinstance(oauth_error, str):
        messages.append(oauth_error)
    return "; ".join(messages) or None
