"""The iframe bridge's server side: the all.js stand-in and the context tokens it hands out."""

import logging

from flask import jsonify, request, send_from_directory

from . import pages_modules as modules
from .connect_auth import CONTEXT_TOKEN_LIFETIME_SECS, context_token
from .pages_common import bp, current_viewer
from .state import site

log = logging.getLogger(__name__)

ALL_MODULE_TYPES = (
    "jiraIssueGlances", "webPanels", "serviceDeskPortalRequestViewPanels", "serviceDeskPortalFooters",
    "jiraProjectPages", "jiraProjectAdminTabPanels", "adminPages", "configurePage", "generalPages",
)


@bp.get("/_devsite/all.js")
def all_js():
    response = send_from_directory(bp.static_folder, "all.js", mimetype="text/javascript", max_age=0)
    # The app's iframe (another origin) loads this script, as it loads Atlassian's from a CDN.
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cache-Control"] = "no-cache"
    return response


def _error(status, message):
    response = jsonify({"errorMessages": [message], "errors": {}})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/_devsite/context-token")
def context_token_for_frame():
    """A context JWT for the viewer and one module of an app, as AP.context.getToken() returns."""
    viewer = current_viewer()
    app_key = request.args.get("app", "")
    module_key = request.args.get("module", "")
    found = modules.find_module(app_key, module_key, ALL_MODULE_TYPES)
    if found is None:
        return _error(404, f"No enabled app {app_key!r} with a module {module_key!r} is installed on this site.")

    issue = None
    issue_key = request.args.get("issueKey")
    if issue_key:
        issue = site.issues.get(issue_key.upper())
        account_id = viewer.account_id if viewer else None
        if issue is None or not site.can_view(account_id, issue):
            return _error(404, f"Issue {issue_key} does not exist or you do not have permission to see it.")
    desk = site.service_desks.get(request.args.get("serviceDeskId", ""))
    page = modules.PageContext(viewer=viewer, issue=issue, desk=desk,
                               request_type_id=request.args.get("requestTypeId") or None)

    app = found[0]
    token = context_token(app, page.account_id, modules.product_context(page))
    log.debug("Context token issued for app %s, module %s, viewer %s", app.key, module_key, page.account_id)
    response = jsonify({"token": token, "expires_in": CONTEXT_TOKEN_LIFETIME_SECS})
    response.headers["Cache-Control"] = "no-store"
    return response
