"""The local site as Atlassian's API gateway for Forge remotes (the api.atlassian.com stand-in).

Follows Atlassian's "Calling product APIs from a Forge remote" page:
* `/ex/jira/<cloudId>/rest/...` reaches the site's REST API with `Authorization: Bearer <token>`
  and a token this site issued. With a system token the app's bot user acts. With a user token or
  an offline user token that user acts, with their own permissions, so a customer may only add
  public comments. An unknown, expired or revoked token gets 401, another cloudId 404.
* `POST /graphql` answers the `offlineUserAuthToken` mutation, called with a system token:
  `{contextIds, userId}` gives `{success, errors, authToken: {token, ttl}}`, `ttl` in seconds.
  It fails for app users, for unlicensed users (an Atlassian account without a JSM licence) and,
  unless the site's `impersonate_customers` switch is on, for portal-only customers.

The gateway paths are rewritten by `ForgeApiMiddleware` onto the existing `/rest/...` handlers,
so the business rules stay in one place; `authenticate` is then called by rest_auth in place of
the Connect checks. Faults (devsite/faults.py) see the gateway path, so tests can inject 429s.
"""

import hashlib
import json
import logging
import secrets
import threading
import time

import jwt
from flask import Blueprint, g, jsonify, request

from ..records import User
from ..state import SiteError, site
from . import users
from .signer import keys

log = logging.getLogger(__name__)

bp = Blueprint("forge_api", __name__)

GATEWAY_PREFIX = "/ex/jira/"
# WSGI environ key set by the middleware: the cloudId of a gateway call.
ENVIRON_CLOUD_ID = "devsite.forge_cloud_id"
TOKEN_ISSUER = "devsite-forge-oauth"
TOKEN_KINDS = ("system", "user", "offline")
# Lifetime of offline user tokens. Atlassian documents `ttl` as seconds but gives no value.
OFFLINE_TOKEN_TTL_SECS = 3600
APP_USER_NAME = "Support Chat (Forge)"


class _OfflineTokens:
    """The jti of every offline token issued, and of those expired early by the control API."""

    def __init__(self):
        self.lock = threading.Lock()
        self.issued = []
        self.revoked = set()

    def expire_all(self):
        with self.lock:
            self.revoked.update(self.issued)
            return len(self.issued)


offline_tokens = _OfflineTokens()


class ForgeApiMiddleware:
    """Rewrite `/ex/jira/<cloudId>/rest/...` to `/rest/...`, keeping the cloudId in the environ."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not path.startswith(GATEWAY_PREFIX):
            return self.app(environ, start_response)
        cloud_id, _, rest = path[len(GATEWAY_PREFIX):].partition("/")
        if cloud_id != site.cloud_id:
            return _not_found(start_response, f"No site with cloudId {cloud_id[:100]!r} is reachable here.")
        if not rest.startswith("rest/"):
            return _not_found(start_response, "Only /rest/ paths are served under /ex/jira/<cloudId>.")
        environ[ENVIRON_CLOUD_ID] = cloud_id
        environ["PATH_INFO"] = "/" + rest
        return self.app(environ, start_response)


def _not_found(start_response, message):
    data = json.dumps({"errorMessages": [message], "errors": {}}).encode("utf-8")
    start_response("404 NOT FOUND", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def app_account_id(installation_id):
    """Return the accountId of the app's bot user for the Forge installation `installation_id`."""
    return "forge-app-" + hashlib.sha256(installation_id.encode("utf-8")).hexdigest()[:12]


def _ensure_app_user(account_id):
    with site.lock:
        if account_id not in site.users:
            site.users[account_id] = User(account_id, APP_USER_NAME, "", "app", ["atlassian-addons"],
                                          locale="en_US", time_zone="Etc/UTC")


def read_token(authorization):
    """Return the claims of a valid token this site issued, from an Authorization value, or None."""
    if not authorization.startswith("Bearer "):
        return None
    token = authorization[len("Bearer "):].strip()
    try:
        claims = jwt.decode(token, keys.oauth_secret, algorithms=["HS256"], issuer=TOKEN_ISSUER,
                            options={"require": ["exp", "iat", "jti", "sub"]})
    except jwt.PyJWTError:
        return None
    if claims.get("tokenKind") not in TOKEN_KINDS:
        return None
    with offline_tokens.lock:
        if claims["jti"] in offline_tokens.revoked:
            return None
    return claims


def acting_account(claims):
    """Return the accountId a token acts as: the app's bot user for a system token."""
    if claims["tokenKind"] == "system":
        account_id = app_account_id(str(claims.get("installationId", "")))
        _ensure_app_user(account_id)
        return account_id
    return claims["sub"]


def authenticate(error_response):
    """Authenticate a gateway REST call (rest_auth calls this); return an error response or None."""
    g.auth = "forge"
    claims = read_token(request.headers.get("Authorization", ""))
    if claims is None:
        g.reason = "invalid_token"
        return error_response(401, "The Bearer token is unknown, expired or revoked; use a token Forge issued "
                                   "to this app (x-forge-oauth-system, x-forge-oauth-user or offlineUserAuthToken).")
    account_id = acting_account(claims)
    user = site.users.get(account_id)
    if user is None or not user.active:
        g.reason = "user_inactive"
        return error_response(401, f"The user {account_id!r} of this token is not an active user of the site.")
    g.auth = f"forge-{claims['tokenKind']}"
    g.account_id, g.verified = account_id, True
    return None


# -- GraphQL gateway ------------------------------------------------------------------------

@bp.post("/graphql")
def graphql():
    g.auth = "forge"
    claims = read_token(request.headers.get("Authorization", ""))
    if claims is None or claims["tokenKind"] != "system":
        g.reason = "invalid_token"
        return jsonify({"errors": [{"message": "Unauthorized: offlineUserAuthToken takes a valid app system token.",
                                    "extensions": {"statusCode": 401}}]}), 401
    g.auth, g.verified = "forge-system", True

    body = request.get_json(silent=True)
    query = body.get("query") if isinstance(body, dict) else None
    if not isinstance(query, str) or "offlineUserAuthToken" not in query:
        return jsonify({"errors": [{"message": "This gateway stand-in answers only the offlineUserAuthToken "
                                               "mutation."}]}), 400
    variables = body.get("variables") if isinstance(body.get("variables"), dict) else {}
    mutation_input = variables.get("input") if isinstance(variables.get("input"), dict) else {}

    failure = _offline_token_rejection(mutation_input)
    if failure:
        log.info("Rejected a request for an offline user token: %s", failure)
        return jsonify({"data": {"offlineUserAuthToken": {"success": False, "errors": [{"message": failure}],
                                                          "authToken": None}}})

    account_id = mutation_input["userId"]
    token, ttl_secs = _issue_offline_token(str(claims.get("installationId", "")), account_id)
    g.account_id = account_id
    return jsonify({"data": {"offlineUserAuthToken": {"success": True, "errors": [],
                                                      "authToken": {"token": token, "ttl": ttl_secs}}}})


def _offline_token_rejection(mutation_input):
    """Return why an offline token cannot be issued for `mutation_input`, or None."""
    context_ids = mutation_input.get("contextIds")
    accepted = {f"ari:cloud:jira:{site.cloud_id}:workspace/{site.cloud_id}", f"ari:cloud:jira::site/{site.cloud_id}"}
    if not isinstance(context_ids, list) or not accepted.intersection(context_ids):
        return f"contextIds must name this site: ari:cloud:jira:{site.cloud_id}:workspace/{site.cloud_id}."
    account_id = mutation_input.get("userId")
    if not isinstance(account_id, str) or not account_id:
        return "userId is required: the accountId to impersonate."
    user = site.users.get(account_id)
    if user is None or not user.active:
        return f"The user {account_id!r} is not an active user of this site."
    if user.account_type == "app":
        return f"The user {account_id!r} is an app user, which cannot be impersonated."
    if user.account_type == "customer" and not site.switches["impersonate_customers"]:
        return f"The user {account_id!r} is a portal-only customer; customers cannot be impersonated."
    if users.kind_of(user) == users.UNLICENSED:
        # Atlassian's guide "Access to Forge apps for unlicensed users": such users cannot make
        # asUser calls, so the app cannot act as them later either.
        return (f"The user {account_id!r} has no licence for Jira Service Management on this site; "
                "unlicensed users cannot be impersonated.")
    return None


def _issue_offline_token(installation_id, account_id):
    now = int(time.time())
    ttl_secs = OFFLINE_TOKEN_TTL_SECS
    claims = {"iss": TOKEN_ISSUER, "sub": account_id, "installationId": installation_id, "tokenKind": "offline",
              "iat": now, "exp": now + ttl_secs, "jti": secrets.token_hex(12)}
    with offline_tokens.lock:
        offline_tokens.issued.append(claims["jti"])
    return jwt.encode(claims, keys.oauth_secret, algorithm="HS256"), ttl_secs


# -- control --------------------------------------------------------------------------------

@bp.errorhandler(SiteError)
def site_error(error):
    return jsonify({"error": str(error)}), error.status


@bp.post("/_devsite/forge/offline-tokens/expire")
def expire_offline_tokens():
    """Expire every offline user token issued so far, as if their ttl had run out."""
    count = offline_tokens.expire_all()
    log.info("Expired %s offline user tokens", count)
    return jsonify({"expired": count})


@bp.get("/_devsite/forge/app-user/<path:installation_id>")
def app_user(installation_id):
    """Return the accountId the system tokens of `installation_id` act as."""
    return jsonify({"account_id": app_account_id(installation_id)})
