"""HS256 tokens as Jira signs them for the add-on, and tenants stored without a lifecycle call."""

import time

import jwt

from addon.atlassian import installations
from addon.atlassian.qsh import CONTEXT_QSH, qsh_of

CLIENT_KEY = "jira:test-site-0001"
SHARED_SECRET = "shared-secret-for-tests-0123456789abcdef-0001"


def hs256_token(method, path, query="", *, secret=SHARED_SECRET, client_key=CLIENT_KEY, base_path="",
                qsh=None, drop=(), algorithm="HS256", lifetime_secs=180, **extra):
    """A token for `method path?query`, its qsh relative to `base_path`; `qsh` overrides the hash.

    `drop` leaves claims out; `extra` adds or replaces claims.
    """
    now = int(time.time())
    claims = {
        "iss": client_key,
        "iat": now,
        "exp": now + lifetime_secs,
        "qsh": qsh if qsh is not None else qsh_of(method, path, query, base_path),
        "sub": "agent-camille",
        "context": {},
    }
    claims.update(extra)
    claims = {name: value for name, value in claims.items() if name not in drop}
    return jwt.encode(claims, secret, algorithm=algorithm)


def context_token(**kwargs):
    return hs256_token("GET", "/", qsh=CONTEXT_QSH, **kwargs)


def install_payload(client_key=CLIENT_KEY, secret=SHARED_SECRET, base_url="http://127.0.0.1:2990", **extra):
    payload = {
        "key": "com.example.support-chat",
        "clientKey": client_key,
        "sharedSecret": secret,
        "baseUrl": base_url,
        "displayUrl": base_url,
        "productType": "jira",
        "description": "Test site",
        "eventType": "installed",
        "oauthClientId": "oauth-client-0001",
    }
    payload.update(extra)
    return payload


def store_tenant(app, client_key=CLIENT_KEY, secret=SHARED_SECRET, token_iat=None):
    """Store an active installation directly, as a verified install would."""
    with app.app_context():
        installations.save_install(
            install_payload(client_key, secret), int(time.time()) if token_iat is None else token_iat
        )
