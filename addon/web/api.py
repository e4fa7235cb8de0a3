"""The JSON API of the chat iframes, under `/api`, for clients without a websocket and for reads.

Every route needs `Authorization: JWT <context token>` from `AP.context.getToken()`. The viewer's
role is decided per request. On a route of one conversation, Jira is asked whether the caller is
an agent of that conversation's project. Elsewhere the `project_key` query parameter names the
project. Errors are JSON (`{"error": {"code", "message"}}`); `?lang=fr|en` picks the language of
the message.
"""

from flask import Blueprint, current_app, g, jsonify, request
from flask_babel import gettext
from sqlalchemy import select

from ..atlassian.auth import require_jwt
from ..chat import fanout
from ..access.keyusers import key_user_memberships
from ..chat.access import (
    Rejection,
    access_conversation,
    access_conversation_by_issue,
    conversations_of,
    require_agent,
    require_writer,
    viewer_for,
    writer_status,
)
from ..chat.actions import can_write, database, history, post_message
from ..chat.refusal import EXPLANATIONS, explain_refusal
from ..chat.models import AuthorRole, Conversation, Impact, Message, MessageKind, ReadMark, Visibility
from ..chat.start import areas_of, start_chat, subscription_for
from ..chat.solution_records import solution_view
from ..errors import AddonError, InvalidInput
from ..settings import get_settings
from ..sla.live import poll_frame, sla_view
from ..workspace.presence import mark_customer_seen

bp = Blueprint("api", __name__, url_prefix="/api")

HISTORY_LIMIT = 200
# Events that are no news to read for a key user: the satisfaction question, which their chat hides
# (static/chat/messages.js), and an agent joining (addon/workspace/claims.py).
NOT_UNREAD_FOR_CUSTOMER_EVENTS = ("satisfaction_asked", "agent_joined")
# How far before the read mark the unread count looks for the viewer's own event.
UNREAD_LOOK_BACK_SEQS = 20


@bp.errorhandler(AddonError)
def render_error(error):
    body = error.to_dict()
    body["error"]["message"] = localize(error.message, request.args.get("lang"))
    return jsonify(body), error.status


def localize(message, lang):
    """Return one side of a bilingual "français / English" sentence, or the whole when unsure."""
    lang = (lang or "").lower()[:2]
    parts = message.split(" / ")
    if lang not in ("fr", "en") or len(parts) != 2:
        return message
    return parts[0] if lang == "fr" else parts[1]


# The viewer and the conversation.

def project_arg():
    value = request.args.get("project_key") or request.args.get("projectKey")
    return value or None


def load_conversation(conversation_id):
    """Return (viewer, conversation) when the caller may see it, else raise NotFound."""
    # The project only selects which agent permission Jira is asked about, and access_conversation decides.
    project_key = database().session.execute(
        select(Conversation.project_key).where(Conversation.id == conversation_id)
    ).scalar_one_or_none()
    viewer = viewer_for(g.connect, project_key)
    return viewer, access_conversation(viewer, conversation_id)


def conversation_json(conversation, unread=None, viewer=None, with_sla=False):
    data = {
        "id": conversation.id,
        "issue_key": conversation.issue_key,
        "project_key": conversation.project_key,
        "summary": conversation.summary,
        "product_area": conversation.product_area,
        "impact": conversation.impact,
        "state": conversation.state,
        "jira_status": conversation.jira_status,
        "created_at": conversation.created_at.isoformat(),
        "updated_at": conversation.updated_at.isoformat(),
    }
    if unread is not None:
        data["unread"] = unread
        # The chat draws its "new messages" separator above the first entry after this seq.
        data["last_read_seq"] = last_read_seq(viewer, conversation) if viewer is not None else None
    if viewer is not None:
        data["can_write"] = can_write(viewer, conversation)
        if viewer.is_agent:
            data["customer_access"] = writer_status(conversation)
        if with_sla:
            data["sla"] = sla_view(conversation, viewer)
        data["solution"] = solution_view(conversation, viewer)
    return data


def last_read_seq(viewer, conversation):
    """Return the `seq` up to which `viewer` marked `conversation` read (0 when never)."""
    return database().session.execute(select(ReadMark.last_read_seq).where(
        ReadMark.conversation_id == conversation.id, ReadMark.account_id == viewer.account_id,
    )).scalar_one_or_none() or 0


def unread_count(viewer, conversation):
    """Count the entries after the viewer's read mark that the chat shows `viewer` and someone else caused.

    Entries the viewer wrote or caused do not count (their replies to a proposed solution carry their
    account id), nor deleted messages. A key user counts only public entries, without the satisfaction
    question event, which their chat does not show in the log, nor an agent joining, which carries no
    news to read. As the chat's "New messages" separator does (static/chat/unread.js), a system event
    that follows the viewer's own event, with only system events between, is its consequence and
    does not count either ("Demande résolue" after the key user's "Solution validée").
    """
    read_seq = last_read_seq(viewer, conversation)
    # The entries before the read mark are read too, so that the first unread one can follow an
    # event of the viewer's that is already read.
    statement = select(
        Message.seq, Message.kind, Message.author_role, Message.author_account_id, Message.event_type,
        Message.deleted_at,
    ).where(
        Message.conversation_id == conversation.id, Message.seq > read_seq - UNREAD_LOOK_BACK_SEQS,
    ).order_by(Message.seq)
    if not viewer.is_agent:
        statement = statement.where(Message.visibility == Visibility.PUBLIC)
    entries = database().session.execute(statement).all()

    count = 0
    for index, entry in enumerate(entries):
        if entry.seq <= read_seq or entry.deleted_at is not None or entry.author_account_id == viewer.account_id:
            continue
        if not viewer.is_agent and entry.event_type in NOT_UNREAD_FOR_CUSTOMER_EVENTS:
            continue
        if _follows_own_event(entries, index, viewer.account_id):
            continue
        count += 1
    return count


def _follows_own_event(entries, index, account_id):
    """Tell whether system event `entries[index]` follows an event of `account_id`, with only
    system events between them."""
    if not _is_system_event(entries[index]):
        return False
    for previous in reversed(entries[:index]):
        if previous.kind != MessageKind.EVENT:
            return False
        if previous.author_account_id == account_id:
            return True
        if not _is_system_event(previous):
            return False
    return False


def _is_system_event(entry):
    return entry.kind == MessageKind.EVENT and entry.author_role in (AuthorRole.SYSTEM, None)


def json_body():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput("Le corps de la requête doit être un objet JSON. / The request body must be a JSON object.")
    return body


def whole_number(value, name):
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if number < 0:
        raise InvalidInput(f"{name} doit être un entier positif ou nul. / {name} must be a whole number.")
    return number


def visible_after(viewer, conversation, after_seq):
    rows = history(conversation.id, viewer, after_seq=after_seq, limit=HISTORY_LIMIT)
    payloads = [fanout.message_payload(conversation, row) for row in rows]
    return [payload for payload in payloads if fanout.may_receive(viewer, payload)]


# Routes.

@bp.get("/me")
@require_jwt("context")
def me():
    viewer = viewer_for(g.connect, project_arg())
    return jsonify({"account_id": viewer.account_id, "role": viewer.role, "project_key": viewer.project_key})


def portal_url(installation, settings, service_desk_id):
    """Return the portal page where a customer raises a request by form."""
    desk_id = service_desk_id or settings.get("service_desk_id")
    base = installation.base_url.rstrip("/")
    if desk_id and str(desk_id).isdigit():
        return f"{base}/servicedesk/customer/portal/{desk_id}"
    return f"{base}/servicedesk/customer/portals"


@bp.get("/eligibility")
@require_jwt("context")
def eligibility():
    """Tell the portal page whether the viewer may chat, and otherwise why not and where to turn."""
    viewer = viewer_for(g.connect, project_arg())
    installation = g.connect.installation
    settings = get_settings(installation.id)
    memberships = [] if viewer.is_agent else key_user_memberships(installation.id, viewer.account_id)
    reason, message = None, None
    if not viewer.is_agent and not memberships:
        reason, message = explain_refusal(installation, viewer.account_id)
        if reason is None:  # a membership that started or ended between the two reads
            reason, message = Rejection.NOT_KEY_USER, EXPLANATIONS[None]
    return jsonify({
        "may_chat": reason is None,
        "reason": reason,
        "message": localize(message, request.args.get("lang")) if reason else None,
        "organizations": [{"id": s.organization_id, "name": s.organization_name} for s in memberships],
        "channels": {
            "portal_url": portal_url(installation, settings, request.args.get("service_desk_id")),
            "support_email": settings.get("support_email"),
        },
    })


@bp.get("/start-form")
@require_jwt("context")
def start_form():
    viewer = viewer_for(g.connect)
    settings = get_settings(g.connect.installation.id)
    memberships = key_user_memberships(viewer.installation_id, viewer.account_id)
    organization_id = request.args.get("organization_id") or None
    chosen = subscription_for(viewer, organization_id) if organization_id or len(memberships) <= 1 else None
    labels = {
        Impact.BLOCKING: gettext("Bloquant"),
        Impact.DEGRADED: gettext("Fonctionnement dégradé"),
        Impact.QUESTION: gettext("Question"),
    }
    return jsonify({
        "organizations": [{"id": s.organization_id, "name": s.organization_name,
                           "product_areas": areas_of(s, settings)} for s in memberships],
        "organization_id": chosen.organization_id if chosen else None,
        # Without a chosen organisation (a key user of several), the form requests one first.
        "product_areas": areas_of(chosen, settings) if chosen else [],
        "impacts": [{"value": impact, "label": labels[impact]} for impact in Impact.ALL],
        # The site's extra fields (addon.faq.statement), labelled in both languages for the page's switch.
        "fields": [{name: field[name] for name in ("key", "label_fr", "label_en", "type", "options", "required")}
                   for field in settings.get("start_form_fields") or []],
    })


@bp.post("/chats")
@require_jwt("context")
def create_chat():
    body = json_body()
    viewer = viewer_for(g.connect)
    conversation = start_chat(
        viewer, summary=body.get("summary"), product_area=body.get("product_area"),
        impact=body.get("impact"), message=body.get("message"),
        client_message_id=body.get("client_message_id"), organization_id=body.get("organization_id"),
        extra_fields=body.get("fields"), shown_articles=body.get("shown_articles"),
        continue_out_of_scope=body.get("continue_out_of_scope") is True, lang=request.args.get("lang"),
    )
    return jsonify({"conversation": conversation_json(conversation, viewer=viewer, with_sla=True)}), 201


@bp.get("/chats")
@require_jwt("context")
def list_chats():
    viewer = viewer_for(g.connect, project_arg())
    if project_arg():
        require_agent(viewer)
    chats = [conversation_json(c, unread_count(viewer, c), viewer) for c in conversations_of(viewer)]
    return jsonify({"chats": chats})


@bp.get("/chats/by-issue/<issue_key>")
@require_jwt("context")
def chat_by_issue(issue_key):
    viewer = viewer_for(g.connect, issue_key.rsplit("-", 1)[0])
    if project_arg():
        # The agent panel names the project; the portal's request panel does not.
        require_agent(viewer)
    conversation = access_conversation_by_issue(viewer, issue_key)
    return jsonify({"conversation": conversation_json(conversation, unread_count(viewer, conversation), viewer,
                                                      with_sla=True)})


@bp.get("/chats/<int:conversation_id>/messages")
@require_jwt("context")
def list_messages(conversation_id):
    viewer, conversation = load_conversation(conversation_id)
    after_seq = whole_number(request.args.get("after", 0), "after")
    return jsonify({"conversation_id": conversation.id, "messages": visible_after(viewer, conversation, after_seq)})


@bp.post("/chats/<int:conversation_id>/messages")
@require_jwt("context")
def send_message(conversation_id):
    body = json_body()
    viewer, conversation = load_conversation(conversation_id)
    require_writer(viewer, conversation)
    message, created = post_message(
        viewer, conversation.id, body.get("body"),
        visibility=body.get("visibility") or Visibility.PUBLIC,
        client_message_id=body.get("client_message_id"),
    )
    return jsonify({
        "ack": {"conversation_id": conversation.id, "client_message_id": message.client_message_id,
                "seq": message.seq, "id": message.id},
        "message": fanout.message_payload(conversation, message),
    }), 201 if created else 200


# Forge's invokeRemote gives a remote 25 s per call, so a long-poll through it must return well before.
FORGE_LONG_POLL_MAX_SECS = 20.0


def long_poll_secs():
    """Return how long a long-poll of this request may wait: LONG_POLL_SECS, capped for calls from Forge."""
    secs = current_app.config["LONG_POLL_SECS"]
    if getattr(g, "forge", None) is not None:
        return min(secs, FORGE_LONG_POLL_MAX_SECS)
    return secs


@bp.get("/chats/<int:conversation_id>/poll")
@require_jwt("context")
def poll(conversation_id):
    viewer, conversation = load_conversation(conversation_id)
    after_seq = whole_number(request.args.get("after", 0), "after")
    # The SLA version the client shows; a client that sends none gets no SLA frame.
    sla_version = request.args.get("sla")
    require_writer(viewer, conversation)
    if not viewer.is_agent:
        # A key user on the long-poll fallback is as present as one with a socket.
        mark_customer_seen([conversation.id])

    def check():
        # Live delivery stops for a key user removed, or whose subscription ended, while waiting.
        require_writer(viewer, conversation)
        found = visible_after(viewer, conversation, after_seq)
        frames = []
        if sla_version is not None:
            sla_frame = poll_frame(conversation, viewer, sla_version)
            frames = [sla_frame] if sla_frame else []
        # End the read transaction, so that the next check reads what was committed meanwhile.
        database().remove_session()
        return (found, frames) if found or frames else None

    hub = current_app.extensions["hub"]
    messages, frames = hub.wait(viewer, conversation, check, long_poll_secs()) or ([], [])
    # `frames` are the live frames other than messages: today the viewer's SLA frame.
    return jsonify({"conversation_id": conversation.id, "messages": messages, "frames": frames})


@bp.post("/chats/<int:conversation_id>/read")
@require_jwt("context")
def mark_read(conversation_id):
    body = json_body()
    viewer, conversation = load_conversation(conversation_id)
    seq = current_app.extensions["hub"].mark_read(viewer, conversation, whole_number(body.get("seq"), "seq"))
    return jsonify({"conversation_id": conversation.id, "seq": seq})


@bp.post("/chats/<int:conversation_id>/typing")
@require_jwt("context")
def typing(conversation_id):
    # The body is optional: {"visibility": "internal"} while an agent writes an internal note.
    body = request.get_json(silent=True)
    visibility = body.get("visibility") if isinstance(body, dict) else None
    viewer, conversation = load_conversation(conversation_id)
    require_writer(viewer, conversation)
    current_app.extensions["hub"].typing(viewer, conversation, visibility)
    return "", 204


# The transcript route is on this blueprint, so that it has the chat's authorization and error rendering.
from . import transcript_api  # noqa: E402,F401
