"""The agent side: the issue view with its app modules, and the apps' project and admin pages."""

import json
import logging

from flask import redirect, request, url_for

from . import pages_modules as modules
from . import seed
from .pages_common import bp, message_page, render, require_agent, viewable_issue
from .state import SiteError, site

log = logging.getLogger(__name__)

ISSUE_RIGHT_CONTEXT = "atl.jira.view.issue.right.context"
PROJECT_PAGE_TYPES = ("jiraProjectPages", "jiraProjectAdminTabPanels")
SERVLET_PAGE_TYPES = ("generalPages", "adminPages", "configurePage")


def _issue_page(issue_key, status=200, error=None):
    viewer = require_agent()
    issue = viewable_issue(viewer, issue_key)
    page = modules.PageContext(viewer=viewer, issue=issue)
    web_panels = modules.frames(
        "webPanels", page, accept=lambda module: module.get("location") == ISSUE_RIGHT_CONTEXT)
    return render(
        "agent/issue.html", status=status, title=f"{issue.key} {issue.summary}",
        issue=issue, desk=page.desk, error=error,
        status_category=seed.STATUSES[issue.status][1],
        request_type=site.request_types.get(issue.request_type_id),
        organizations=[site.organizations[org_id].name for org_id in issue.organizations
                       if org_id in site.organizations],
        transitions=site.transitions_for(issue), resolutions=list(seed.RESOLUTIONS),
        properties=[(key, json.dumps(value, ensure_ascii=False, indent=2))
                    for key, value in sorted(issue.properties.items())],
        glances=modules.glances(page), web_panels=web_panels,
    )


@bp.get("/browse/<issue_key>")
def browse(issue_key):
    return _issue_page(issue_key)


@bp.post("/browse/<issue_key>/comment")
def agent_comment(issue_key):
    viewer = require_agent()
    issue = viewable_issue(viewer, issue_key)
    body = request.form.get("body", "").strip()
    visibility = request.form.get("visibility")
    if not body:
        return _issue_page(issue.key, status=400, error="The comment is empty; write it before sending.")
    if visibility not in ("public", "internal"):
        return _issue_page(issue.key, status=400,
                           error=f"Comment visibility {visibility!r} is invalid; choose Reply to customer or Add internal note.")

    site.add_comment(issue.key, viewer.account_id, body, public=visibility == "public", via="ui")
    return redirect(url_for("devsite_pages.browse", issue_key=issue.key))


@bp.post("/browse/<issue_key>/transition")
def agent_transition(issue_key):
    viewer = require_agent()
    issue = viewable_issue(viewer, issue_key)
    to_status = request.form.get("to_status", "")
    resolution = request.form.get("resolution") or None
    leading = next((t for t in site.workflow_transitions(issue) if t.target == to_status), None)
    if leading is None or "resolution" not in leading.required_fields:
        resolution = None  # the form always sends the select; only a resolution screen uses it

    try:
        site.transition(issue.key, viewer.account_id, to_status, resolution)
    except SiteError as exc:
        return _issue_page(issue.key, status=400, error=str(exc))
    return redirect(url_for("devsite_pages.browse", issue_key=issue.key))


def _app_page(app_key, module_key, module_types, page, heading):
    found = modules.find_module(app_key, module_key, module_types)
    if found is None:
        return message_page(404, "Page not found",
                            f"No enabled app {app_key} has a module {module_key} of type {', '.join(module_types)}.")
    app, module, module_type = found
    if not modules.conditions_hold(module.get("conditions"), page):
        return message_page(403, "Access denied",
                            f"The conditions of module {module_key} do not hold for you; an administrator may be required.")
    frame = modules.build_frame(app, module, module_type, page, module.get("url"), "600px")
    if frame is None:
        return message_page(404, "Page not found", f"Module {module_key} of app {app_key} has no usable URL.")
    return render("app_page.html", title=frame.title, frame=frame, heading=heading, app=app)


@bp.get("/jira/servicedesk/projects/<project_key>/apps/<app_key>/<module_key>")
def project_page(project_key, app_key, module_key):
    viewer = require_agent()
    desk = next((d for d in site.service_desks.values() if d.project_key == project_key), None)
    if desk is None:
        return message_page(404, "Project not found", f"Project {project_key} does not exist on this site.")
    page = modules.PageContext(viewer=viewer, desk=desk)
    return _app_page(app_key, module_key, PROJECT_PAGE_TYPES, page, f"{desk.project_name} ({desk.project_key})")


@bp.get("/plugins/servlet/ac/<app_key>/<module_key>")
def servlet_page(app_key, module_key):
    # Portal customers have no access to Jira's own pages, so only agents reach app pages.
    viewer = require_agent()
    page = modules.PageContext(viewer=viewer)
    return _app_page(app_key, module_key, SERVLET_PAGE_TYPES, page, "Apps")
