"""Verification of Forge Invocation Tokens (FIT) and the `@forge_remote` decorator.

Forge sends every call to the remote with `Authorization: Bearer <FIT>`: an RS256 JWT signed by
Atlassian, with `iss` "forge/invocation-token", `aud` the app id and a lifetime of about 25 s.
The FIT alone names the installation, site, user and request of a call, and a call whose JSON
body names another one is rejected. Forge reserves 401 for "Remote could not verify the Forge
Invocation Token", so token failures return 401 and our own rejections 403, always as JSON.
"""

import functools
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import NoReturn
from urllib.parse import urlsplit

import jwt
from flask import current_app, g, request

from ...errors import AddonError, AuthenticationError, PermissionDenied
from . import tenants
from .keys import KeySetUnavailable

log = logging.getLogger(__name__)

ISSUER = "forge/invocation-token"
ALGORITHM = "RS256"
KINDS = ("ui", "event", "schedule")
# `app.module.type` of calls from triggers, scheduled triggers and Forge functions.
ENDPOINT_MODULE_TYPE = "core:endpoint"
# The accountId that Forge gives a visitor who is not logged in (Atlassian's guide "Access to Forge
# apps for unlicensed users"). Every such visitor shares it, so it names nobody.
ANONYMOUS_ACCOUNT_ID = "unidentified"
# Clock skew allowed on exp, nbf and iat. A FIT lives about 25 s, so a few seconds are enough.
LEEWAY_SECS = 10
# Atlassian requires this check before an Isolated Cloud label goes into a JWKS URL.
IC_LABEL_PATTERN = re.compile(r"[a-z0-9_-]{1,50}")
KID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
MAX_TOKEN_CHARS = 16 * 1024
# `app.apiBaseUrl` ends with the product and the site's cloudId: .../ex/jira/<cloudId>.
_API_BASE_CLOUD_ID = re.compile(r"/ex/[a-z-]+/([A-Za-z0-9-]{1,64})/?$")
_TRACE_ID = re.compile(r"[0-9a-fA-F]{16,32}")

# PyJWT checks only the signature. Every claim is checked below, each with its own error message.
_SIGNATURE_ONLY = {
    "verify_signature": True, "verify_aud": False, "verify_exp": False, "verify_iat": False,
    "verify_nbf": False, "verify_iss": False, "verify_sub": False, "verify_jti": False,
}


class ForgeTokenError(AuthenticationError):
    """The Forge Invocation Token is missing or failed a check (HTTP 401)."""

    code = "forge_token_invalid"


class ForgeRefused(PermissionDenied):
    """A verified Forge call that this add-on rejects (HTTP 403)."""

    code = "forge_refused"


class ForgeKeysUnavailable(AddonError):
    """Atlassian's signing keys could not be fetched, so no token can be verified now (HTTP 503)."""

    code = "forge_keys_unavailable"
    status = 503


@dataclass(frozen=True)
class ForgeModule:
    type: str
    key: str


@dataclass(frozen=True)
class ForgeEnvironment:
    type: str | None
    id: str | None


@dataclass(frozen=True)
class ForgeCall:
    """A verified Forge call, with the claims of its FIT and its `x-forge-oauth-*` headers."""

    installation_id: str
    cloud_id: str
    site_url: str | None
    api_base_url: str
    environment: ForgeEnvironment
    module: ForgeModule
    principal: str | None
    extension: dict = field(repr=False)
    license_active: bool | None
    system_token: str | None = field(repr=False)
    user_token: str | None = field(repr=False)
    trace_id: str | None
    app_version: str | None = None

    @property
    def request_key(self):
        """The key of the request or issue that the calling module shows, from the FIT, or None."""
        for name in ("request", "issue"):
            item = self.extension.get(name)
            if isinstance(item, dict) and isinstance(item.get("key"), str):
                return item["key"]
        return None


def forge_remote(kind):
    """Decorate a view so that it runs only for a verified Forge call of `kind`, with `g.forge` set.

    `kind` is "ui" (invokeRemote from a module), "event" (a product or lifecycle trigger) or
    "schedule" (a scheduled trigger). The installation is created or refreshed before the view
    runs and is left on `g.forge_installation`.
    """
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r} is not one of {', '.join(KINDS)}")

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            claims = verify_token(extract_token())
            call = build_call(claims, kind)
            _check_call_allowed(call, kind)
            _check_body_agrees(call, kind)
            _check_installation_active(call, kind)
            _record_use(claims)

            g.forge = call
            g.forge_installation = tenants.upsert_from_call(call)
            return view(*args, **kwargs)

        return wrapper

    return decorator


def extract_token():
    """Return the bearer token of the current request, or reject it."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        _reject("The Authorization header is missing or is not 'Bearer <Forge Invocation Token>'.")
    token = token.strip()
    if len(token) > MAX_TOKEN_CHARS:
        _reject(f"The Forge Invocation Token is longer than {MAX_TOKEN_CHARS} characters.")
    return token


def verify_token(token):
    """Verify a FIT and return its claims. Every failed check raises ForgeTokenError (401)."""
    # The header is read before anything else so that no key is looked up for a token whose
    # algorithm we would never accept (none, HS256 signed with the public key, ES256...).
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        _reject("The Forge Invocation Token is malformed: its header could not be decoded.")
    if header.get("alg") != ALGORITHM:
        _reject(f"The token algorithm {_shown(header.get('alg'))} is not accepted; Forge signs with RS256.")
    kid = header.get("kid")
    if not isinstance(kid, str) or not KID_PATTERN.fullmatch(kid):
        _reject("The token's kid header is missing or invalid; it names Atlassian's signing key.")

    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        _reject("The Forge Invocation Token is malformed: its claims could not be decoded.")
    jwks_url = _jwks_url(unverified.get("icLabel"))

    try:
        key = current_app.extensions["forge_key_sets"].key_for(jwks_url, kid)
    except KeySetUnavailable as error:
        raise ForgeKeysUnavailable(
            f"Atlassian's Forge signing keys are unavailable because {error}; the call can be retried."
        ) from None
    if key is None:
        _reject(f"The token's key id {_shown(kid)} is not in the Forge key set at {jwks_url}.")
    try:
        claims = jwt.decode(token, key=key, algorithms=[ALGORITHM], options=_SIGNATURE_ONLY)
    except jwt.InvalidSignatureError:
        _reject(f"The token's signature does not match Atlassian's key {_shown(kid)}.")
    except jwt.PyJWTError:
        _reject("The Forge Invocation Token is malformed: its signature could not be checked.")

    if claims.get("iss") != ISSUER:
        _reject(f"The token's iss {_shown(claims.get('iss'))} is not {ISSUER!r}.")
    app_id = current_app.config["FORGE_APP_ID"]
    if claims.get("aud") != app_id:
        _reject(f"The token's aud {_shown(claims.get('aud'))} is not this app's id {app_id!r} (FORGE_APP_ID).")
    _check_times(claims)
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > 255:
        _reject("The token's jti claim is missing or invalid; every Forge Invocation Token has one.")
    return claims


def _jwks_url(ic_label):
    if ic_label is None:
        return current_app.config["FORGE_JWKS_URL"]
    if not isinstance(ic_label, str) or not IC_LABEL_PATTERN.fullmatch(ic_label):
        _reject("The token's icLabel claim is invalid: expected 1 to 50 of a-z, 0-9, '_' or '-'.")
    template = current_app.config.get("FORGE_IC_JWKS_URL_TEMPLATE")
    if not template:
        _reject(
            f"The token comes from Isolated Cloud {ic_label!r}, but no Isolated Cloud key set is "
            "configured (FORGE_IC_JWKS_URL_TEMPLATE)."
        )
    return template.replace("{IC_LABEL}", ic_label)


def _check_times(claims):
    now = datetime.now(timezone.utc).timestamp()
    for name in ("exp", "iat", "nbf"):
        value = claims.get(name)
        if name == "nbf" and value is None:
            continue
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            _reject(f"The token's {name} claim is missing or not a number.")
    if claims["exp"] < now - LEEWAY_SECS:
        _reject(f"The token expired at {int(claims['exp'])}; Forge sends a new one with each call.")
    if claims["iat"] > now + LEEWAY_SECS:
        _reject(f"The token's iat {int(claims['iat'])} is in the future; check the server clock.")
    if claims.get("nbf") is not None and claims["nbf"] > now + LEEWAY_SECS:
        _reject(f"The token is not valid before {int(claims['nbf'])}; check the server clock.")


def build_call(claims, kind):
    """Build the ForgeCall of verified `claims` and the current request's token headers."""
    app = claims.get("app")
    if not isinstance(app, dict):
        _reject("The token has no app claim.")
    if app.get("id") != current_app.config["FORGE_APP_ID"]:
        _reject(f"The token's app.id {_shown(app.get('id'))} is not this app's id (FORGE_APP_ID).")
    installation_id = app.get("installationId")
    if not isinstance(installation_id, str) or not 0 < len(installation_id) <= 255:
        _reject("The token's app.installationId claim is missing or invalid.")
    api_base_url = app.get("apiBaseUrl")
    if not isinstance(api_base_url, str) or len(api_base_url) > 255 or not urlsplit(api_base_url).hostname:
        _reject("The token's app.apiBaseUrl claim is missing or not a URL.")
    module = app.get("module")
    if not isinstance(module, dict) or not isinstance(module.get("type"), str) or not isinstance(module.get("key"), str):
        _reject("The token's app.module claim is missing its type or key.")

    context = claims.get("context") if isinstance(claims.get("context"), dict) else {}
    cloud_id = _cloud_id(context, api_base_url)
    environment = app.get("environment") if isinstance(app.get("environment"), dict) else {}
    license_claim = app.get("license")
    principal = claims.get("principal")
    site_url = context.get("siteUrl")
    extension = context.get("extension")
    return ForgeCall(
        installation_id=installation_id,
        cloud_id=cloud_id,
        site_url=site_url.rstrip("/") if isinstance(site_url, str) and len(site_url) <= 255 else None,
        api_base_url=api_base_url.rstrip("/"),
        environment=ForgeEnvironment(type=_text(environment.get("type"), 40), id=_text(environment.get("id"), 255)),
        module=ForgeModule(type=module["type"], key=module["key"]),
        principal=principal if isinstance(principal, str) and principal not in ("", ANONYMOUS_ACCOUNT_ID) else None,
        extension=extension if isinstance(extension, dict) else {},
        license_active=license_claim.get("active") is True if isinstance(license_claim, dict) else None,
        system_token=_token_header("x-forge-oauth-system"),
        # Forge sends no user token to triggers, so one offered there is ignored.
        user_token=_token_header("x-forge-oauth-user") if kind == "ui" else None,
        trace_id=_trace_id(),
        app_version=_text(app.get("appVersion"), 40),
    )


def _cloud_id(context, api_base_url):
    match = _API_BASE_CLOUD_ID.search(urlsplit(api_base_url).path)
    from_url = match.group(1) if match else None
    from_context = context.get("cloudId")
    if from_context is not None and from_url is not None and from_context != from_url:
        _reject("The token's context.cloudId differs from the cloudId of its app.apiBaseUrl.")
    cloud_id = from_context or from_url
    if not isinstance(cloud_id, str) or not cloud_id or len(cloud_id) > 64:
        _reject("The token names no cloudId, neither in context.cloudId nor in app.apiBaseUrl.")
    return cloud_id


def _text(value, max_length):
    return value if isinstance(value, str) and len(value) <= max_length else None


def _token_header(name):
    value = request.headers.get(name, "").strip()
    if value.lower().startswith("bearer "):
        value = value[len("bearer "):].strip()
    return value or None


def _trace_id():
    value = request.headers.get("x-b3-traceid", "")
    return value if _TRACE_ID.fullmatch(value) else None


def _check_call_allowed(call, kind):
    api_base = urlsplit(call.api_base_url)
    origin = f"{api_base.scheme}://{api_base.netloc}".lower()
    if origin not in (allowed.lower() for allowed in current_app.config["FORGE_API_BASE_ALLOWED"]):
        _refuse(
            f"The token's app.apiBaseUrl host {origin!r} is not allowed; the allowed API hosts are "
            "set by FORGE_API_BASE_ALLOWED."
        )
    # A browser can replay a UI module's token (requestRemote carries one) to any path, so the
    # trigger routes take only trigger tokens, and the UI routes only module tokens.
    from_trigger = call.module.type == ENDPOINT_MODULE_TYPE
    if kind in ("event", "schedule") and (not from_trigger or call.principal):
        _refuse(f"This route takes Forge trigger calls only, not calls from the module {call.module.key!r}.")
    if kind == "ui" and from_trigger:
        _refuse("This route takes calls from the app's UI modules only, not from triggers.")


# Body fields that name a tenant, a user or a request, looked up at the top level and under
# "context", with the ForgeCall attribute that the FIT gives for each.
_TENANT_FIELDS = {"installationId": "installation_id", "cloudId": "cloud_id", "siteUrl": "site_url"}
_USER_FIELDS = ("accountId", "principal", "userAccountId", "atlassianId")
_REQUEST_FIELDS = ("requestKey", "issueKey")


def _check_body_agrees(call, kind):
    body = request.get_json(silent=True) if request.is_json else None
    if not isinstance(body, dict):
        return
    scopes = [body] + ([body["context"]] if isinstance(body.get("context"), dict) else [])
    for scope in scopes:
        for name, attribute in _TENANT_FIELDS.items():
            _check_field(scope, name, getattr(call, attribute))
        # Trigger bodies name the people who acted (a comment's author), but only UI calls have a user.
        if kind == "ui":
            for name in _USER_FIELDS:
                _check_field(scope, name, call.principal, required=True)
            for name in _REQUEST_FIELDS:
                _check_field(scope, name, call.request_key)


def _check_field(scope, name, token_value, required=False):
    if name not in scope:
        return
    value = scope[name]
    if token_value is None and not required:
        return
    if isinstance(value, str) and isinstance(token_value, str) and value.rstrip("/") == token_value.rstrip("/"):
        return
    _refuse(
        f"The request body names {name} {_shown(value)}, but the Forge Invocation Token names "
        f"{_shown(token_value)}; the token alone decides the site, the user and the request."
    )


def _check_installation_active(call, kind):
    installation = tenants.get_forge_installation(call.installation_id)
    # Late or repeated lifecycle events still reach an uninstalled installation.
    if installation is not None and not installation.is_active and kind != "event":
        _refuse(f"The Forge installation {call.installation_id} is uninstalled; install the app again.")


def _record_use(claims):
    expires_at = datetime.fromtimestamp(claims["exp"] + LEEWAY_SECS, timezone.utc)
    if not tenants.record_token_use(claims["jti"], expires_at):
        _reject(f"The token {_shown(claims['jti'])} was already used; Forge sends a new token with each call.")


def _shown(value):
    """Quote a token-supplied value for an error sentence, cut short so it cannot flood a log."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _reject(message) -> NoReturn:
    log.info("Rejected Forge call %s %s: %s", request.method, request.path, message)
    raise ForgeTokenError(message)


def _refuse(message) -> NoReturn:
    log.info("Forbidden Forge call %s %s: %s", request.method, request.path, message)
    raise ForgeRefused(message)
