"""Connect JWTs as Jira issues and checks them: the site's own qsh, signing, verification.

The query string hash follows Atlassian's canonical request: METHOD & path & query, where the
path is the raw path relative to the receiver's base path (no trailing slash, `&` as %26) and the
query has `jwt` removed, values decoded then sorted per name in UTF-16 order, every name and
value re-encoded per RFC 3986 (unreserved characters only, upper-case hex), names sorted.
Written independently of the add-on's implementation so that each checks the other.
"""

import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote_plus, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .state import site

log = logging.getLogger(__name__)

TOKEN_LIFETIME_SECS = 180
CONTEXT_TOKEN_LIFETIME_SECS = 900
VERIFY_LEEWAY_SECS = 30
CONTEXT_QSH = "context-qsh"
CONNECT_VERSION = "1.1.0"

# One RSA key per site process, like one of Atlassian's rotating install keys.
INSTALL_KEY_ID = "devsite-install-" + secrets.token_hex(8)
_install_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_install_public_pem = _install_key.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
).decode("ascii")


# -- qsh -------------------------------------------------------------------------------------

def percent_encode(text):
    return quote(text, safe="-._~", encoding="utf-8")


def canonical_path(path, base_path=""):
    """Return the path part of the canonical request: `path` (raw, as sent) relative to `base_path`."""
    base_path = (base_path or "").rstrip("/")
    if base_path and (path == base_path or path.startswith(base_path + "/")):
        path = path[len(base_path):]
    if not path.startswith("/"):
        path = "/" + path
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    return path.replace("&", "%26")


def _utf16_key(text):
    # Atlassian's implementation sorts Java strings, which compare by UTF-16 code units.
    return text.encode("utf-16-be")


def canonical_query(raw_query):
    values_by_name = {}
    for item in (raw_query or "").split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        name = unquote_plus(name, encoding="utf-8")
        if name == "jwt":
            continue
        values_by_name.setdefault(name, []).append(unquote_plus(value, encoding="utf-8"))
    parts = []
    for name, values in values_by_name.items():
        encoded_values = ",".join(percent_encode(v) for v in sorted(values, key=_utf16_key))
        parts.append((percent_encode(name), encoded_values))
    parts.sort(key=lambda part: part[0].encode("ascii"))
    return "&".join(f"{name}={values}" for name, values in parts)


def canonical_request(method, path, raw_query="", base_path=""):
    return f"{method.upper()}&{canonical_path(path, base_path)}&{canonical_query(raw_query)}"


def query_hash(method, path, raw_query="", base_path=""):
    canonical = canonical_request(method, path, raw_query, base_path)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def url_query_hash(method, url, base_url):
    """Return the qsh of `method url` for a receiver whose base URL is `base_url`."""
    parts = urlsplit(url)
    return query_hash(method, parts.path, parts.query, urlsplit(base_url).path)


# -- signing ---------------------------------------------------------------------------------

def sign_hs256(claims, secret):
    return jwt.encode(claims, secret, algorithm="HS256", headers={"typ": "JWT"})


def app_token(app, method, url, account_id=None, context=None):
    """Sign an HS256 token from the site to `app` for `method url` (webhooks, enabled, disabled, iframes)."""
    issued_at = int(time.time())
    claims = {
        "iss": site.client_key,
        "iat": issued_at,
        "exp": issued_at + TOKEN_LIFETIME_SECS,
        "qsh": url_query_hash(method, url, app.base_url),
        "context": context or {},
    }
    if account_id:
        claims["sub"] = account_id
    return sign_hs256(claims, app.shared_secret)


def context_token(app, account_id, context=None):
    """Sign the token that `AP.context.getToken()` returns: qsh "context-qsh", sub = the viewer."""
    issued_at = int(time.time())
    claims = {
        "iss": site.client_key,
        "iat": issued_at,
        "exp": issued_at + CONTEXT_TOKEN_LIFETIME_SECS,
        "qsh": CONTEXT_QSH,
        "context": context or {},
    }
    if account_id:
        claims["sub"] = account_id
    return sign_hs256(claims, app.shared_secret)


def sign_app_url(app, url, account_id, context=None, channel=None):
    """Return the iframe URL of `url` (absolute, or relative to the app's baseUrl) for the viewer.

    Appends the context parameters Jira adds (xdm_e, xdm_c, cp, lic, cv) and a `jwt` whose qsh
    covers the whole resulting URL relative to the path of the app's baseUrl.
    """
    if url.startswith("/"):
        url = app.base_url.rstrip("/") + url
    site_parts = urlsplit(site.base_url)
    params = {
        "xdm_e": f"{site_parts.scheme}://{site_parts.netloc}",
        "xdm_c": channel or f"channel-{app.key}",
        "cp": site.base_path,
        "lic": "none",
        "cv": CONNECT_VERSION,
    }
    if urlsplit(url).query:
        separator = "&"
    elif url.endswith("?"):
        separator = ""
    else:
        separator = "?"
    url = url + separator + urlencode(params, quote_via=quote)
    token = app_token(app, "GET", url, account_id, context)
    return f"{url}&jwt={token}"


def install_key_pem(kid):
    """Return the PEM public key for `kid`, or None when the site never signed with that key."""
    return _install_public_pem if kid == INSTALL_KEY_ID else None


def install_token(app_base_url, method, url):
    """Sign the RS256 token of an installed/uninstalled callback with the site's install key."""
    issued_at = int(time.time())
    claims = {
        "iss": site.client_key,
        "aud": app_base_url,
        "iat": issued_at,
        "exp": issued_at + TOKEN_LIFETIME_SECS,
        "qsh": url_query_hash(method, url, app_base_url),
        "context": {},
    }
    return jwt.encode(claims, _install_key, algorithm="RS256",
                      headers={"typ": "JWT", "kid": INSTALL_KEY_ID})


# -- verification of the app's calls ---------------------------------------------------------

class AuthError(Exception):
    """A rejected app token. `code` is stable (logs, tests) and the message tells the app what to fix."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Caller:
    app: object
    account_id: str  # the app user's accountId


def token_from(authorization, raw_query):
    if authorization and authorization.startswith("JWT "):
        return authorization[4:].strip()
    for name, value in parse_qsl(raw_query or "", keep_blank_values=True):
        if name == "jwt":
            return value
    return None


def verify_app_request(method, raw_path, raw_query, authorization):
    """Check an app's `Authorization: JWT` REST call as Jira does; return the Caller.

    `raw_path` is the path as sent on the wire, including the site's base path.
    Raises AuthError naming the first failed check.
    """
    token = token_from(authorization, raw_query)
    if not token:
        raise AuthError("missing_token", "No JWT token in the Authorization header or the jwt parameter.")

    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise AuthError("malformed_token", "The JWT token is not a well-formed JWT.") from None
    if header.get("alg") != "HS256":
        raise AuthError("bad_algorithm",
                        f"JWT algorithm {header.get('alg')!r} is not accepted; sign with HS256 and the shared secret.")

    issuer = claims.get("iss")
    app = site.app(issuer) if isinstance(issuer, str) else None
    if app is None:
        raise AuthError("unknown_issuer", f"Unknown issuer {issuer!r}: no app with this key is installed on this site.")
    if not app.installed:
        raise AuthError("app_uninstalled", f"The app {app.key!r} has been uninstalled from this site; reinstall it.")
    if not app.enabled:
        raise AuthError("app_disabled", f"The app {app.key!r} is disabled on this site; enable it.")

    try:
        jwt.decode(token, app.shared_secret, algorithms=["HS256"],
                   options={"verify_exp": False, "verify_aud": False, "verify_iat": False})
    except jwt.InvalidSignatureError:
        raise AuthError("bad_signature",
                        f"The JWT signature does not match the shared secret of app {app.key!r}; sign with the latest sharedSecret.") from None
    except jwt.PyJWTError:
        raise AuthError("malformed_token", "The JWT token could not be decoded.") from None

    expires_at = claims.get("exp")
    if not isinstance(expires_at, (int, float)):
        raise AuthError("missing_exp", "The JWT token has no exp claim.")
    if expires_at + VERIFY_LEEWAY_SECS < time.time():
        raise AuthError("expired", f"The JWT token expired at {int(expires_at)}; sign each request with a fresh token.")

    received = claims.get("qsh")
    if not received:
        raise AuthError("missing_qsh", "The JWT token has no qsh claim.")
    canonical = canonical_request(method, raw_path, raw_query, site.base_path)
    expected = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    if not hmac.compare_digest(str(received), expected):
        log.debug("qsh mismatch: canonical request %r, expected %s, received %s", canonical, expected, received)
        raise AuthError("wrong_qsh",
                        f"Wrong qsh: the token's query string hash does not match the canonical request {canonical!r}.")
    return Caller(app, app.account_id)
