"""The `/forge/...` endpoints that the Forge app's manifest points at, registered only when
FORGE_ENABLED is true.

Lifecycle and trigger endpoints return 200 with a small JSON body, because Forge retries non-2xx
deliveries and rejects non-JSON error bodies. Every error here is JSON, whatever the Accept header.
"""

import logging
from dataclasses import dataclass

from flask import Blueprint, current_app, g, jsonify, render_template, request
from flask_babel import get_locale
from werkzeug.exceptions import HTTPException, InternalServerError

from ...access.admin_auth import check_admin
from ...errors import AddonError
from ...web.panels import ADMIN_STRINGS, CHAT_STRINGS, DASHBOARD_STRINGS, page_strings
from . import events, files, socket_tickets, tenants
from .fit import ForgeRefused, forge_remote
from .tenancy import installation_for
from .keys import ForgeKeySets

log = logging.getLogger(__name__)

bp = Blueprint("forge", __name__, url_prefix="/forge")


def init_app(app):
    """Register the blueprint and the app's cache of Forge signing keys."""
    app.extensions["forge_key_sets"] = ForgeKeySets(timeout_secs=app.config["INSTALL_KEY_TIMEOUT_SECS"])
    app.register_blueprint(bp)
    files.init_app(app)


@bp.errorhandler(AddonError)
def render_error(error):
    return jsonify(error.to_dict()), error.status


@bp.errorhandler(HTTPException)
def render_http_error(error):
    if isinstance(error, InternalServerError):
        # Internals stay in the log; Forge shows the caller only that the remote failed.
        return jsonify({"error": {"code": "internal_error", "message": "The remote failed to handle the call."}}), 500
    return jsonify({"error": {"code": error.name.lower().replace(" ", "_"), "message": error.description}}), error.code


@bp.post("/lifecycle")
@forge_remote(kind="event")
def lifecycle():
    """Record the installed and upgraded events (avi:forge:installed:app, avi:forge:upgraded:app)."""
    installation = tenants.mark_installed(g.forge.installation_id)
    log.info(
        "Forge installation %s on cloud %s is installed, app version %s",
        installation.installation_id, installation.cloud_id, installation.app_version,
    )
    return jsonify({"ok": True})


@bp.post("/pre-uninstall")
@forge_remote(kind="event")
def pre_uninstall():
    """Mark the installation uninstalled; Forge calls the preUninstall module before the app leaves the site."""
    installation = tenants.mark_uninstalled(g.forge)
    log.info("Forge installation %s on cloud %s is uninstalled", installation.installation_id, installation.cloud_id)
    return jsonify({"ok": True})


@bp.post("/events")
@forge_remote(kind="event")
def product_event():
    """Store a Jira product event (a comment created, edited or deleted, or an issue updated) in the
    webhook inbox and return 200 at once. The sync handlers process it in the background."""
    event, retry_context = events.unwrap(request.get_json(force=True, silent=True))
    event_type = event["eventType"]
    installation = g.forge_installation
    context = f"Forge event {event_type} for installation {installation.installation_id}"
    if retry_context:
        log.info("%s is a retry: %s", context, _retry_summary(retry_context))
    if not installation.is_active:
        log.info("%s ignored: the installation is uninstalled", context)
        return jsonify({"ignored": "The Forge installation is uninstalled."})
    try:
        translated = events.translate(event)
    except events.Ignored as reason:
        log.debug("%s ignored: %s", context, reason)
        return jsonify({"ignored": f"The {reason}."})
    tenant = installation_for(installation)
    if tenant is None or not tenant.is_active:
        # A site gets its tenant at its first call from a UI module, and no chat exists before that.
        log.info("%s on %s ignored: the site has no active tenant", context, translated.issue_key)
        return jsonify({"ignored": "The site has no active tenant yet."})

    event_id = events.receive(tenant.client_key, translated)
    if event_id is None:
        log.info("%s on %s (client_key %s): duplicate, already stored", context, translated.issue_key,
                 tenant.client_key)
        return jsonify({"ok": True, "duplicate": True})
    log.info("%s on %s (client_key %s) stored as webhook event %s", context, translated.issue_key,
             tenant.client_key, event_id)
    return jsonify({"ok": True})


def _retry_summary(retry_context):
    # retryContext carries retryCount, retryReason and retryData (always null for remotes); the first two are logged.
    return f"retryCount {retry_context.get('retryCount')!r}, retryReason {str(retry_context.get('retryReason'))[:80]!r}"


@bp.post("/scheduled")
@forge_remote(kind="schedule")
def scheduled():
    """Acknowledge the hourly scheduled trigger, whose token the decorator has already stored, and
    start a reconcile sweep of the site in the background."""
    tenant = installation_for(g.forge_installation)
    if tenant is not None and tenant.is_active:
        events.start_sweep(tenant.client_key)
    return jsonify({"ok": True})


@bp.route("/ui/whoami", methods=["GET", "POST"])
@forge_remote(kind="ui")
def whoami():
    """Return the caller as the FIT names it: installation, site, user, module and request."""
    call = g.forge
    return jsonify({
        "installationId": call.installation_id,
        "cloudId": call.cloud_id,
        "siteUrl": call.site_url,
        "accountId": call.principal,
        "module": {"type": call.module.type, "key": call.module.key},
        "requestKey": call.request_key,
        "environment": call.environment.type,
        "licenseActive": call.license_active,
        "appId": current_app.config["FORGE_APP_ID"],
    })


@bp.post("/ui/socket-ticket")
@forge_remote(kind="ui")
def socket_ticket():
    """Return a single-use ticket (valid 60 s) that opens the chat websocket as the FIT's user.

    The page sends it in the socket's first frame, {"type": "auth", "ticket": ...}.
    """
    call = g.forge
    tenant = installation_for(g.forge_installation)
    if tenant is None or not tenant.is_active:
        raise ForgeRefused(f"The site of Forge installation {call.installation_id} has no active tenant; "
                           "install the app on the site again.")
    if not call.principal:
        raise ForgeRefused("The Forge Invocation Token names no user; sign in to Jira to use the chat.")
    ticket, expires_at = socket_tickets.issue(tenant, call.principal, call.installation_id)
    return jsonify({
        "ticket": ticket,
        "expires_at": int(expires_at.timestamp()),
        "url": current_app.config["ADDON_BASE_URL"].rstrip("/") + "/ws",
    })


# The Custom UI surfaces that reuse a Connect page: each `surface` name the chat scripts know, the
# page's Jinja template, its string tables, whether the viewer must be a support lead (as for the
# Connect settings pages, addon/web/panels.py) and whether the page fills its frame.
@dataclass(frozen=True)
class PageSurface:
    template: str
    string_tables: tuple = CHAT_STRINGS
    admin_only: bool = False
    size_to_parent: bool = False


PAGE_SURFACES = {
    "footer": PageSurface("panels/footer.html"),
    "request-panel": PageSurface("panels/request_panel.html"),
    "issue-panel": PageSurface("panels/issue_panel.html"),
    "dashboard": PageSurface("panels/dashboard.html", DASHBOARD_STRINGS, size_to_parent=True),
    "project-settings": PageSurface("panels/project_settings.html", ADMIN_STRINGS, admin_only=True,
                                    size_to_parent=True),
    "admin": PageSurface("panels/admin_settings.html", ADMIN_STRINGS, admin_only=True, size_to_parent=True),
}


@bp.get("/ui/page")
@forge_remote(kind="ui")
def page():
    """Return what a Connect panel page embeds, for the Custom UI page that shows the same chat.

    `surface` (query) is one of PAGE_SURFACES. The JSON carries the page's dictionaries in French
    and English, the add-on's base URL, the caller's accountId and the page rendered by its Jinja
    template (`html`), whose body the Custom UI page takes over with the chat's own scripts
    (forge/ui/bootstrap.js). The request, issue and project come from the FIT's extension, never
    from the query. The settings surfaces answer 403 unless the caller is a support lead.
    """
    surface = request.args.get("surface", "")
    settings = PAGE_SURFACES.get(surface)
    if settings is None:
        raise AddonError(f"surface {surface[:40]!r} is unknown; use one of {', '.join(PAGE_SURFACES)}.",
                         code="invalid_input")
    call = g.forge
    tenant = installation_for(g.forge_installation)
    if tenant is None or not tenant.is_active:
        raise ForgeRefused(f"The site of Forge installation {call.installation_id} has no active tenant; "
                           "install the app on the site again.")
    if settings.admin_only:
        if not call.principal:
            raise ForgeRefused("The Forge Invocation Token names no user; sign in to Jira to open the settings.")
        check_admin(tenant, call.principal)

    extension = call.extension
    request_item = _extension_item(extension, "request")
    issue_item = _extension_item(extension, "issue")
    project_item = _extension_item(extension, "project")
    strings = page_strings(settings.string_tables)
    base_url = current_app.config["ADDON_BASE_URL"].rstrip("/")
    html = render_template(
        settings.template,
        page_lang=get_locale().language,
        surface=surface,
        size_to_parent=settings.size_to_parent,
        site_url=tenant.base_url,
        account_id=call.principal,
        chat_strings=strings,
        request_key=request_item.get("key") or "",
        request_id=request_item.get("id") or "",
        service_desk_id=_extension_item(extension, "portal").get("id") or "",
        issue_key=issue_item.get("key") or request_item.get("key") or "",
        issue_id=issue_item.get("id") or "",
        project_key=project_item.get("key") or "",
    )
    return jsonify({
        "surface": surface,
        "lang": get_locale().language,
        "base_url": base_url,
        "account_id": call.principal,
        "strings": strings,
        "html": html,
    })


def _extension_item(extension, name):
    item = extension.get(name)
    return {key: str(value) for key, value in item.items() if isinstance(value, (str, int))} \
        if isinstance(item, dict) else {}
