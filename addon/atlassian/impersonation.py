"""Acting as a user: OAuth 2.0 JWT-bearer grant ("user impersonation for Connect apps").

The app signs an assertion with the installation's shared secret, trades it at the token
endpoint for a bearer token of scope ACT_AS_USER, and caches the token per
(client_key, accountId, scopes) until shortly before it expires.
"""

import logging
import threading
import time

import jwt

from .jira_errors import ImpersonationRefused, JiraError

log = logging.getLogger(__name__)

OAUTH_AUDIENCE = "https://oauth-2-authorization-server.services.atlassian.com"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_SCOPES = ("READ", "WRITE")
ASSERTION_LIFETIME_SECS = 60
# A token is dropped this long before its `expires_in` runs out (or a tenth of its lifetime when
# that is shorter), so no call starts with a token about to expire.
EXPIRY_MARGIN_SECS = 60
REFUSAL_STATUSES = (400, 401, 403)


def encode_assertion(*, oauth_client_id, account_id, base_url, shared_secret, now=None):
    issued_at = int(now if now is not None else time.time())
    claims = {
        "iss": f"urn:atlassian:connect:clientid:{oauth_client_id}",
        "sub": f"urn:atlassian:connect:useraccountid:{account_id}",
        "tnt": base_url,
        "aud": OAUTH_AUDIENCE,
        "iat": issued_at,
        "exp": issued_at + ASSERTION_LIFETIME_SECS,
    }
    return jwt.encode(claims, shared_secret, algorithm="HS256", headers={"typ": "JWT"})


class TokenCache:
    """Bearer tokens in memory, shared by the threads of one app."""

    def __init__(self):
        self._lock = threading.Lock()
        self._tokens = {}
        self._fetch_locks = {}

    def get(self, key):
        with self._lock:
            entry = self._tokens.get(key)
            if entry is None:
                return None
            token, expires_at = entry
            if time.monotonic() >= expires_at:
                del self._tokens[key]
                return None
            return token

    def put(self, key, token, lifetime_secs):
        margin = min(EXPIRY_MARGIN_SECS, lifetime_secs / 10)
        with self._lock:
            self._tokens[key] = (token, time.monotonic() + lifetime_secs - margin)

    def drop(self, key):
        with self._lock:
            self._tokens.pop(key, None)

    def fetch_lock(self, key):
        """Return the lock that lets one thread at a time fetch the token for `key`."""
        with self._lock:
            return self._fetch_locks.setdefault(key, threading.Lock())


class CachedTokens:
    """Per-user tokens fetched once and kept in a TokenCache until shortly before they expire.

    Subclasses set `_cache` and define `_key(account_id)` and `_request_token(account_id)`, which
    returns (token, lifetime in seconds). This is the `token_for` / `forget` interface that
    jira_auth.BearerAuth expects. One thread at a time fetches the token of one key.
    """

    def token_for(self, account_id):
        key = self._key(account_id)
        token = self._cache.get(key)
        if token:
            return token
        with self._cache.fetch_lock(key):
            token = self._cache.get(key)
            if token:
                return token
            token, lifetime_secs = self._request_token(account_id)
            self._cache.put(key, token, lifetime_secs)
            return token

    def forget(self, account_id):
        self._cache.drop(self._key(account_id))


class UserTokens(CachedTokens):
    """Impersonation tokens for the users of one installation."""

    def __init__(self, *, installation, shared_secret, token_url, session, cache,
                 scopes=DEFAULT_SCOPES):
        if not installation.oauth_client_id:
            raise ValueError(
                f"installation {installation.client_key} has no oauthClientId; "
                "reinstall the app to act as a user"
            )
        self._client_key = installation.client_key
        self._base_url = installation.base_url
        self._oauth_client_id = installation.oauth_client_id
        self._shared_secret = shared_secret
        self._token_url = token_url
        self._session = session
        self._cache = cache
        self.scopes = tuple(scopes)

    def _key(self, account_id):
        return (self._client_key, account_id, self.scopes)

    def _request_token(self, account_id):
        assertion = encode_assertion(
            oauth_client_id=self._oauth_client_id, account_id=account_id,
            base_url=self._base_url, shared_secret=self._shared_secret,
        )
        form = {"grant_type": JWT_BEARER_GRANT, "assertion": assertion, "scope": " ".join(self.scopes)}
        try:
            # Asking twice for a token changes nothing, so a failed grant may be repeated.
            with self._session.idempotent():
                response = self._session.post(
                    self._token_url, data=form, headers={"Accept": "application/json"}
                )
        except JiraError as error:
            if error.status in REFUSAL_STATUSES:
                raise ImpersonationRefused(
                    account_id=account_id, site=self._base_url, method="POST",
                    url=self._token_url, status=error.status, jira_message=error.jira_message,
                ) from None
            raise

        body = response.json()
        token = body.get("access_token")
        if not token:
            raise JiraError(site=self._base_url, method="POST", url=self._token_url,
                            status=response.status_code,
                            jira_message="the token endpoint returned no access_token")
        lifetime_secs = float(body.get("expires_in") or 0)
        log.debug("Obtained a token to act as %s on %s (expires in %s s)",
                  account_id, self._client_key, lifetime_secs)
        return token, lifetime_secs
