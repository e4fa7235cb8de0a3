"""Shared parts of the local Jira site's pages: the blueprint, the viewer, rendering and access guards."""

import logging

from flask import Blueprint, abort, make_response, redirect, render_template, request, url_for

from .state import site

log = logging.getLogger(__name__)

SESSION_COOKIE = "devsite_user"

bp = Blueprint(
    "devsite_pages", __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/_devsite/static",
)


def current_viewer():
    """Return the logged-in user, whose accountId is in the `devsite_user` cookie, or None."""
    account_id = request.cookies.get(SESSION_COOKIE)
    if not account_id:
        return None
    user = site.users.get(account_id)
    if user is None or user.account_type == "app":
        return None
    return user


def browser_locale(user):
    """Jira's locale (fr_FR) written as a BCP 47 tag (fr-FR), as AP.user.getLocale returns it."""
    locale = user.locale if user else "en_US"
    return (locale or "en_US").replace("_", "-")


def render(template, status=200, **context):
    viewer = current_viewer()
    context.setdefault("title", "Local Jira site")
    page = render_template(template, viewer=viewer, viewer_locale=browser_locale(viewer), **context)
    response = make_response(page, status)
    response.headers["Cache-Control"] = "no-store"
    return response


def message_page(status, title, message):
    return render("message.html", status=status, title=title, message=message)


def safe_next(path):
    """Return `path` when it is a path on this site, else the home page, so no login redirects off-site."""
    root = request.script_root + "/"
    if not path or not path.startswith(root) or path.startswith("//") or "\\" in path:
        return url_for("devsite_pages.home")
    return path


@bp.app_template_global()
def current_path():
    """Return the path and query of this request as in the browser's address bar, base path included."""
    path = request.full_path if request.query_string else request.path
    return request.script_root + path


def login_redirect():
    return redirect(url_for("devsite_pages.login", next=current_path()))


def require_viewer():
    """Return the viewer, or abort with a redirect to the login page."""
    viewer = current_viewer()
    if viewer is None:
        abort(login_redirect())
    return viewer


def require_agent():
    """Return the viewer if they are an agent (a licensed Jira user), else abort with a 403 page."""
    viewer = require_viewer()
    if not site.is_agent(viewer.account_id):
        abort(message_page(
            403, "Agents only",
            f"{viewer.display_name} is a portal customer; this page is for agents. "
            "Switch to an agent account or use the customer portal."))
    return viewer


def viewable_issue(viewer, issue_key):
    """Return issue `issue_key` if `viewer` may see it, else abort with 404 so its existence stays hidden."""
    issue = site.issues.get(str(issue_key).upper())
    if issue is None or not site.can_view(viewer.account_id, issue):
        abort(message_page(
            404, "Request not found",
            f"Request {issue_key} does not exist or you do not have permission to see it."))
    return issue


def display_name(account_id):
    user = site.users.get(account_id)
    if user is not None:
        return user.display_name
    app = site.app_by_account_id(account_id)
    return app.descriptor.get("name", app.key) if app else account_id


@bp.before_request
def check_form_origin():
    """Reject cross-site form posts: an Origin header, when sent, must be this site's."""
    if request.method != "POST":
        return None
    origin = request.headers.get("Origin")
    if origin and origin != f"{request.scheme}://{request.host}":
        log.warning("Rejected a form post to %s from origin %s", request.path, origin)
        return message_page(403, "Forbidden", f"Form posts from origin {origin} are not accepted by this site.")
    return None


@bp.app_template_global()
def person(account_id):
    return display_name(account_id)


@bp.app_template_filter()
def jira_date(moment):
    return moment.strftime("%d %b %Y %H:%M UTC") if moment else ""

