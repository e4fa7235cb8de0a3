"""JSON routes of the agents' workspace: presence, claim, transfer, routing settings, availability.

Agent routes name the project (`?projectKey=`) whose agent permission Jira is asked about, as the
chat routes do. Authentication, errors and `?lang=` work as in addon/web/api.py.
"""

from flask import Blueprint, g, jsonify, request

from ..access.admin_auth import require_admin
from ..atlassian.auth import require_jwt
from ..atlassian.jira_client import jira_client_for
from ..atlassian.jira_errors import JiraError
from ..chat.access import display_name_of, require_agent, viewer_for
from ..chat.solution_text import language_of
from ..errors import AddonError, InvalidInput
from ..settings import get_settings, set_setting
from ..sla.live import latest_clock, zone_name
from ..sla.models import ClockState
from ..sla.policy import calendar_from_settings
from ..workspace import canned, claims, desk, presence, routing
from ..workspace.models import ChatRouting
from .api import conversation_json, database, json_body, load_conversation, project_arg, render_error, unread_count

bp = Blueprint("workspace_api", __name__, url_prefix="/api")
bp.register_error_handler(AddonError, render_error)


def _agent():
    viewer = viewer_for(g.connect, project_arg())
    require_agent(viewer)
    return viewer


def _outcome_response(outcome):
    body = {"routing": outcome.view}
    if outcome.warning:
        body["warning"] = outcome.warning
    return jsonify(body)


# -- presence -------------------------------------------------------------------------------------

@bp.get("/agent/presence")
@require_jwt("context")
def get_presence():
    viewer = _agent()
    me = presence.heartbeat(viewer)
    return jsonify({"me": me, "team": presence.team(viewer.installation_id)})


@bp.put("/agent/presence")
@require_jwt("context")
def put_presence():
    body = json_body()
    viewer = _agent()
    return jsonify({"me": presence.set_status(viewer, body.get("status"))})


@bp.post("/agent/heartbeat")
@require_jwt("context")
def heartbeat():
    return jsonify({"me": presence.heartbeat(_agent())})


@bp.get("/agent/desk")
@require_jwt("context")
def get_desk():
    """Return the dashboard's state in one call, which also keeps the agent's presence alive."""
    viewer = _agent()
    installation = g.connect.installation
    me = presence.heartbeat(viewer)

    def describe(conversation):
        return conversation_json(conversation, unread_count(viewer, conversation), viewer, with_sla=True)

    lists = desk.lists_for(viewer, installation, viewer.project_key, describe)
    limits = routing.routing_of(get_settings(viewer.installation_id))
    groups = sorted({rule["group"] for rule in limits["areas"].values() if rule.get("group")}
                    | ({limits["default_group"]} if limits["default_group"] else set()))
    return jsonify({"me": me, "team": presence.team(viewer.installation_id), "lists": lists, "groups": groups})


@bp.get("/support/availability")
@require_jwt("context")
def availability():
    """Tell a key user whether support could take a chat now (never who)."""
    connect = g.connect
    settings = get_settings(connect.installation.id)
    limits = routing.routing_of(settings)
    available = routing.support_available(database().session, connect.installation, None,
                                          limits["max_chats_per_agent"])
    return jsonify({"available": available})


# -- claim and transfer ---------------------------------------------------------------------------

@bp.get("/chats/<int:conversation_id>/routing")
@require_jwt("context")
def get_routing(conversation_id):
    viewer, conversation = load_conversation(conversation_id)
    require_agent(viewer)
    return jsonify({"routing": claims.routing_view(database().session.get(ChatRouting, conversation.id))})


@bp.post("/chats/<int:conversation_id>/claim")
@require_jwt("context")
def claim(conversation_id):
    viewer, conversation = load_conversation(conversation_id)
    require_agent(viewer)
    return _outcome_response(claims.claim(viewer, conversation))


@bp.post("/chats/<int:conversation_id>/transfer")
@require_jwt("context")
def transfer(conversation_id):
    body = json_body()
    viewer, conversation = load_conversation(conversation_id)
    require_agent(viewer)
    to_account_id, to_group = body.get("to_account_id"), body.get("to_group")
    for name, value in (("to_account_id", to_account_id), ("to_group", to_group)):
        if value is not None and (not isinstance(value, str) or not value.strip() or len(value) > 255):
            raise InvalidInput(f"{name} doit être un texte non vide, reçu {str(value)[:40]!r}. "
                               f"/ {name} must be a non-empty text, got {str(value)[:40]!r}.")
    return _outcome_response(claims.transfer(viewer, conversation, to_account_id=to_account_id,
                                             to_group=to_group, note=body.get("note")))


# -- routing settings -----------------------------------------------------------------------------

@bp.get("/admin/routing")
@require_jwt("context")
@require_admin
def get_routing_settings():
    settings = get_settings(g.connect.installation.id)
    return jsonify({"routing": routing.routing_of(settings), "product_areas": settings.get("product_areas") or []})


@bp.put("/admin/routing")
@require_jwt("context")
@require_admin
def put_routing_settings():
    cleaned = routing.clean_routing(json_body())
    routing.check_against_jira(g.connect.installation, cleaned)
    set_setting(g.connect.installation.id, "chat_routing", cleaned)
    return jsonify({"routing": cleaned})



# -- canned replies -------------------------------------------------------------------------------

@bp.get("/agent/canned-replies")
@require_jwt("context")
def list_canned_replies():
    viewer = _agent()
    replies = get_settings(viewer.installation_id).get("canned_replies") or []
    return jsonify({"replies": [{"shortcut": reply["shortcut"], "title": reply["title"]} for reply in replies]})


@bp.get("/chats/<int:conversation_id>/canned-replies/<shortcut>")
@require_jwt("context")
def render_canned_reply(conversation_id, shortcut):
    """Fill a canned reply's variables for one chat, in the key user's language (or `?reply_lang=`)."""
    viewer, conversation = load_conversation(conversation_id)
    require_agent(viewer)
    settings = get_settings(conversation.installation_id)
    reply = canned.find(settings.get("canned_replies"), shortcut)
    installation = g.connect.installation
    customer_name = display_name_of(installation, conversation.opened_by_account_id) or ""
    language = request.args.get("reply_lang")
    if language not in ("fr", "en"):
        language = _customer_language(installation, conversation.opened_by_account_id)
    calendar = calendar_from_settings(settings)
    clock = latest_clock(database().session, conversation.id, lock=False)
    deadline = clock.deadline_at if clock is not None and clock.state == ClockState.RUNNING else None
    values = {
        "first_name": claims.first_name(customer_name),
        "request": conversation.issue_key,
        "agent": viewer.display_name or "",
        "answer_by": canned.format_deadline(deadline, zone_name(calendar), language),
    }
    return jsonify({"text": canned.render(reply, language, values), "language": language})


def _customer_language(installation, account_id):
    try:
        with jira_client_for(installation) as jira:
            return language_of((jira.get_user(account_id) or {}).get("locale"))
    except JiraError:
        return "fr"


@bp.get("/admin/canned-replies")
@require_jwt("context")
@require_admin
def get_canned_replies():
    return jsonify({"replies": get_settings(g.connect.installation.id).get("canned_replies") or []})


@bp.put("/admin/canned-replies")
@require_jwt("context")
@require_admin
def put_canned_replies():
    body = json_body()
    cleaned = canned.clean_replies(body.get("replies"))
    set_setting(g.connect.installation.id, "canned_replies", cleaned)
    return jsonify({"replies": cleaned})
