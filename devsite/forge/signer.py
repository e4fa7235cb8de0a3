"""The local site as a Forge host, first part: the Forge Invocation Token (FIT) signer and its JWKS.

Follows Atlassian's Forge Remote documentation ("Forge Remote essentials"): an RS256 JWT with
`iss` "forge/invocation-token", `aud` the app id, `iat` = `nbf`, `exp` 25 s later, a `jti`, the
`app` claim (id, appVersion, installationId, apiBaseUrl, environment, module, installation) and,
for calls from a UI module only, `context` and `principal`. The headers sent beside it are
`x-b3-traceid`, `x-b3-spanid` and the `x-forge-oauth-system` / `x-forge-oauth-user` tokens,
which Atlassian documents as JWTs whose `exp` is their expiry (never for triggers: no user token).

The keys live in this process and are published at /forge/jwks.json. Control routes under
/_devsite/forge mint FITs, forge broken ones for tests, rotate the key and count JWKS fetches.
Written from the documentation, independently of the add-on's verifier.
"""

import base64
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
import uuid

import jwt
from jwt.algorithms import RSAAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Blueprint, jsonify, request

from ..state import SiteError, site

log = logging.getLogger(__name__)

bp = Blueprint("forge_host", __name__)


@bp.errorhandler(SiteError)
def site_error(error):
    return jsonify({"error": str(error)}), error.status

ISSUER = "forge/invocation-token"
FIT_LIFETIME_SECS = 25
OAUTH_TOKEN_LIFETIME_SECS = 4 * 3600
ENDPOINT_MODULE_TYPE = "core:endpoint"
JWKS_MAX_AGE_SECS = 300

# Each forgery breaks one documented check; the add-on must reject every one of them.
FORGERIES = (
    "wrong_key",            # signed by another key under the published kid
    "unknown_kid",          # signed by an unpublished key with a kid the JWKS does not list
    "wrong_aud",            # aud is another app's id
    "wrong_iss",            # iss is not forge/invocation-token
    "expired",              # exp two minutes ago
    "not_yet_valid",        # nbf two minutes ahead
    "alg_none",             # unsigned, alg "none"
    "hs256_public_key",     # HS256 with the published public key as the HMAC secret
    "missing_jti",          # no jti claim
    "bad_ic_label",         # icLabel that would inject a path into a JWKS URL template
    "disallowed_api_base",  # apiBaseUrl on a host the remote does not call
)


class _Keys:
    """The site's signing keys, newest first; a rotation keeps the previous key published."""

    def __init__(self):
        self.lock = threading.Lock()
        self.signing = [self._new_key()]
        self.jwks_fetches = 0
        # A key that was never published, for the wrong_key and unknown_kid forgeries.
        self.stranger = self._new_key()
        # Secret of the OAuth tokens this site issues; the add-on treats them as opaque.
        self.oauth_secret = secrets.token_bytes(32)

    @staticmethod
    def _new_key():
        return {"kid": "devsite-forge-" + secrets.token_hex(8),
                "key": rsa.generate_private_key(public_exponent=65537, key_size=2048)}

    def rotate(self):
        with self.lock:
            self.signing = [self._new_key(), self.signing[0]]
            return self.signing[0]["kid"]

    def current(self):
        with self.lock:
            return self.signing[0]

    def jwks(self):
        with self.lock:
            self.jwks_fetches += 1
            published = list(self.signing)
        keys = []
        for entry in published:
            jwk = json.loads(RSAAlgorithm.to_jwk(entry["key"].public_key()))
            jwk.update({"kid": entry["kid"], "use": "sig", "alg": "RS256"})
            keys.append(jwk)
        return {"keys": keys}


keys = _Keys()

# One Forge installation per app id, made at its first token, like an install of the app.
_installations = {}
_installations_lock = threading.Lock()


def installation_id_for(app_id):
    with _installations_lock:
        if app_id not in _installations:
            _installations[app_id] = "ari:cloud:ecosystem::installation/" + str(uuid.uuid4())
        return _installations[app_id]


def api_base_url():
    """Return the site's stand-in for https://api.atlassian.com/ex/jira/<cloudId>."""
    return f"{site.base_url}/ex/jira/{site.cloud_id}"


# -- routes ---------------------------------------------------------------------------------

@bp.get("/forge/jwks.json")
def jwks():
    response = jsonify(keys.jwks())
    response.headers["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE_SECS}"
    return response


@bp.get("/_devsite/forge")
def forge_state():
    return jsonify({
        "jwks_url": f"{site.base_url}/forge/jwks.json",
        "jwks_fetches": keys.jwks_fetches,
        "kids": [entry["kid"] for entry in keys.signing],
        "forgeries": list(FORGERIES),
        "api_base_url": api_base_url(),
    })


@bp.post("/_devsite/forge/rotate-key")
def rotate_key():
    kid = keys.rotate()
    log.info("Forge signing key rotated; new kid %s", kid)
    return jsonify({"kid": kid})


@bp.post("/_devsite/forge/fit")
def mint():
    """Mint a FIT and the headers of one Forge call.

    JSON body: `app_id` (required), `kind` "ui" (default) or "trigger", `module` {type, key},
    `principal` (an accountId; UI only), `extension` (UI only), `installation_id`, `license_active`
    (true/false; absent: no licence claim), `system_token` / `user_token` (default true; no user
    token for triggers), `ic_label`, and `forgery`, one of FORGERIES.
    """
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise SiteError("The request body must be a JSON object.")
    app_id = body.get("app_id")
    if not isinstance(app_id, str) or not app_id.startswith("ari:cloud:ecosystem::app/"):
        raise SiteError("app_id is required: the app's id, ari:cloud:ecosystem::app/<uuid>.")
    forgery = body.get("forgery")
    if forgery is not None and forgery not in FORGERIES:
        raise SiteError(f"forgery {forgery!r} is unknown; use one of {', '.join(FORGERIES)}.")
    kind = body.get("kind", "ui")
    if kind not in ("ui", "trigger"):
        raise SiteError("kind must be 'ui' (invokeRemote from a module) or 'trigger' (events, schedules).")

    claims = fit_claims(app_id, kind, body)
    token = sign(claims, forgery)
    headers = {
        "Authorization": f"Bearer {token}",
        "x-b3-traceid": secrets.token_hex(8),
        "x-b3-spanid": secrets.token_hex(8),
    }
    installation_id = claims["app"]["installationId"]
    if body.get("system_token", True):
        headers["x-forge-oauth-system"] = oauth_token(installation_id, "system", None)
    if kind == "ui" and body.get("user_token", True) and claims.get("principal"):
        headers["x-forge-oauth-user"] = oauth_token(installation_id, "user", claims["principal"])
    return jsonify({"token": token, "claims": claims, "headers": headers})


# -- claims and signatures ------------------------------------------------------------------

def fit_claims(app_id, kind, body):
    """Return the claims of a FIT for `app_id`, as Forge builds them, with the forgery's defect."""
    forgery = body.get("forgery")
    now = int(time.time())
    issued_at = now - 120 if forgery == "expired" else now
    not_before = now + 120 if forgery == "not_yet_valid" else issued_at
    installation_id = body.get("installation_id") or installation_id_for(app_id)
    base = api_base_url()
    if forgery == "disallowed_api_base":
        base = f"https://api.forged.example/ex/jira/{site.cloud_id}"
    default_module = ({"type": ENDPOINT_MODULE_TYPE, "key": "lifecycle-ep"} if kind == "trigger"
                      else {"type": "jiraServiceManagement:portalRequestDetail", "key": "chat-request"})
    module = body.get("module") or default_module

    app = {
        "id": app_id,
        "appVersion": body.get("app_version", "1.0.0"),
        "installationId": installation_id,
        "apiBaseUrl": base,
        "environment": {"type": "PRODUCTION",
                        "id": f"ari:cloud:ecosystem::environment/{app_id.rsplit('/', 1)[-1]}/production"},
        "module": module,
        "installation": {"id": installation_id, "contexts": [{"name": "jira", "apiBaseUrl": base}]},
    }
    if body.get("license_active") is not None:
        app["license"] = {"active": bool(body["license_active"]), "type": "commercial", "isEvaluation": False}
    claims = {
        "app": app,
        "aud": "ari:cloud:ecosystem::app/00000000-0000-0000-0000-forgedforged" if forgery == "wrong_aud" else app_id,
        "iss": "forge-sim" if forgery == "wrong_iss" else ISSUER,
        "iat": issued_at,
        "nbf": not_before,
        "exp": not_before + FIT_LIFETIME_SECS,
        "jti": secrets.token_hex(20),
    }
    if kind == "ui":
        claims["context"] = {
            "localId": str(uuid.uuid4()),
            "cloudId": site.cloud_id,
            "moduleKey": module["key"],
            "siteUrl": site.base_url,
            "extension": body.get("extension") or {"type": module["type"]},
        }
        if body.get("principal"):
            claims["principal"] = body["principal"]
    if forgery == "missing_jti":
        del claims["jti"]
    if forgery == "bad_ic_label":
        claims["icLabel"] = "orange.forged.example/keys#"
    elif body.get("ic_label"):
        claims["icLabel"] = body["ic_label"]
    return claims


def sign(claims, forgery=None):
    """Sign `claims` with the current key, or in the broken way `forgery` names."""
    current = keys.current()
    if forgery == "alg_none":
        return _compact({"alg": "none", "typ": "JWT"}, claims, b"")
    if forgery == "hs256_public_key":
        public_pem = current["key"].public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        header = {"alg": "HS256", "typ": "JWT", "kid": current["kid"]}
        signing_input = _signing_input(header, claims)
        return signing_input + "." + _b64(hmac.new(public_pem, signing_input.encode("ascii"), hashlib.sha256).digest())
    if forgery == "wrong_key":
        return jwt.encode(claims, keys.stranger["key"], algorithm="RS256", headers={"kid": current["kid"]})
    if forgery == "unknown_kid":
        return jwt.encode(claims, keys.stranger["key"], algorithm="RS256", headers={"kid": keys.stranger["kid"]})
    return jwt.encode(claims, current["key"], algorithm="RS256", headers={"kid": current["kid"]})


def oauth_token(installation_id, kind, account_id):
    """Issue an `x-forge-oauth-*` token: a JWT with `exp`, opaque to the app."""
    now = int(time.time())
    claims = {"iss": "devsite-forge-oauth", "sub": account_id or "app-bot:" + installation_id,
              "installationId": installation_id, "tokenKind": kind,
              "iat": now, "exp": now + OAUTH_TOKEN_LIFETIME_SECS, "jti": secrets.token_hex(12)}
    return jwt.encode(claims, keys.oauth_secret, algorithm="HS256")


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _signing_input(header, claims):
    return _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())


def _compact(header, claims, signature):
    return _signing_input(header, claims) + "." + _b64(signature)
