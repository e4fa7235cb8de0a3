"""The `/forge/...` endpoints that the Forge app's manifest points at, registered only when
FORGE_ENABLED is true.

Lifecycle and trigger endpoints return 200 with a small JSON body, because Forge retries non-2xx
deliveries and rejects non-JSON error bodies. Every error here is JSON, whatever the Accept header.
"""

import logging

from flask import Blueprint, current_app, g, jsonify
from werkzeug.exceptions import HTTPException, InternalServerError

from ...errors import AddonError
from . import tenants
from .fit import forge_remote
from .keys import ForgeKeySets

log = logging.getLogger(__name__)

bp = Blueprint("forge", __name__, url_prefix="/forge")


def init_app(app):
    """Register the blueprint and the app's cache of Forge signing keys."""
    app.extensions["forge_key_sets"] = ForgeKeySets(timeout_secs=app.config["INSTALL_KEY_TIMEOUT_SECS"])
    app.register_blueprint(bp)


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


@bp.post("/scheduled")
@forge_remote(kind="schedule")
def scheduled():
    """Acknowledge the hourly scheduled trigger, whose token the decorator has already stored."""
    # TODO: reconcile chats with Jira here once the Forge Jira client exists.
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
