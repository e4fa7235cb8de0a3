"""Claiming, transferring and re-offering chats, and routing a chat when it starts.

A claim makes the agent the chat's holder and the request's Jira assignee, and shows the key user
who joined. A transfer sends the chat to another agent or group with a note that stays internal.
Every change happens under the routing row's lock, so two agents claiming at once get one winner
and one clear refusal. Jira is called after the commit: a failed assignment leaves the claim in
place and is reported to the agent, because the chat must not wait for Jira.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app

from ..atlassian.installations import get_active_installation
from ..atlassian.jira_client import jira_client_for
from ..atlassian.jira_errors import JiraError, JiraNotFound
from ..chat import fanout
from ..chat.access import display_name_of, is_agent
from ..chat.actions import lock_conversation
from ..chat.models import AuthorRole, ConversationState, Visibility
from ..chat.solution_records import announce, record_event
from ..errors import AddonError, InvalidInput, NotFound
from ..models import Installation, utcnow
from ..settings import get_settings
from . import presence, routing
from .models import ChatRouting, RoutingState

log = logging.getLogger(__name__)

EVENT_AGENT_JOINED = "agent_joined"
EVENT_TRANSFERRED = "chat_transferred"
NOTE_MAX_CHARS = 2000
ROUTING_FRAME = "routing"


class ClaimConflict(AddonError):
    code = "claim_conflict"
    status = 409


@dataclass(frozen=True)
class Outcome:
    """The result of a claim or transfer: the routing view, and a warning when Jira refused the assignee."""

    view: dict
    warning: str | None = None


def _database():
    return current_app.extensions["database"]


def routing_view(row):
    if row is None:
        return {"state": None}
    return {
        "state": row.state,
        "group": row.group_name,
        "offered_to": list(row.offered_to or []),
        "directed": bool(row.directed),
        "offer_round": row.offer_round,
        "offered_at": row.offered_at.isoformat() if row.offered_at else None,
        "reoffer_at": row.reoffer_at.isoformat() if row.reoffer_at else None,
        "assignee": {"account_id": row.assignee_account_id, "name": row.assignee_name}
        if row.assignee_account_id else None,
        "claimed_at": row.claimed_at.isoformat() if row.claimed_at else None,
        "transfer_note": row.transfer_note,
    }


def routing_frame(conversation, row):
    # Marked internal: fanout.may_receive gives it to agents only.
    return {"type": ROUTING_FRAME, "conversation_id": conversation.id, "issue_key": conversation.issue_key,
            "visibility": Visibility.INTERNAL, "routing": routing_view(row)}


def first_name(display_name):
    return (display_name or "").split(" ")[0] or display_name or ""


def _require_open(conversation):
    if conversation.state != ConversationState.OPEN:
        raise InvalidInput(
            f"La demande {conversation.issue_key} n'est plus ouverte : la discussion ne peut plus être prise en charge. "
            f"/ Request {conversation.issue_key} is no longer open: the chat can no longer be claimed."
        )


def _assign_in_jira(installation, issue_key, account_id):
    """Set the request's Jira assignee (None unassigns); return a warning text on failure, else None."""
    try:
        with jira_client_for(installation) as jira:
            jira.request("PUT", f"/rest/api/3/issue/{issue_key}/assignee", json={"accountId": account_id},
                         idempotent=True)
        return None
    except JiraError as error:
        log.warning("Could not set the assignee of %s on %s: %s", issue_key, installation.client_key, error)
        return (f"La discussion est à vous, mais Jira n'a pas accepté l'attribution de {issue_key} ; "
                f"attribuez la demande dans Jira. / The chat is yours, but Jira refused to assign {issue_key}; "
                f"assign the request in Jira.")


# The Connect glance of the issue view shows this issue property as its status (a lozenge).
GLANCE_MODULE_KEY = "chat-glance"
# A badge rather than a word: Jira shows one label to agents of every language.
GLANCE_WAITING = {"type": "badge", "value": {"label": "1"}}


def _set_glance_status(installation, issue_key, status):
    """Show `status` on the request's chat glance; a failure is logged, the chat goes on."""
    if installation is None:
        return
    key = f"com.atlassian.jira.issue:{current_app.config['ADDON_KEY']}:{GLANCE_MODULE_KEY}:status"
    try:
        with jira_client_for(installation) as jira:
            jira.set_issue_property(issue_key, key, status)
    except JiraError as error:
        log.warning("Could not set the glance status of %s on %s: %s", issue_key, installation.client_key, error)


def _claimed_glance(viewer):
    return {"type": "lozenge", "value": {"label": first_name(viewer.display_name) or "✓", "type": "success"}}


# -- routing a new chat ---------------------------------------------------------------------------

def route_new_chat(conversation_id):
    """Offer a chat that just started to its group's online agents; log a failure rather than raise it."""
    # NOTE: this runs inside the chat start request, and the group's member list (cached a minute)
    # may be read from Jira while the conversation row is locked; a slow Jira slows the start.
    try:
        with _database().transaction() as session:
            conversation = lock_conversation(session, conversation_id)
            installation = get_active_installation_by_id(conversation.installation_id)
            if installation is None:
                return None
            settings = get_settings(conversation.installation_id)
            row = routing.offer(session, installation, conversation, routing.routing_of(settings))
            frame = routing_frame(conversation, row)
        fanout.publish(conversation.installation_id, conversation.id, frame)
        _set_glance_status(installation, conversation.issue_key, GLANCE_WAITING)
        return row
    except Exception:  # noqa: BLE001  (a chat must start even when routing fails)
        log.exception("Routing of conversation %s failed; it stays visible to every agent", conversation_id)
        return None


def get_active_installation_by_id(installation_id):
    installation = _database().session.get(Installation, installation_id)
    return installation if installation is not None and installation.is_active else None


# -- claim ----------------------------------------------------------------------------------------

def claim(viewer, conversation):
    """Make `viewer` (an agent) the holder of the chat; idempotent for its current holder."""
    settings = get_settings(conversation.installation_id)
    limits = routing.routing_of(settings)
    installation = get_active_installation(viewer.client_key)
    with _database().transaction() as session:
        locked = lock_conversation(session, conversation.id)
        _require_open(locked)
        row = session.get(ChatRouting, locked.id, with_for_update=True, populate_existing=True)
        if row is not None and row.state == RoutingState.CLAIMED:
            if row.assignee_account_id == viewer.account_id:
                return Outcome(routing_view(row))
            raise ClaimConflict(
                f"{row.assignee_name or row.assignee_account_id} a déjà pris cette discussion en charge. "
                f"/ {row.assignee_name or row.assignee_account_id} has already claimed this chat."
            )
        if not routing.has_capacity(session, locked.installation_id, viewer.account_id,
                                    limits["max_chats_per_agent"]):
            raise ClaimConflict(
                f"Vous avez déjà {limits['max_chats_per_agent']} discussions ouvertes, le maximum de ce site ; "
                f"terminez-en une ou transférez-la. / You already hold {limits['max_chats_per_agent']} open chats, "
                f"this site's maximum; finish or transfer one first.",
                code="capacity_reached",
            )
        if row is None:
            row = ChatRouting(conversation_id=locked.id, installation_id=locked.installation_id,
                              group_name=routing.rule_for(limits, locked.product_area)["group"], offer_round=1)
            session.add(row)
        row.state = RoutingState.CLAIMED
        row.assignee_account_id = viewer.account_id
        row.assignee_name = viewer.display_name
        row.claimed_at = utcnow()
        row.reoffer_at = None
        # The body is the agent's first name; each client words the event in its own language.
        event = record_event(
            session, locked, EVENT_AGENT_JOINED, first_name(viewer.display_name), visibility=Visibility.PUBLIC,
            author_account_id=viewer.account_id, author_role=AuthorRole.AGENT, author_name=viewer.display_name,
            traced=False, key=f"claim-{locked.id}-{row.offer_round}-{viewer.account_id}",
        )
        session.flush()
        payloads = [fanout.message_payload(locked, event), routing_frame(locked, row)]
        view = routing_view(row)
    announce(locked, payloads)
    log.info("Chat %s claimed by %s", locked.issue_key, viewer.account_id)
    warning = _assign_in_jira(installation, locked.issue_key, viewer.account_id) if installation else None
    _set_glance_status(installation, locked.issue_key, _claimed_glance(viewer))
    return Outcome(view, warning)


# -- transfer -------------------------------------------------------------------------------------

def clean_note(value):
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > NOTE_MAX_CHARS:
        raise InvalidInput(
            f"La note de transfert doit être un texte d'au plus {NOTE_MAX_CHARS} caractères. "
            f"/ The transfer note must be a text of at most {NOTE_MAX_CHARS} characters."
        )
    return value.strip()


def transfer(viewer, conversation, *, to_account_id=None, to_group=None, note=None):
    """Send the chat to another agent or group, with an internal note; the chat is offered again."""
    note = clean_note(note)
    if bool(to_account_id) == bool(to_group):
        raise InvalidInput(
            "Indiquez soit un technicien (to_account_id), soit un groupe (to_group). "
            "/ Give either an agent (to_account_id) or a group (to_group)."
        )
    installation = get_active_installation(viewer.client_key)
    if installation is None:
        raise NotFound("Site introuvable. / Site not found.")
    if to_group and not _group_exists(installation, to_group):
        raise InvalidInput(f"Groupe Jira inconnu : {to_group!r}. / Unknown Jira group: {to_group!r}.")
    receiver = f"au groupe {to_group}"
    if to_account_id:
        name = display_name_of(installation, to_account_id)
        if name is None or not is_agent(installation, to_account_id, conversation.project_key):
            raise InvalidInput(
                f"{to_account_id!r} n'est pas un technicien du projet {conversation.project_key}. "
                f"/ {to_account_id!r} is not an agent of project {conversation.project_key}."
            )
        receiver = f"à {name}"

    settings = get_settings(conversation.installation_id)
    limits = routing.routing_of(settings)
    with _database().transaction() as session:
        locked = lock_conversation(session, conversation.id)
        _require_open(locked)
        current = session.get(ChatRouting, locked.id, populate_existing=True)
        group = to_group or (current.group_name if current else None)
        row = routing.offer(session, installation, locked, limits, group_name=group)
        if to_account_id:
            # A transfer to a person goes to that person even when busy or at their limit. If they do
            # not claim it, the group gets the chat at the next re-offer.
            row.offered_to = [to_account_id]
            row.directed = True
            row.reoffer_at = utcnow() + timedelta(seconds=limits["reoffer_after_secs"])
        row.transferred_by_account_id = viewer.account_id
        row.transfer_note = note or None
        # The event is traced on the request as an internal note, worded as the add-on's other notes.
        body = f"Discussion transférée par {viewer.display_name or viewer.account_id} {receiver}."
        if note:
            body += f" Note : {note}"
        event = record_event(
            session, locked, EVENT_TRANSFERRED, body, visibility=Visibility.INTERNAL,
            author_account_id=viewer.account_id, author_role=AuthorRole.AGENT, author_name=viewer.display_name,
            traced=True, key=f"transfer-{locked.id}-{row.offer_round}",
        )
        session.flush()
        payloads = [fanout.message_payload(locked, event), routing_frame(locked, row)]
        view = routing_view(row)
    announce(locked, payloads)
    log.info("Chat %s transferred by %s to %s", locked.issue_key, viewer.account_id,
             "a group" if to_group else "an agent")
    warning = _assign_in_jira(installation, locked.issue_key, None)
    if to_account_id and not presence.is_available(installation.id, to_account_id):
        warning = (f"{name} n'est pas disponible : la discussion l'attend, puis sera proposée au groupe après "
                   f"le délai de relance. / {name} is not available: the chat waits for them, then goes to "
                   f"the group after the re-offer delay.")
    _set_glance_status(installation, locked.issue_key, GLANCE_WAITING)
    return Outcome(view, warning)


def _group_exists(installation, group_name):
    try:
        routing.group_members(installation, group_name)
        return True
    except JiraNotFound:
        return False


# -- re-offer -------------------------------------------------------------------------------------

def reoffer_due(now=None):
    """Offer again every unclaimed chat whose delay ran out; return how many were offered."""
    now = now or utcnow()
    count = 0
    due = [(row.conversation_id, row.installation_id) for row in routing.due_offers(_database().session, now)]
    _database().session.rollback()
    for conversation_id, installation_id in due:
        installation = get_active_installation_by_id(installation_id)
        if installation is None:
            continue
        limits = routing.routing_of(get_settings(installation_id))
        with _database().transaction() as session:
            conversation = lock_conversation(session, conversation_id)
            row = session.get(ChatRouting, conversation_id, with_for_update=True, populate_existing=True)
            # Another process, or a claim, got there first.
            if row is None or row.state != RoutingState.OFFERED or row.reoffer_at is None or row.reoffer_at > now:
                continue
            row = routing.offer(session, installation, conversation, limits, group_name=row.group_name, now=now)
            frame = routing_frame(conversation, row)
        fanout.publish(installation_id, conversation_id, frame)
        count += 1
    return count
