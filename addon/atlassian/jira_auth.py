"""Authorization headers for the add-on's calls to Jira: a Connect JWT as the app user, or an
OAuth 2.0 bearer token when acting as a user."""

import time

import jwt
from requests.auth import AuthBase

from .qsh import qsh_of_url

# Lifetime of the JWTs we sign; Atlassian's own clients use 180 s.
APP_TOKEN_LIFETIME_SECS = 180


def encode_app_token(method, url, *, addon_key, shared_secret, base_url, now=None):
    """Sign an HS256 Connect JWT for one request to `url`; the qsh is relative to `base_url`."""
    issued_at = int(now if now is not None else time.time())
    claims = {
        "iss": addon_key,
        "iat": issued_at,
        "exp": issued_at + APP_TOKEN_LIFETIME_SECS,
        "qsh": qsh_of_url(method, url, base_url),
    }
    return jwt.encode(claims, shared_secret, algorithm="HS256", headers={"typ": "JWT"})


class JwtAuth(AuthBase):
    """Signs each prepared request as the app, so the qsh covers the final URL and each attempt
    gets a fresh token."""

    scheme = "JWT"

    def __init__(self, *, addon_key, shared_secret, base_url):
        self._addon_key = addon_key
        self._shared_secret = shared_secret
        self._base_url = base_url

    def __call__(self, prepared):
        token = encode_app_token(
            prepared.method, prepared.url,
            addon_key=self._addon_key, shared_secret=self._shared_secret, base_url=self._base_url,
        )
        prepared.headers["Authorization"] = f"JWT {token}"
        return prepared

    def __repr__(self):
        return f"<JwtAuth iss={self._addon_key} site={self._base_url}>"


class BearerAuth(AuthBase):
    """Sends the cached impersonation token of one user; `invalidate` drops it after a 401."""

    scheme = "Bearer"

    def __init__(self, tokens, account_id):
        self._tokens = tokens
        self.account_id = account_id

    def __call__(self, prepared):
        prepared.headers["Authorization"] = f"Bearer {self._tokens.token_for(self.account_id)}"
        return prepared

    def invalidate(self):
        self._tokens.forget(self.account_id)

    def __repr__(self):
        return f"<BearerAuth account_id={self.account_id}>"
