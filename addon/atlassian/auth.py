"""Verification of the JWTs Jira sends to the add-on.

Iframe loads, webhooks and the enabled/disabled callbacks carry a token whose `qsh` is the hash
of that exact request (kind "computed"). The iframe's own script calls our JSON API and websocket
with a token from `AP.context.getToken()`, whose `qsh` is the literal "context-qsh" (kind
"context"). Each route states which kind it accepts. Accepting context-qsh where a computed hash
is expected is the qsh bypass Atlassian warned Connect apps about, so the two kinds never mix.

`authenticate` checks these HS256 tokens, signed with the site's shared secret;
`verify_install_token` checks the RS256 tokens Atlassian signs for the install and uninstall
callbacks. Both are ladders: each rung is a paragraph that ends in its own rejection, an
AuthenticationError (401) whose sentence names the failed check.
"""

import functools
import hashlib
import hmac
import logging
import math
import time
from dataclasses import dataclass, field
from typing import NoReturn
from urllib.parse import quote, unquote_plus, urlsplit

import jwt
from flask import current_app, g, request

from ..errors import AuthenticationError
from ..models import Installation
from .install_keys import InstallKeyError, is_valid_kid, public_key_for
from .installations import get_active_installation, shared_secret_of
from .qsh import CONTEXT_QSH, canonical_request

log = logging.getLogger(__name__)

QSH_KINDS = ("computed", "context")
ALGORITHM = "HS256"
INSTALL_ALGORITHM = "RS256"

# PyJWT checks only the signature; every claim is checked below, each with its own sentence.
_SIGNATURE_ONLY = {
    "verify_signature": True, "verify_aud": False, "verify_exp": False, "verify_iat": False,
    "verify_nbf": False, "verify_iss": False, "verify_sub": False, "verify_jti": False,
}

# Characters that RFC 3986 allows unencoded in a path, kept as they are when a WSGI path is re-encoded.
_PATH_SAFE = "/!$&'()*+,;=:@-._~"


@dataclass(frozen=True)
class ConnectAuth:
    """The verified caller of a request: its site, its user and the token's claims."""

    installation: Installation
    client_key: str
    account_id: str | None
    claims: dict = field(repr=False)
    token: str = field(repr=False)


def require_jwt(qsh_kind):
    """Decorate a view so that it runs only for a valid token of `qsh_kind`, with `g.connect` set."""
    _check_kind(qsh_kind)

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            g.connect = _authenticate_request(qsh_kind)
            return view(*args, **kwargs)

        return wrapper

    return decorator


def _authenticate_request(qsh_kind):
    # With Forge on, a Custom UI page calls the same routes through invokeRemote, which sends a
    # Forge Invocation Token as `Authorization: Bearer` in place of a context token.
    if qsh_kind == "context" and current_app.config.get("FORGE_ENABLED"):
        from .forge import ui_auth

        if ui_auth.has_bearer_token():
            return ui_auth.authenticate_ui_call()
    return authenticate(qsh_kind)


def authenticate(qsh_kind, token=None):
    """Verify the token of the current request (or `token`) and return its ConnectAuth."""
    _check_kind(qsh_kind)
    if token is None:
        token = extract_token()
    if not token:
        _reject("The JWT is empty; send the token Jira issued for this request.")

    # The header is read before anything else so that no key is looked up for a token whose
    # algorithm we would never accept (none, RS256 with an HMAC key, HS384/512).
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        _reject("The JWT is malformed: its header could not be decoded.")
    algorithm = header.get("alg")
    if algorithm != ALGORITHM:
        _reject(
            f"The JWT algorithm {_shown(algorithm)} is not accepted; Jira signs these tokens with HS256."
        )

    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        _reject("The JWT is malformed: its claims could not be decoded.")

    client_key = claims.get("iss")
    if not isinstance(client_key, str) or not client_key:
        _reject("The JWT is missing the iss claim, which Jira sets to the site's client_key.")

    installation = get_active_installation(client_key)
    if installation is None:
        _reject(
            f"No active installation for client_key {_shown(client_key)}; install the app on that site."
        )
    if installation.shared_secret_encrypted is None:
        # A Forge tenant (addon.atlassian.forge.tenancy) has no shared secret: it takes Forge
        # Invocation Tokens only.
        _reject(f"client_key {_shown(client_key)} is a Forge site; it accepts Forge Invocation Tokens, not Connect JWTs.")

    try:
        secret = shared_secret_of(installation)
        jwt.decode(token, key=secret, algorithms=[ALGORITHM], options=_SIGNATURE_ONLY)
    except jwt.InvalidSignatureError:
        _reject(
            f"The JWT signature does not match the shared secret of client_key {_shown(client_key)}; "
            "reload the page so that Jira issues a new token."
        )
    except jwt.PyJWTError:
        _reject("The JWT is malformed: its signature could not be checked.")

    _check_times(claims, require_iat=False)
    _check_qsh(claims, qsh_kind)

    return ConnectAuth(
        installation=installation,
        client_key=client_key,
        account_id=_account_id_of(claims),
        claims=claims,
        token=token,
    )


def verify_install_token():
    """Verify the RS256 token of an install or uninstall callback and return its claims.

    The signature covers the claims, not the body: the qsh hashes only the method and path. The
    caller must still check that the body's clientKey equals the returned `iss`.
    """
    token = extract_token()

    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        _reject("The lifecycle JWT is malformed: its header could not be decoded.")
    algorithm = header.get("alg")
    if algorithm != INSTALL_ALGORITHM:
        _reject(
            f"The lifecycle JWT algorithm {_shown(algorithm)} is not accepted; install and "
            "uninstall callbacks must be signed by Atlassian with RS256."
        )

    # The kid is checked before any request is made with it.
    kid = header.get("kid")
    if kid is None:
        _reject("The lifecycle JWT is missing the kid header that names Atlassian's signing key.")
    if not is_valid_kid(kid):
        _reject("The lifecycle JWT kid header is invalid: expected letters, digits, '.', '_' or '-'.")
    try:
        public_key = public_key_for(kid)
    except InstallKeyError as error:
        _reject(
            f"The public key of kid {_shown(kid)} is unavailable because {error}; "
            "retry the install later."
        )

    try:
        claims = jwt.decode(
            token, key=public_key, algorithms=[INSTALL_ALGORITHM], options=_SIGNATURE_ONLY
        )
    except jwt.InvalidSignatureError:
        _reject(
            f"The lifecycle JWT signature does not verify with the public key of kid {_shown(kid)}."
        )
    except jwt.PyJWTError:
        _reject("The lifecycle JWT is malformed: its claims could not be decoded.")

    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    if not isinstance(audiences, list):
        audiences = []
    base_url = current_app.config["ADDON_BASE_URL"].rstrip("/")
    if not any(isinstance(item, str) and item.rstrip("/") == base_url for item in audiences):
        _reject(
            "The lifecycle JWT aud claim does not contain this app's base URL "
            f"{base_url!r}; the token was issued for another app."
        )

    client_key = claims.get("iss")
    if not isinstance(client_key, str) or not client_key:
        _reject("The lifecycle JWT is missing the iss claim, which Jira sets to the site's client_key.")

    _check_times(claims, require_iat=True)
    _check_qsh(claims, "computed")
    return claims


def find_tokens():
    """Return every JWT the current request carries: `jwt` query parameters, `jwt` form fields
    (POST) and `Authorization: JWT <token>` headers."""
    found = [value for name, value in _query_pairs() if name == "jwt"]
    if request.method == "POST" and request.mimetype in (
        "application/x-www-form-urlencoded", "multipart/form-data",
    ):
        found += request.form.getlist("jwt")
    for value in request.headers.getlist("Authorization"):
        scheme, _, credentials = value.strip().partition(" ")
        if scheme.lower() == "jwt":
            found.append(credentials.strip())
    return found


def extract_token():
    """Return the one JWT of the current request, or reject a request with none or several."""
    found = find_tokens()
    # Two tokens leave it ambiguous which one the request is authorised by.
    if len(found) > 1:
        _reject("The request carries more than one JWT; send it in one place only.")
    if not found:
        _reject(
            "No JWT found: expected a jwt query parameter, a jwt form field or an "
            "Authorization: JWT header."
        )
    return found[0]


def request_canonical():
    """Return the canonical request of the current request, relative to ADDON_BASE_URL."""
    environ = request.environ
    script_name = _encode_path(environ.get("SCRIPT_NAME", ""))
    raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw_uri:
        # RAW_URI is the request target as sent, which may be in absolute form (http://host/path).
        target = raw_uri.split("?", 1)[0]
        path = urlsplit(target).path if "://" in target else target
    else:
        path = script_name + _encode_path(environ.get("PATH_INFO", ""))

    # Under a prefix (a WSGI mount, or X-Forwarded-Prefix applied by ProxyFix) the app's routes
    # start after SCRIPT_NAME. A proxy that stripped the prefix sent a path without it.
    if script_name and (path == script_name or path.startswith(script_name + "/")):
        path = path[len(script_name):]
    base_path = urlsplit(current_app.config["ADDON_BASE_URL"]).path
    query = request.query_string.decode("utf-8", errors="replace")
    return canonical_request(request.method, path, query, base_path)


def _check_times(claims, require_iat):
    now = time.time()
    leeway = current_app.config["JWT_LEEWAY_SECS"]
    expires_at = claims.get("exp")
    if not _is_time(expires_at):
        _reject("The JWT exp claim is missing or invalid; Jira sets it on every token.")
    if now > expires_at + leeway:
        _reject("The JWT has expired (exp claim); reload the page so that Jira issues a new token.")

    issued_at = claims.get("iat")
    if issued_at is None and require_iat:
        _reject("The JWT iat claim is missing; Jira sets it on every lifecycle token.")
    if issued_at is not None and not _is_time(issued_at):
        _reject("The JWT iat claim is invalid: expected a timestamp in seconds.")
    if issued_at is not None and issued_at > now + leeway:
        _reject("The JWT iat claim is in the future; check that this server's clock is synchronised.")

    not_before = claims.get("nbf")
    if not_before is not None and not (_is_time(not_before) and not_before <= now + leeway):
        _reject("The JWT is not valid yet (nbf claim); check that this server's clock is synchronised.")


def _check_qsh(claims, qsh_kind):
    qsh = claims.get("qsh")
    if not isinstance(qsh, str) or not qsh:
        _reject("The JWT qsh claim is missing; Jira sets it on every token.")
    if qsh_kind == "context" and qsh != CONTEXT_QSH:
        _reject(
            "The JWT qsh claim is not 'context-qsh'; this URL accepts only the context token "
            "from AP.context.getToken()."
        )
    if qsh_kind == "computed" and qsh == CONTEXT_QSH:
        _reject(
            "A context token (qsh claim 'context-qsh') is not accepted on this URL; it needs the "
            "token Jira signs for this exact request."
        )
    if qsh_kind == "computed":
        _check_computed_qsh(qsh)


def _check_computed_qsh(qsh):
    canonical = request_canonical()
    expected = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    if hmac.compare_digest(qsh.encode("utf-8"), expected.encode("utf-8")):
        return
    log.debug(
        "qsh mismatch: canonical request %r hashes to %s, token has %s", canonical, expected, qsh
    )
    _reject(
        f"The JWT qsh claim does not match this request ({request.method} {_shown(request.path)}); "
        "the token was issued for another URL."
    )


def _account_id_of(claims):
    # Jira names the user in context.user.accountId, and older tokens only in `sub`.
    context = claims.get("context")
    user = context.get("user") if isinstance(context, dict) else None
    account_id = user.get("accountId") if isinstance(user, dict) else None
    if isinstance(account_id, str) and account_id:
        return account_id
    subject = claims.get("sub")
    return subject if isinstance(subject, str) and subject else None


def _query_pairs():
    # The raw query string, not Flask's dict, so that a repeated `jwt` is seen twice.
    for item in request.query_string.decode("utf-8", errors="replace").split("&"):
        if item:
            name, _, value = item.partition("=")
            yield unquote_plus(name), unquote_plus(value)


def _encode_path(decoded):
    # WSGI gives paths as latin-1 strings of the decoded bytes, which are quoted again here.
    return quote(decoded.encode("latin-1", errors="replace"), safe=_PATH_SAFE)


def _is_time(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _shown(value, limit=60):
    """Quote an untrusted value for a message, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _check_kind(qsh_kind):
    if qsh_kind not in QSH_KINDS:
        raise ValueError(f"qsh_kind must be one of {QSH_KINDS}, not {qsh_kind!r}")


def _reject(message) -> NoReturn:
    log.info("Rejected %s %s: %s", request.method, request.path, message)
    raise AuthenticationError(message)
