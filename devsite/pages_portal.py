"""The customer portal: help center, portal home, create request, my requests, request page."""

import logging

from flask import abort, redirect, request, url_for

from . import pages_modules as modules
from . import pages_wiki  # noqa: F401  (registers the `wiki` filter that renders bodies)
from .pages_common import bp, message_page, render, require_viewer, viewable_issue
from .state import SiteError, site

log = logging.getLogger(__name__)


def _desk(desk_id):
    desk = site.service_desks.get(str(desk_id))
    if desk is None:
        abort(message_page(404, "Portal not found", f"Service desk {desk_id} does not exist on this site."))
    return desk


def _footers(page):
    """serviceDeskPortalFooters whose `pages` list names this page (no list: every page)."""
    def shows_here(module):
        pages = module.get("pages")
        return not pages or page.page_name in pages

    return modules.frames("serviceDeskPortalFooters", page, accept=shows_here, default_height="60px")


def _render_portal(template, page, status=200, **context):
    return render(template, status=status, footers=_footers(page), **context)


@bp.get("/servicedesk/customer/portals")
def help_center():
    viewer = require_viewer()
    page = modules.PageContext(viewer=viewer, page_name="help_center")
    return _render_portal("portal/help_center.html", page, title="Help center",
                          desks=list(site.service_desks.values()))


@bp.get("/servicedesk/customer/portal/<desk_id>")
def portal(desk_id):
    viewer = require_viewer()
    desk = _desk(desk_id)
    page = modules.PageContext(viewer=viewer, desk=desk, page_name="portal")
    request_types = [rt for rt in site.request_types.values() if rt.service_desk_id == desk.id]
    return _render_portal("portal/portal.html", page, title=desk.project_name, desk=desk,
                          request_types=request_types)


@bp.route("/servicedesk/customer/portal/<desk_id>/create/<request_type_id>", methods=["GET", "POST"])
def create_request(desk_id, request_type_id):
    viewer = require_viewer()
    desk = _desk(desk_id)
    request_type = site.request_types.get(str(request_type_id))
    if request_type is None or request_type.service_desk_id != desk.id:
        return message_page(404, "Request type not found",
                            f"Request type {request_type_id} does not exist on service desk {desk.id}.")
    page = modules.PageContext(viewer=viewer, desk=desk, request_type_id=request_type.id,
                               page_name="create_request")
    organizations = site.organizations_of(viewer.account_id)
    error = None

    if request.method == "POST":
        summary = request.form.get("summary", "").strip()
        share_with = request.form.get("share_with", "")
        shared = [org.id for org in organizations if org.id == share_with]
        try:
            issue = site.create_request(desk.id, request_type.id, viewer.account_id, summary,
                                        request.form.get("description", ""), channel="portal",
                                        organizations=shared)
        except SiteError as exc:
            error = str(exc)
        else:
            log.info("Portal request %s created by %s", issue.key, viewer.account_id)
            return redirect(url_for("devsite_pages.portal_request", desk_id=desk.id, issue_key=issue.key))

    return _render_portal("portal/create.html", page, status=400 if error else 200,
                          title=f"{request_type.name} – {desk.project_name}", desk=desk,
                          request_type=request_type, organizations=organizations, error=error,
                          form=request.form)


@bp.get("/servicedesk/customer/user/requests")
def my_requests():
    viewer = require_viewer()
    page = modules.PageContext(viewer=viewer, page_name="my_requests")
    if site.is_agent(viewer.account_id):
        # Agents see every issue, but "my requests" lists only the ones they take part in.
        mine = [issue for issue in site.issues.values()
                if issue.reporter == viewer.account_id or viewer.account_id in issue.participants]
    else:
        mine = [issue for issue in site.issues.values() if site.can_view(viewer.account_id, issue)]
    mine.sort(key=lambda issue: issue.created, reverse=True)
    return _render_portal("portal/my_requests.html", page, title="My requests", issues=mine)


def _request_page(desk_id, issue_key, status=200, error=None):
    viewer = require_viewer()
    issue = viewable_issue(viewer, issue_key)
    if issue.service_desk_id != str(desk_id):
        return redirect(url_for("devsite_pages.portal_request", desk_id=issue.service_desk_id,
                                issue_key=issue.key))
    page = modules.PageContext(viewer=viewer, issue=issue, page_name="view_request")
    public_comments = [comment for comment in issue.comments if comment.public]
    return _render_portal(
        "portal/request.html", page, status=status, title=f"{issue.key} {issue.summary}",
        issue=issue, desk=page.desk, comments=public_comments,
        request_type=site.request_types.get(issue.request_type_id),
        shared_with=[site.organizations[org_id].name for org_id in issue.organizations
                     if org_id in site.organizations],
        panels=modules.frames("serviceDeskPortalRequestViewPanels", page, default_height="300px"),
        error=error,
    )


@bp.get("/servicedesk/customer/portal/<desk_id>/<issue_key>")
def portal_request(desk_id, issue_key):
    return _request_page(desk_id, issue_key)


@bp.post("/servicedesk/customer/portal/<desk_id>/<issue_key>/comment")
def portal_comment(desk_id, issue_key):
    viewer = require_viewer()
    issue = viewable_issue(viewer, issue_key)
    body = request.form.get("body", "").strip()
    if not body:
        return _request_page(desk_id, issue.key, status=400, error="The comment is empty; write a reply first.")

    # Comments added on the portal are always public, also when an agent writes them.
    site.add_comment(issue.key, viewer.account_id, body, public=True, via="ui")
    return redirect(url_for("devsite_pages.portal_request", desk_id=issue.service_desk_id, issue_key=issue.key))
