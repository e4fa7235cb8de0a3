"""The chat's site settings for support leads: service desk, request type, product areas, batching,
support e-mail and the statuses of the solution workflow.

Routes under /api/admin/settings, called by the settings page's script with a context token, for
project or Jira administrators only.
"""

import logging
import re

from flask import Blueprint, g, jsonify, request

from ..access.admin_auth import require_admin
from ..access.models import AuditEntry
from ..atlassian.auth import require_jwt
from ..atlassian.jira_client import jira_client_for
from ..atlassian.jira_errors import JiraError
from ..chat.actions import database
from ..errors import InvalidInput
from ..settings import DEFAULTS, get_settings, set_setting

log = logging.getLogger(__name__)

bp = Blueprint("settings_api", __name__, url_prefix="/api/admin/settings")

PRODUCT_AREA_MAX_CHARS = 60
PRODUCT_AREAS_MAX = 50
BATCH_WINDOW_MAX_SECS = 600
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _desks_and_types(installation, service_desk_id):
    with jira_client_for(installation) as jira:
        desks = jira.service_desk.get_service_desks() or []
        types = []
        if service_desk_id:
            page = jira.service_desk.get_request_types(service_desk_id) or {}
            types = page.get("values", []) if isinstance(page, dict) else page
    return (
        [{"id": str(d["id"]), "name": d.get("projectName") or d.get("projectKey")} for d in desks],
        [{"id": str(t["id"]), "name": t.get("name")} for t in types],
    )


def _statuses(installation):
    """List the site's statuses for the solution workflow settings: [{"id", "name", "category"}].

    `GET /rest/api/3/status` returns the statuses of every active workflow of the site. Team-managed
    projects may reuse a name, and the settings name a status, so the first of each name is kept.
    """
    with jira_client_for(installation) as jira:
        statuses = jira.request("GET", "rest/api/3/status") or []
    by_name = {}
    for status in statuses:
        name = (status.get("name") or "").strip()
        if name and name.casefold() not in by_name:
            by_name[name.casefold()] = {"id": str(status.get("id") or ""), "name": name,
                                        "category": (status.get("statusCategory") or {}).get("key") or ""}
    return list(by_name.values())


@bp.get("")
@require_jwt("context")
@require_admin
def show():
    installation = g.connect.installation
    settings = get_settings(installation.id)
    desk_id = request.args.get("service_desk_id") or settings["service_desk_id"]
    try:
        desks, types = _desks_and_types(installation, desk_id or None)
        if not desk_id and desks:
            desks, types = _desks_and_types(installation, desks[0]["id"])
    except JiraError as error:
        log.warning("Listing service desks failed for client_key %s: %s", installation.client_key, error)
        desks, types = [], []
    try:
        statuses = _statuses(installation)
    except JiraError as error:
        log.warning("Listing statuses failed for client_key %s: %s", installation.client_key, error)
        statuses = []
    return jsonify({"settings": settings, "service_desks": desks, "request_types": types, "statuses": statuses})


# Names of the workflow that the solution validation follows (see addon/chat/solution_jira.py).
WORKFLOW_SETTINGS = ("solution_status", "solution_resolution", "reopen_status")
STATUS_NAME_MAX_CHARS = 120
# Settings that other admin APIs validate and store, with the route that does.
SETTINGS_EDITED_ELSEWHERE = {
    "sla_calendar": "/api/admin/sla", "sla_policies": "/api/admin/sla",
    "impact_priorities": "/api/admin/sla", "waiting_for_customer_statuses": "/api/admin/sla",
    "start_form_fields": "/api/admin/faq/settings", "faq_synonyms": "/api/admin/faq/settings",
    "knowledge_base_sync": "/api/admin/faq/settings",
    "self_service_opens_resolved_request": "/api/admin/faq/settings", "scope_guard": "/api/admin/faq/settings",
    "attachment_max_bytes": "/api/admin/attachments", "attachment_types": "/api/admin/attachments",
    "chat_routing": "/api/admin/routing", "canned_replies": "/api/admin/canned-replies",
    "erp_tool": "/api/admin/moves", "appointment_minutes": "/api/admin/moves",
}


def _validated(body, installation):
    """Return the settings of `body` that are valid, or raise InvalidInput naming the first bad one."""
    changes = {}
    if "product_areas" in body:
        areas = body["product_areas"]
        if not isinstance(areas, list) or not areas or len(areas) > PRODUCT_AREAS_MAX:
            raise InvalidInput(f"Indiquez entre 1 et {PRODUCT_AREAS_MAX} domaines. "
                               f"/ Give between 1 and {PRODUCT_AREAS_MAX} product areas.")
        cleaned = [str(area).strip() for area in areas]
        if any(not area or len(area) > PRODUCT_AREA_MAX_CHARS for area in cleaned):
            raise InvalidInput(f"Chaque domaine compte de 1 à {PRODUCT_AREA_MAX_CHARS} caractères. "
                               f"/ Each product area has 1 to {PRODUCT_AREA_MAX_CHARS} characters.")
        if len(set(area.casefold() for area in cleaned)) != len(cleaned):
            raise InvalidInput("Un domaine apparaît deux fois. / A product area appears twice.")
        changes["product_areas"] = cleaned
    if "comment_batch_window_secs" in body:
        window = body["comment_batch_window_secs"]
        if not isinstance(window, int) or isinstance(window, bool) or not 0 <= window <= BATCH_WINDOW_MAX_SECS:
            raise InvalidInput(f"Le délai de regroupement va de 0 à {BATCH_WINDOW_MAX_SECS} secondes ({window!r}). "
                               f"/ The batching window is 0 to {BATCH_WINDOW_MAX_SECS} seconds ({window!r}).")
        changes["comment_batch_window_secs"] = window
    if "support_email" in body:
        email = (body["support_email"] or "").strip() or None
        if email is not None and not _EMAIL.match(email):
            raise InvalidInput(f"Adresse e-mail invalide : {email!r}. / Invalid e-mail address: {email!r}.")
        changes["support_email"] = email
    if "service_desk_id" in body or "request_type_id" in body:
        desk_id = str(body.get("service_desk_id") or "") or None
        type_id = str(body.get("request_type_id") or "") or None
        desks, _ = _desks_and_types(installation, None)
        if desk_id and desk_id not in {d["id"] for d in desks}:
            raise InvalidInput(f"Service desk inconnu : {desk_id}. / Unknown service desk: {desk_id}.")
        _, types = _desks_and_types(installation, desk_id)
        if type_id and (not desk_id or type_id not in {t["id"] for t in types}):
            raise InvalidInput(f"Le type de demande {type_id} n'appartient pas au service desk {desk_id}. "
                               f"/ Request type {type_id} is not one of service desk {desk_id}.")
        changes["service_desk_id"] = desk_id
        changes["request_type_id"] = type_id
    for key in WORKFLOW_SETTINGS:
        if key in body:
            changes[key] = _status_name(key, body[key])
    elsewhere = sorted(set(body) & set(SETTINGS_EDITED_ELSEWHERE))
    if elsewhere:
        routes = ", ".join(f"{key} → {SETTINGS_EDITED_ELSEWHERE[key]}" for key in elsewhere)
        raise InvalidInput(f"Ces réglages se modifient ailleurs : {routes}. "
                           f"/ These settings are changed elsewhere: {routes}.")
    unknown = sorted(set(body) - set(DEFAULTS))
    if unknown:
        raise InvalidInput(f"Réglages inconnus : {', '.join(unknown)}. / Unknown settings: {', '.join(unknown)}.")
    return changes


def _status_name(key, value):
    """A Jira status or resolution name of the solution workflow, or None for the default."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or len(value.strip()) > STATUS_NAME_MAX_CHARS:
        raise InvalidInput(f"{key} : nom de {STATUS_NAME_MAX_CHARS} caractères au plus attendu ({value!r}). "
                           f"/ {key}: a name of at most {STATUS_NAME_MAX_CHARS} characters is expected ({value!r}).")
    return value.strip()


@bp.put("")
@require_jwt("context")
@require_admin
def update():
    installation = g.connect.installation
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput("Le corps doit être un objet JSON. / The body must be a JSON object.")
    try:
        changes = _validated(body, installation)
    except JiraError as error:
        log.warning("Checking service desk settings failed for client_key %s: %s", installation.client_key, error)
        raise InvalidInput("Jira n'a pas pu vérifier le service desk ; réessayez. "
                           "/ Jira could not check the service desk; try again.") from None

    for key, value in changes.items():
        set_setting(installation.id, key, value)
    with database().transaction() as session:
        session.add(AuditEntry(
            installation_id=installation.id, actor_account_id=g.connect.account_id,
            action="settings_changed", summary="Réglages modifiés : " + ", ".join(sorted(changes)),
            details={"changed": sorted(changes)},
        ))
    log.info("Settings %s changed on client_key %s", sorted(changes), installation.client_key)
    return jsonify({"settings": get_settings(installation.id)})
