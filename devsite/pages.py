"""Pages of the local Jira site: login, home, customer portal, agent issue view, app pages.

`bp` is registered by the site's app factory. The routes live in the pages_* modules, imported
below so that they attach to it.
"""

from flask import make_response, redirect, request, url_for

from . import pages_agent, pages_bridge, pages_portal  # noqa: F401  (they register routes on bp)
from . import pages_modules as modules
from .control import change_locale
from .pages_common import SESSION_COOKIE, bp, message_page, render, safe_next
from .state import SiteError, site

__all__ = ["bp"]

# The languages the login page offers; the add-on's pages follow the viewer's Jira language.
LOCALES = (("fr_FR", "Français"), ("en_US", "English"))
PROJECT_PAGE_TYPES = pages_agent.PROJECT_PAGE_TYPES
SERVLET_PAGE_TYPES = pages_agent.SERVLET_PAGE_TYPES


@bp.get("/login")
def login():
    next_path = safe_next(request.args.get("next"))
    account_id = request.args.get("as")
    if not account_id:
        users = [user for user in site.users.values() if user.account_type != "app"]
        return render("login.html", title="Log in", users=users, next_path=next_path, locales=LOCALES)

    user = site.users.get(account_id)
    if user is None or user.account_type == "app":
        return message_page(404, "Unknown user", f"No seed user has accountId {account_id}; pick one on the login page.")
    response = make_response(redirect(next_path))
    response.set_cookie(SESSION_COOKIE, user.account_id, httponly=True, samesite="Lax",
                        path=request.script_root or "/")
    return response


@bp.post("/login/locale")
def set_locale():
    """Change a seed user's language from the login page, as they would in their Jira profile."""
    account_id = request.form.get("account_id", "")
    user = site.users.get(account_id)
    if user is None or user.account_type == "app":
        return message_page(404, "Unknown user", f"No seed user has accountId {account_id}; pick one on the login page.")
    try:
        change_locale(account_id, request.form.get("locale"))
    except SiteError as error:
        return message_page(400, "Invalid language", str(error))
    return redirect(url_for("devsite_pages.login", next=safe_next(request.form.get("next"))))


@bp.post("/logout")
def logout():
    response = make_response(redirect(url_for("devsite_pages.login")))
    response.delete_cookie(SESSION_COOKIE, path=request.script_root or "/")
    return response


def _app_page_links(app):
    """Links to the project, admin and general pages an app declares."""
    links = []
    for desk in site.service_desks.values():
        for module_type in PROJECT_PAGE_TYPES:
            for module in app.modules(module_type):
                links.append({"name": modules.module_name(module), "href": url_for(
                    "devsite_pages.project_page", project_key=desk.project_key, app_key=app.key,
                    module_key=module.get("key", ""))})
    for module_type in SERVLET_PAGE_TYPES:
        for module in app.modules(module_type):
            links.append({"name": modules.module_name(module), "href": url_for(
                "devsite_pages.servlet_page", app_key=app.key, module_key=module.get("key", ""))})
    return links


@bp.get("/")
def home():
    apps = [app for app in site.apps.values() if app.installed]
    return render(
        "home.html", title="Home", site_url=site.base_url,
        desks=list(site.service_desks.values()), issues=sorted(site.issues.values(), key=lambda i: int(i.id)),
        users=[user for user in site.users.values() if user.account_type != "app"],
        apps=apps, app_pages={app.key: _app_page_links(app) for app in apps},
    )
