"""The iframe pages Jira shows for the descriptor's modules.

Every route here is a module URL of atlassian-connect.json and is reached only with a Jira-signed
iframe JWT whose qsh matches the exact URL. The viewer and the site come from that token
(`flask.g.connect`); the context parameters Jira appends (`xdm_e`, `cp`, `lic`, `cv`) are never
read for identity.

Language: the server renders French unless the URL carries `lang` or the browser prefers English
(addon.i18n). Each page embeds its texts in both languages, and static/chat/i18n.js switches the
whole page to the viewer's Jira language once the page script learns it.
"""

import json

from flask import Blueprint, g, render_template, request
from flask_babel import force_locale, get_locale

from ..access.admin_auth import require_admin
from ..atlassian.auth import require_jwt
from ..i18n import SUPPORTED_LOCALES

bp = Blueprint("panels", __name__)


def first_arg(*names):
    """Return the first non-empty query parameter among `names`, or ""."""
    for name in names:
        value = request.args.get(name, "").strip()
        if value:
            return value
    return ""


# The string tables of templates/panels/ that the pages embed: every page has the chat's, the
# settings pages also the admin screens'.
CHAT_STRINGS = ("panels/chat_strings.html", "panels/faq_strings.html", "panels/attachment_strings.html")
DASHBOARD_STRINGS = CHAT_STRINGS + ("panels/dashboard_strings.html",)
ADMIN_STRINGS = CHAT_STRINGS + ("panels/admin_strings.html", "panels/sla_strings.html",
                                "panels/faq_admin_strings.html", "panels/workspace_admin_strings.html")


def page_strings(templates=CHAT_STRINGS):
    """Return the texts of the string-table `templates` in every language, merged per language.

    The page carries both languages so that its script can follow the Jira locale that
    AP.user.getLocale() reports without reloading, because the iframe URL is signed by Jira.
    """
    strings = {}
    for language in SUPPORTED_LOCALES:
        with force_locale(language):
            merged = {}
            for template in templates:
                merged.update(json.loads(render_template(template)))
            strings[language] = merged
    return strings


def render_panel(template, surface, size_to_parent=False, string_tables=CHAT_STRINGS, **context):
    """Render an iframe page with the verified site and viewer from the request's JWT."""
    connect = g.connect
    return render_template(
        template,
        page_lang=get_locale().language,
        surface=surface,
        size_to_parent=size_to_parent,
        site_url=connect.installation.base_url,
        account_id=connect.account_id,
        chat_strings=page_strings(string_tables),
        **context,
    )


@bp.get("/portal/request-panel")
@require_jwt("computed")
def request_panel():
    # Atlassian's documentation leaves the JSM context variable names uncertain, so the module
    # URL requests both spellings. Jira fills in the variables it defines and leaves the others
    # empty, and panel.js falls back to AP.context.getContext() when all are empty.
    return render_panel(
        "panels/request_panel.html",
        surface="request-panel",
        request_key=first_arg("requestKey", "rk"),
        request_id=first_arg("requestId", "rid"),
        service_desk_id=first_arg("serviceDeskId", "sdid"),
    )


@bp.get("/portal/footer")
@require_jwt("computed")
def portal_footer():
    return render_panel("panels/footer.html", surface="footer")


@bp.get("/agent/issue-panel")
@require_jwt("computed")
def issue_panel():
    return render_panel(
        "panels/issue_panel.html",
        surface="issue-panel",
        issue_key=first_arg("issueKey"),
        issue_id=first_arg("issueId"),
        project_key=first_arg("projectKey"),
    )


@bp.get("/agent/dashboard")
@require_jwt("computed")
def dashboard():
    return render_panel(
        "panels/dashboard.html", surface="dashboard", size_to_parent=True,
        string_tables=DASHBOARD_STRINGS, project_key=first_arg("projectKey"),
    )


# The descriptor's conditions only hide the links in Jira: the settings pages check on the server
# that the viewer administers the service project or the site.
@bp.get("/admin/project-settings")
@require_jwt("computed")
@require_admin
def project_settings():
    return render_panel(
        "panels/project_settings.html", surface="project-settings", size_to_parent=True,
        string_tables=ADMIN_STRINGS, project_key=first_arg("projectKey"),
    )


@bp.get("/admin/settings")
@require_jwt("computed")
@require_admin
def admin_settings():
    return render_panel("panels/admin_settings.html", surface="admin-settings", size_to_parent=True,
                        string_tables=ADMIN_STRINGS)


@bp.get("/admin/configure")
@require_jwt("computed")
@require_admin
def configure():
    return render_panel("panels/configure.html", surface="configure", size_to_parent=True,
                        string_tables=ADMIN_STRINGS)
