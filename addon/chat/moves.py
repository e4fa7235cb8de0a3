"""Moving a conversation out of the chat, and bringing it back.

An agent moves a conversation, with a required reason, to one of four targets:
- mail: the key user can no longer write in the chat, and later agent replies reach them as
  public comments, which JSM e-mails;
- appointment: the agent proposes up to three slots, the key user picks one in the chat, and the
  invitation is attached to the request (moves_appointment.py). The chat stays open;
- the ERP's own tool: the chat shows the tool's message and link from the settings. The chat
  stays open;
- classic ticket: the key user can no longer write in the chat, and the request continues in
  the portal.

Each move records a ConversationMove row, an internal event with the reason and a public event
as notice. The outbox writes both as comments on the request, as the app user. An agent can bring
the conversation back to the chat, which ends the move and traces it the same way. One move at
a time is active, which the conversation's lock guarantees.
"""

import logging

from sqlalchemy import select

from ..errors import InvalidInput, NotFound, PermissionDenied
from ..models import Installation
from ..settings import get_settings
from ..sla.deadlines import sla_now
from ..sla.policy import calendar_from_settings
from . import fanout, moves_sla, moves_text
from .actions import database, lock_conversation
from .models import AuthorRole, ConversationState, Visibility
from .moves_models import ConversationMove, MoveState, MoveTarget
from .solution_records import Conflict, announce, record_event

log = logging.getLogger(__name__)

MOVE_FRAME = "move"
REASON_EVENT = "move_reason"
ENDED_EVENT = "move_ended"
ENDED_REASON_EVENT = "move_ended_reason"
REASON_MAX_CHARS = 1000


def moved_event(target):
    """Return the event type of the public notice of a move to `target`, e.g. "moved_mail"."""
    return f"moved_{target}"


# -- reading ------------------------------------------------------------------------------------

def active_move(session, conversation_id):
    statement = (select(ConversationMove)
                 .where(ConversationMove.conversation_id == conversation_id,
                        ConversationMove.state == MoveState.ACTIVE)
                 .order_by(ConversationMove.id.desc()).limit(1).execution_options(populate_existing=True))
    return session.execute(statement).scalar_one_or_none()


def load_move(session, conversation_id, move_id):
    move = session.get(ConversationMove, move_id, populate_existing=True)
    if move is None or move.conversation_id != conversation_id:
        raise NotFound(f"Déplacement introuvable ({move_id}). / Move not found ({move_id}).")
    return move


def time_zone_of(installation_id):
    """Return the time zone of the site's SLA calendar, in which slots are proposed and shown."""
    return calendar_from_settings(get_settings(installation_id)).timezone


def request_portal_url(installation, conversation):
    """Return the request's page on the customer portal."""
    return (f"{installation.base_url.rstrip('/')}/servicedesk/customer/portal/{conversation.service_desk_id}/"
            f"{conversation.issue_key}")


def _iso(moment):
    return moment.isoformat() if moment is not None else None


def move_view(move, conversation, viewer=None):
    """Return the move as the chat's readers see it; agents (viewer.is_agent) also get the reason."""
    if move is None:
        return None
    zone = time_zone_of(conversation.installation_id)
    view = {
        "id": move.id,
        "target": move.target,
        "state": move.state,
        "closes_chat": move.state == MoveState.ACTIVE and move.target in MoveTarget.CLOSING_CHAT,
        "moved_by": {"account_id": move.moved_by_account_id, "name": move.moved_by_name},
        "moved_at": _iso(move.moved_at),
        "ended_at": _iso(move.ended_at),
        "erp_tool": move.erp_tool,
        "time_zone": zone.key,
        "duration_minutes": move.duration_minutes,
        "slots": [{"start": start, "local": moves_sla.parse_utc(start).astimezone(zone).isoformat()}
                  for start in move.slots or []],
        "slot_start": _iso(move.slot_start),
        "slot_local": move.slot_start.astimezone(zone).isoformat() if move.slot_start else None,
        "chosen_at": _iso(move.chosen_at),
        "invitation_available": bool(move.ics_text),
        "portal_request_url": None,
    }
    if move.target == MoveTarget.CLASSIC_TICKET:
        installation = database().session.get(Installation, conversation.installation_id)
        view["portal_request_url"] = request_portal_url(installation, conversation)
    if viewer is not None and viewer.is_agent:
        view["reason"] = move.reason
        view["sla_paused_until"] = _iso(move.sla_paused_until)
    return view


def current_view(conversation, viewer):
    """Return the conversation's active move for `viewer`, or None when it stays in the chat."""
    return move_view(active_move(database().session, conversation.id), conversation, viewer)


def move_frame(conversation, move):
    # Live frames carry the public view; agents read the reason from the internal event.
    return {"type": MOVE_FRAME, "conversation_id": conversation.id, "issue_key": conversation.issue_key,
            "move": move_view(move, conversation) if move.state == MoveState.ACTIVE else None,
            "ended_move_id": move.id if move.state == MoveState.ENDED else None}


# -- checks -------------------------------------------------------------------------------------

def check_chat_open(session, viewer, conversation):
    """Raise Conflict when the key user may not write because the conversation moved out of the chat.

    Agents always write: after a move to mail their public replies become comments JSM e-mails.
    Called by post_message under the conversation's lock.
    """
    if viewer.is_agent:
        return
    move = active_move(session, conversation.id)
    if move is None or move.target not in MoveTarget.CLOSING_CHAT:
        return
    if move.target == MoveTarget.MAIL:
        raise Conflict("La discussion est fermée : cette demande se poursuit par e-mail. Répondez à l'e-mail du "
                       "support. / The chat is closed: this request continues by e-mail. Reply to the support "
                       "team's e-mail.", code="chat_moved")
    raise Conflict(f"La discussion est fermée : la demande {conversation.issue_key} se poursuit en ticket "
                   f"classique sur le portail. Ajoutez-y un commentaire. / The chat is closed: request "
                   f"{conversation.issue_key} continues as a classic ticket on the portal. Add a comment there.",
                   code="chat_moved")


def clean_reason(reason, name="reason"):
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput(f"{name} manquant : indiquez pourquoi. / Missing {name}: say why.")
    reason = reason.strip()
    if len(reason) > REASON_MAX_CHARS:
        raise InvalidInput(f"{name} trop long ({len(reason)} caractères, {REASON_MAX_CHARS} au plus). "
                           f"/ {name} too long ({len(reason)} characters, at most {REASON_MAX_CHARS}).")
    return reason


def _require_agent(viewer):
    if not viewer.is_agent:
        raise PermissionDenied("Seuls les techniciens du support peuvent déplacer une discussion. "
                               "/ Only support agents can move a chat.")


def erp_tool_of(settings):
    """Return the configured ERP tool {name, message_fr, message_en, link}, or raise InvalidInput."""
    tool = settings.get("erp_tool")
    if not tool or not tool.get("name") or not tool.get("link"):
        raise InvalidInput("L'outil de l'ERP n'est pas configuré : un administrateur doit renseigner son nom, son "
                           "message et son lien dans les réglages. / The ERP tool is not configured: an "
                           "administrator must set its name, message and link in the settings.")
    return dict(tool)


# -- moving -------------------------------------------------------------------------------------

def move(viewer, conversation, target, reason, *, slots=None, duration_minutes=None):
    """Move `conversation` (loaded through an access check) to `target` and return the ConversationMove.

    `slots` (appointment only) are 1 to SLOTS_MAX date-times, read in the SLA calendar's time
    zone when they have no offset.
    """
    _require_agent(viewer)
    if target not in MoveTarget.ALL:
        raise InvalidInput(f"Destination inconnue : {str(target)[:40]!r} ; choisissez parmi {', '.join(MoveTarget.ALL)}. "
                           f"/ Unknown target {str(target)[:40]!r}; choose one of {', '.join(MoveTarget.ALL)}.")
    reason = clean_reason(reason)
    settings = get_settings(conversation.installation_id)
    calendar = calendar_from_settings(settings)
    now = sla_now()
    fields = {}
    if target == MoveTarget.APPOINTMENT:
        from .moves_appointment import clean_duration, clean_slots

        starts = clean_slots(slots, calendar, now)
        fields["slots"] = [moves_sla.iso_utc(start) for start in starts]
        fields["duration_minutes"] = clean_duration(duration_minutes, settings)
    elif slots:
        raise InvalidInput("Les créneaux ne servent qu'au rendez-vous. / Slots are for an appointment only.")
    if target == MoveTarget.ERP_TOOL:
        fields["erp_tool"] = erp_tool_of(settings)
    database().session.commit()  # ends the read transaction, as solutions.end_read explains

    with database().transaction() as session:
        conversation = lock_conversation(session, conversation.id)
        if conversation.state == ConversationState.CLOSED:
            raise Conflict(f"La demande {conversation.issue_key} est clôturée : la discussion ne peut plus être "
                           f"déplacée. / Request {conversation.issue_key} is closed: the chat cannot be moved any "
                           "more.", code="request_closed")
        current = active_move(session, conversation.id)
        if current is not None:
            raise Conflict(f"La discussion est déjà déplacée ({current.target}) : ramenez-la d'abord dans la "
                           f"discussion. / The chat is already moved ({current.target}): bring it back first.",
                           code="already_moved")
        moved = ConversationMove(conversation_id=conversation.id, target=target, state=MoveState.ACTIVE,
                                 reason=reason, moved_by_account_id=viewer.account_id,
                                 moved_by_name=viewer.display_name, moved_at=now, **fields)
        session.add(moved)
        session.flush()
        installation = session.get(Installation, conversation.installation_id)
        notice = moves_text.notice_comment(
            moved, [moves_sla.parse_utc(start) for start in moved.slots or []], calendar.timezone,
            request_portal_url(installation, conversation))
        events = [
            record_event(session, conversation, REASON_EVENT, moves_text.reason_comment(moved),
                         visibility=Visibility.INTERNAL, author_account_id=viewer.account_id,
                         author_role=AuthorRole.AGENT, author_name=viewer.display_name, key=f"move-{moved.id}:reason"),
            record_event(session, conversation, moved_event(target), notice, visibility=Visibility.PUBLIC,
                         author_account_id=viewer.account_id, author_role=AuthorRole.AGENT,
                         author_name=viewer.display_name, key=f"move-{moved.id}:notice"),
        ]
        payloads = [fanout.message_payload(conversation, event) for event in events]
        payloads.append(move_frame(conversation, moved))

    log.info("Conversation %s (%s) moved to %s by %s (move %s)", conversation.id, conversation.issue_key,
             target, viewer.account_id, moved.id)
    announce(conversation, payloads)
    return moved


def bring_back(viewer, conversation_id, reason=None):
    """End the active move so the conversation continues in the chat; return the ended move.

    The reason is optional; when given, it is traced as an internal comment. An SLA clock held
    until an appointment that has not started yet resumes now.
    """
    _require_agent(viewer)
    if reason is not None and (not isinstance(reason, str) or reason.strip()):
        reason = clean_reason(reason)
    else:
        reason = None
    now = sla_now()

    with database().transaction() as session:
        conversation = lock_conversation(session, conversation_id)
        moved = active_move(session, conversation.id)
        if moved is None:
            raise Conflict("La discussion n'est pas déplacée : elle se poursuit déjà ici. "
                           "/ The chat is not moved: it already continues here.", code="not_moved")
        moved.state = MoveState.ENDED
        moved.ended_at = now
        moved.ended_by_account_id = viewer.account_id
        moved.ended_by_name = viewer.display_name
        moves_sla.release(session, conversation, moved, now)
        agent_name = viewer.display_name or viewer.account_id
        events = []
        if reason:
            events.append(record_event(session, conversation, ENDED_REASON_EVENT,
                                       moves_text.ended_reason_comment(moved, agent_name, reason),
                                       visibility=Visibility.INTERNAL, author_account_id=viewer.account_id,
                                       author_role=AuthorRole.AGENT, author_name=viewer.display_name,
                                       key=f"move-{moved.id}:ended-reason"))
        events.append(record_event(session, conversation, ENDED_EVENT, moves_text.ended_comment(moved, agent_name),
                                   visibility=Visibility.PUBLIC, author_account_id=viewer.account_id,
                                   author_role=AuthorRole.AGENT, author_name=viewer.display_name,
                                   key=f"move-{moved.id}:ended"))
        payloads = [fanout.message_payload(conversation, event) for event in events]
        payloads.append(move_frame(conversation, moved))

    log.info("Conversation %s (%s) brought back to the chat by %s (move %s, %s)", conversation.id,
             conversation.issue_key, viewer.account_id, moved.id, moved.target)
    announce(conversation, payloads)
    return moved
