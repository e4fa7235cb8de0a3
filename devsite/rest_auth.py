"""Authentication of REST calls, the call log, and Jira's error bodies.

Every request under /rest/ is authenticated before its route runs, in this order:
1. `Authorization: JWT` (or a `jwt` parameter) from an installed app acts as the app user.
2. `Authorization: Bearer` from the impersonation token endpoint acts as that user.
   Under /ex/jira/<cloudId>/ (devsite/forge/api.py) only Forge's tokens count instead.
3. The session cookie set by the site's login page acts as the logged-in person. This is how
   `AP.request` from an iframe reaches Jira as the viewer.
Only serverInfo accepts anonymous callers.
"""

import logging
import time

from flask import g, jsonify, request

from . import connect_auth
from .state import Forbidden, SiteError, site

log = logging.getLogger(__name__)

SESSION_COOKIE = "devsite_user"
ANONYMOUS_PATHS = ("/rest/api/2/serverInfo", "/rest/api/3/serverInfo")
LOGGED_PREFIXES = ("/rest/", "/oauth2/", "/graphql")

# Each Connect scope with the scopes it implies, from Atlassian's "Scopes for Connect apps" table.
IMPLIED_SCOPES = {
    "READ": {"READ"},
    "WRITE": {"WRITE", "READ"},
    "DELETE": {"DELETE", "WRITE", "READ"},
    "PROJECT_ADMIN": {"PROJECT_ADMIN", "DELETE", "WRITE", "READ"},
    "ADMIN": {"ADMIN", "PROJECT_ADMIN", "DELETE", "WRITE", "READ"},
    "ACT_AS_USER": {"ACT_AS_USER"},
    "ACCESS_EMAIL_ADDRESSES": {"ACCESS_EMAIL_ADDRESSES"},
}


def register(app):
    app.before_request(_authenticate)
    app.after_request(_log_call)
    app.register_error_handler(SiteError, lambda error: error_response(error.status, str(error)))


def error_response(status, message, headers=None):
    """Jira's error body: JSM's {errorMessage} under /rest/servicedeskapi, else the platform's."""
    if request.path.startswith("/rest/servicedeskapi"):
        body = {"errorMessage": message,
                "i18nErrorMessage": {"i18nKey": f"sd.devsite.error.{status}", "parameters": []}}
    else:
        body = {"errorMessages": [message], "errors": {}}
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def raw_target():
    """(path, query) exactly as on the request line, undecoded, including the site's base path."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if raw is None:
        raw = request.script_root + request.environ.get("PATH_INFO", "")
        query = request.query_string.decode("latin-1")
        raw = f"{raw}?{query}" if query else raw
    # WSGI hands the request line over as latin-1 text; clients send UTF-8 bytes.
    raw = raw.encode("latin-1").decode("utf-8", "replace")
    path, _, query = raw.partition("?")
    return path, query


def caller():
    """Return the accountId the current REST call acts as."""
    return g.account_id


def require_agent(message="You do not have permission to do this; it requires a Jira Service Management agent."):
    if not site.is_agent(g.account_id):
        raise Forbidden(message)


def require_scope(scope):
    """Raise Forbidden when the calling app's descriptor grants `scope` neither directly nor by implication.

    Scopes limit only the calls an app makes (with a JWT, or a Bearer token it obtained). A person
    logged in to the site calls with their own permissions.
    """
    app = g.get("app")
    if app is None:
        return
    granted = set()
    for declared in app.descriptor.get("scopes", []):
        granted |= IMPLIED_SCOPES.get(str(declared).upper(), set())
    if scope not in granted:
        raise Forbidden(f"The app {app.key!r} is not allowed to call {request.method} {request.path}: "
                        f"it needs the {scope} scope in its descriptor.")


def _authenticate():
    g.auth, g.account_id, g.app, g.verified, g.reason = "none", None, None, False, None
    if not request.path.startswith("/rest/"):
        return None
    if request.environ.get("devsite.forge_cloud_id"):
        # A call through the api.atlassian.com stand-in takes only the tokens Forge issued.
        from .forge import api as forge_api

        return forge_api.authenticate(error_response)
    authorization = request.headers.get("Authorization", "")
    path, query = raw_target()

    if authorization.startswith("JWT ") or (not authorization and connect_auth.token_from(None, query)):
        g.auth = "jwt"
        try:
            verified = connect_auth.verify_app_request(request.method, path, query, authorization)
        except connect_auth.AuthError as error:
            g.reason = error.code
            log.info("Rejected app call %s %s: %s", request.method, request.path, error.code)
            return error_response(401, error.message)
        g.app, g.account_id, g.verified = verified.app, verified.account_id, True
        return None

    if authorization.startswith("Bearer "):
        g.auth = "bearer"
        grant = site.access_tokens.get(authorization[7:].strip())
        if grant is None or grant["expires_at"] < time.time():
            g.reason = "invalid_token"
            return error_response(401, "The Bearer token is unknown or expired; request a new one at /oauth2/token.")
        app = site.app(grant["app_key"])
        if app is None or not app.installed or not app.enabled:
            g.reason = "app_uninstalled"
            return error_response(401, "The app that obtained this Bearer token is no longer installed and enabled.")
        g.app, g.account_id, g.verified = app, grant["account_id"], True
        return None

    account_id = request.cookies.get(SESSION_COOKIE)
    if account_id and account_id in site.users:
        g.auth, g.account_id, g.verified = "session", account_id, True
        return None

    if request.path in ANONYMOUS_PATHS:
        return None
    g.reason = "not_authenticated"
    return error_response(401, "Client must be authenticated to access this resource.")


def _log_call(response):
    if request.path.startswith(LOGGED_PREFIXES):
        path, _ = raw_target()
        entry = {
            "method": request.method,
            "path": request.path,
            "raw_path": path,
            "query": request.query_string.decode("latin-1"),
            "auth": g.get("auth", "none"),
            "verified": g.get("verified", False),
            "reason": g.get("reason"),
            "as_account_id": g.get("account_id"),
            "status": response.status_code,
        }
        with site.lock:
            site.request_log.append(entry)
    return response
