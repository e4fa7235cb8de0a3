"""The user impersonation token endpoint (OAuth 2.0 JWT bearer grant, RFC 7523) of Connect apps.

The assertion is HS256-signed with the app's sharedSecret: iss
urn:atlassian:connect:clientid:<oauthClientId>, sub urn:atlassian:connect:useraccountid:<accountId>,
tnt = the site's base URL, aud = Atlassian's authorisation server, a short exp.
"""

import logging
import secrets
import time

import jwt
from flask import Blueprint, g, jsonify, request

from .state import site

log = logging.getLogger(__name__)

bp = Blueprint("oauth", __name__)

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
AUDIENCE = "https://oauth-2-authorization-server.services.atlassian.com"
ISSUER_PREFIX = "urn:atlassian:connect:clientid:"
SUBJECT_PREFIX = "urn:atlassian:connect:useraccountid:"
MAX_ASSERTION_LIFETIME_SECS = 120
LEEWAY_SECS = 30
ACCESS_TOKEN_LIFETIME_SECS = 900


class GrantError(Exception):
    def __init__(self, error, description):
        super().__init__(description)
        self.error = error
        self.description = description


def _check_assertion(assertion):
    """Return (app, account_id) for a valid assertion; raise GrantError naming the failed check."""
    try:
        header = jwt.get_unverified_header(assertion)
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise GrantError("invalid_grant", "The assertion is not a well-formed JWT.") from None
    if header.get("alg") != "HS256":
        raise GrantError("invalid_grant", f"The assertion algorithm {header.get('alg')!r} is not HS256.")

    issuer = str(claims.get("iss", ""))
    if not issuer.startswith(ISSUER_PREFIX):
        raise GrantError("invalid_grant", f"The assertion iss must be {ISSUER_PREFIX}<oauthClientId>.")
    client_id = issuer[len(ISSUER_PREFIX):]
    app = next((a for a in site.apps.values() if a.oauth_client_id == client_id), None)
    if app is None or not app.installed:
        raise GrantError("invalid_client", f"No installed app has the oauthClientId {client_id!r}.")
    if not app.enabled:
        raise GrantError("invalid_client", f"The app {app.key!r} is disabled on this site.")

    try:
        jwt.decode(assertion, app.shared_secret, algorithms=["HS256"],
                   options={"verify_exp": False, "verify_aud": False, "verify_iat": False})
    except jwt.PyJWTError:
        raise GrantError("invalid_grant", "The assertion signature does not match the app's sharedSecret.") from None

    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if AUDIENCE not in audiences:
        raise GrantError("invalid_grant", f"The assertion aud must be {AUDIENCE}.")
    if str(claims.get("tnt", "")).rstrip("/") != site.base_url:
        raise GrantError("invalid_grant", f"The assertion tnt must be the site's base URL {site.base_url}.")

    issued_at, expires_at = claims.get("iat"), claims.get("exp")
    if not isinstance(issued_at, (int, float)) or not isinstance(expires_at, (int, float)):
        raise GrantError("invalid_grant", "The assertion needs numeric iat and exp claims.")
    if expires_at + LEEWAY_SECS < time.time():
        raise GrantError("invalid_grant", "The assertion has expired.")
    if issued_at - LEEWAY_SECS > time.time():
        raise GrantError("invalid_grant", "The assertion iat is in the future.")
    if expires_at - issued_at > MAX_ASSERTION_LIFETIME_SECS:
        raise GrantError("invalid_grant", f"The assertion lifetime exceeds {MAX_ASSERTION_LIFETIME_SECS} seconds.")

    subject = str(claims.get("sub", ""))
    if not subject.startswith(SUBJECT_PREFIX):
        raise GrantError("invalid_grant", f"The assertion sub must be {SUBJECT_PREFIX}<accountId>.")
    account_id = subject[len(SUBJECT_PREFIX):]
    user = site.users.get(account_id)
    if user is None:
        raise GrantError("invalid_grant", f"The user {account_id!r} does not exist on this site.")
    if "ACT_AS_USER" not in [s.upper() for s in app.descriptor.get("scopes", [])]:
        raise GrantError("unauthorized_client", f"The app {app.key!r} lacks the ACT_AS_USER scope in its descriptor.")
    if user.account_type == "customer" and not site.switches["impersonate_customers"]:
        raise GrantError("invalid_grant",
                         f"The user {account_id!r} is a portal-only customer; customers cannot be impersonated.")
    return app, account_id


@bp.post("/oauth2/token")
def token():
    g.auth = "assertion"
    if request.form.get("grant_type") != GRANT_TYPE:
        return _error(400, "unsupported_grant_type", f"The grant_type must be {GRANT_TYPE}.")
    assertion = request.form.get("assertion")
    if not assertion:
        return _error(400, "invalid_request", "The assertion form field is required.")
    try:
        app, account_id = _check_assertion(assertion)
    except GrantError as error:
        g.reason = error.error
        log.info("Rejected impersonation assertion: %s", error.description)
        return _error(401 if error.error == "invalid_client" else 400, error.error, error.description)

    access_token = secrets.token_urlsafe(32)
    with site.lock:
        site.access_tokens[access_token] = {"app_key": app.key, "account_id": account_id,
                                            "expires_at": time.time() + ACCESS_TOKEN_LIFETIME_SECS}
    g.verified, g.account_id = True, account_id
    body = {"access_token": access_token, "expires_in": ACCESS_TOKEN_LIFETIME_SECS, "token_type": "Bearer"}
    scope = request.form.get("scope")
    if scope:
        body["scope"] = scope
    return jsonify(body)


def _error(status, error, description):
    response = jsonify({"error": error, "error_description": description})
    response.status_code = status
    return response
