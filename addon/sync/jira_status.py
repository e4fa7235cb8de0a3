"""Status changes of a chat request, from Jira's issue_updated changelog, as chat events.

Resolved, closed and reopened are public events in the reader's language. Any other status is an
internal event named after the status, because workflow names are the support team's vocabulary.
Each changelog is recorded once, and a change delivered late never overwrites a newer state.
"""

import logging
from datetime import datetime, timezone

from sqlalchemy import select

from ..chat import fanout
from ..chat.actions import database, find_by_client_id, insert_message, lock_conversation
from ..chat.models import AuthorRole, ConversationState, Message, MessageKind, Origin, SyncState, Visibility
from ..models import utcnow
from ..sla import clock as sla_clock

log = logging.getLogger(__name__)

CHANGELOG_KEY_PREFIX = "jira-changelog:"
# event_type, French text (the screen's msgid), visibility, for each chat state a status leads to.
RESOLVED_EVENT = ("request_resolved", "Demande résolue", Visibility.PUBLIC)
CLOSED_EVENT = ("request_closed", "Demande clôturée", Visibility.PUBLIC)
REOPENED_EVENT = ("request_reopened", "Demande rouverte", Visibility.PUBLIC)
STATUS_EVENT_TYPE = "status_changed"
STATUS_EVENT_TYPES = (RESOLVED_EVENT[0], CLOSED_EVENT[0], REOPENED_EVENT[0], STATUS_EVENT_TYPE)


def record_status_changes(event, conversation_id):
    """Add an event message for each status change of a jira:issue_updated and update the state."""
    changelog = event.payload.get("changelog") if isinstance(event.payload.get("changelog"), dict) else {}
    items = [item for item in changelog.get("items") or []
             if isinstance(item, dict) and "status" in (item.get("fieldId"), item.get("field"))]
    for index, item in enumerate(items):
        key = None
        if changelog.get("id"):
            key = f"{CHANGELOG_KEY_PREFIX}{changelog['id']}" + (f":{index}" if index else "")
        _record_status(event, conversation_id, item, key)


def state_of(status_name, category_key):
    """Map a Jira status to the chat state: Closed → closed, Resolved or category done → resolved."""
    name = (status_name or "").strip().casefold()
    if name == "closed":
        return ConversationState.CLOSED
    if name == "resolved" or category_key == "done":
        return ConversationState.RESOLVED
    return ConversationState.OPEN


def _record_status(event, conversation_id, item, key):
    to_name = item.get("toString")
    if not isinstance(to_name, str) or not to_name:
        return
    moment = _event_time(event)
    actor = event.payload.get("user") if isinstance(event.payload.get("user"), dict) else {}
    context = f"{event.name} status {to_name!r} on {event.issue_key} (client_key {event.client_key})"

    with database().transaction() as session:
        conversation = lock_conversation(session, conversation_id)
        if key and find_by_client_id(session, conversation_id, key) is not None:
            log.info("Webhook %s: status change already recorded", context)
            return
        new_state = state_of(to_name, _category_of(event.payload, to_name))
        event_type, body, visibility = _status_event(conversation.state, new_state, to_name)
        if _newer_status_recorded(session, conversation_id, moment):
            # An older change delivered late stays in the history but does not move the state.
            log.info("Webhook %s: a newer status change is already applied; state kept", context)
        else:
            conversation.state = new_state
            conversation.jira_status = to_name
            sla_clock.on_status(session, conversation)
        message = insert_message(
            session, conversation, client_message_id=key,
            author_account_id=actor.get("accountId"), author_role=AuthorRole.SYSTEM,
            author_name=actor.get("displayName"), visibility=visibility, kind=MessageKind.EVENT,
            event_type=event_type, body=body, origin=Origin.JIRA, sync_state=SyncState.NOT_APPLICABLE,
            created_at=moment,
        )
        payload = fanout.message_payload(conversation, message)
        state = conversation.state
    log.info("Webhook %s: event %s recorded (seq %s), conversation %s is %s",
             context, event_type, message.seq, conversation_id, state)
    fanout.publish(conversation.installation_id, conversation_id, payload)


def _status_event(previous_state, new_state, to_name):
    if new_state == ConversationState.RESOLVED:
        return RESOLVED_EVENT
    if new_state == ConversationState.CLOSED:
        return CLOSED_EVENT
    if previous_state in (ConversationState.RESOLVED, ConversationState.CLOSED):
        return REOPENED_EVENT
    # Workflow status names are the support team's vocabulary, not always the customer's.
    return STATUS_EVENT_TYPE, to_name, Visibility.INTERNAL


def _category_of(payload, to_name):
    """Return the status category key from the issue's fields when they show the same status."""
    issue = payload.get("issue") if isinstance(payload.get("issue"), dict) else {}
    status = (issue.get("fields") or {}).get("status")
    if not isinstance(status, dict) or status.get("name") != to_name:
        return None
    category = status.get("statusCategory")
    return category.get("key") if isinstance(category, dict) else None


def _event_time(event):
    timestamp = event.payload.get("timestamp")
    if isinstance(timestamp, (int, float)) and timestamp > 0:
        return datetime.fromtimestamp(timestamp / 1000, tz=timezone.utc)
    return utcnow()


def _newer_status_recorded(session, conversation_id, moment):
    statement = select(Message.created_at).where(
        Message.conversation_id == conversation_id, Message.kind == MessageKind.EVENT,
        Message.event_type.in_(STATUS_EVENT_TYPES),
    ).order_by(Message.created_at.desc()).limit(1)
    latest = session.execute(statement).scalar_one_or_none()
    if latest is None:
        return False
    return latest > moment
