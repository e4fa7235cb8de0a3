"""JSON routes of conversation moves under `/api/chats/<id>`, and of their settings under
`/api/admin/moves`.

Agents move a conversation (mail, appointment, ERP tool, classic ticket) and bring it back; the
key user picks an appointment slot; every reader of the chat reads the active move and downloads
the invitation. Authentication, errors and `?lang=` work as in addon/web/api.py.
"""

import logging
from urllib.parse import urlsplit

from flask import Blueprint, Response, g, jsonify

from ..access.admin_auth import require_admin
from ..atlassian.auth import require_jwt
from ..atlassian.forge.files import fit_reusable
from ..chat import moves, moves_appointment
from ..chat.access import require_agent, require_writer
from ..errors import AddonError, InvalidInput
from ..settings import get_settings, set_setting
from .api import json_body, load_conversation, render_error

log = logging.getLogger(__name__)

bp = Blueprint("move_api", __name__, url_prefix="/api")
bp.register_error_handler(AddonError, render_error)

ERP_NAME_MAX_CHARS = 80
ERP_MESSAGE_MAX_CHARS = 500
ERP_LINK_MAX_CHARS = 2000


def move_response(viewer, conversation, status=200):
    return jsonify({"move": moves.current_view(conversation, viewer)}), status


@bp.get("/chats/<int:conversation_id>/move")
@require_jwt("context")
def get_move(conversation_id):
    viewer, conversation = load_conversation(conversation_id)
    return move_response(viewer, conversation)


@bp.post("/chats/<int:conversation_id>/moves")
@require_jwt("context")
def create_move(conversation_id):
    body = json_body()
    viewer, conversation = load_conversation(conversation_id)
    require_agent(viewer)
    moves.move(viewer, conversation, body.get("target"), body.get("reason"), slots=body.get("slots"),
               duration_minutes=body.get("duration_minutes"))
    return move_response(viewer, conversation, 201)


@bp.post("/chats/<int:conversation_id>/moves/back")
@require_jwt("context")
def bring_back(conversation_id):
    body = json_body()
    viewer, conversation = load_conversation(conversation_id)
    require_agent(viewer)
    ended = moves.bring_back(viewer, conversation.id, body.get("reason"))
    return jsonify({"move": None, "ended": moves.move_view(ended, conversation, viewer)})


@bp.post("/chats/<int:conversation_id>/moves/<int:move_id>/slot")
@require_jwt("context")
def choose_slot(conversation_id, move_id):
    body = json_body()
    viewer, conversation = load_conversation(conversation_id)
    require_writer(viewer, conversation)
    moves_appointment.choose_slot(viewer, conversation, move_id, body.get("slot"))
    return move_response(viewer, conversation)


@bp.get("/chats/<int:conversation_id>/moves/<int:move_id>/invitation.ics")
@require_jwt("context")
@fit_reusable
def invitation(conversation_id, move_id):
    _viewer, conversation = load_conversation(conversation_id)
    filename, text = moves_appointment.invitation_file(conversation, move_id)
    return Response(text, mimetype="text/calendar",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# -- settings -----------------------------------------------------------------------------------

def _text(body, name, max_chars, required=True):
    value = body.get(name)
    value = value.strip() if isinstance(value, str) else value
    if value in (None, ""):
        if required:
            raise InvalidInput(f"erp_tool.{name} manquant. / Missing erp_tool.{name}.")
        return None
    if not isinstance(value, str) or len(value) > max_chars:
        raise InvalidInput(f"erp_tool.{name} : texte de {max_chars} caractères au plus attendu. "
                           f"/ erp_tool.{name}: a text of at most {max_chars} characters is expected.")
    return value


def clean_erp_tool(value):
    """Return the ERP tool setting {name, message_fr, message_en, link}, None to clear it, or raise InvalidInput."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidInput("erp_tool doit être un objet {name, message_fr, message_en, link}. "
                           "/ erp_tool must be an object {name, message_fr, message_en, link}.")
    tool = {"name": _text(value, "name", ERP_NAME_MAX_CHARS),
            "message_fr": _text(value, "message_fr", ERP_MESSAGE_MAX_CHARS),
            "message_en": _text(value, "message_en", ERP_MESSAGE_MAX_CHARS, required=False),
            "link": _text(value, "link", ERP_LINK_MAX_CHARS)}
    parts = urlsplit(tool["link"])
    if parts.scheme != "https" or not parts.hostname or any(char.isspace() for char in tool["link"]):
        raise InvalidInput(f"Lien invalide : {tool['link'][:80]!r} ; une adresse https:// est attendue. "
                           f"/ Invalid link {tool['link'][:80]!r}; an https:// address is expected.")
    return tool


@bp.get("/admin/moves")
@require_jwt("context")
@require_admin
def show_settings():
    settings = get_settings(g.connect.installation.id)
    return jsonify({"erp_tool": settings["erp_tool"], "appointment_minutes": settings["appointment_minutes"]})


@bp.put("/admin/moves")
@require_jwt("context")
@require_admin
def update_settings():
    body = json_body()
    unknown = sorted(set(body) - {"erp_tool", "appointment_minutes"})
    if unknown:
        raise InvalidInput(f"Réglages inconnus : {', '.join(unknown)}. / Unknown settings: {', '.join(unknown)}.")
    changes = {}
    if "erp_tool" in body:
        changes["erp_tool"] = clean_erp_tool(body["erp_tool"])
    if "appointment_minutes" in body:
        changes["appointment_minutes"] = moves_appointment.clean_duration(body["appointment_minutes"], {})
    installation = g.connect.installation
    for key, value in changes.items():
        set_setting(installation.id, key, value)
    log.info("Move settings %s changed on client_key %s", sorted(changes), installation.client_key)
    return show_settings()
