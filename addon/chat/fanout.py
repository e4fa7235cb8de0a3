"""Who receives what, live: the one place that decides the recipients of a chat message.

Messages travel after the database commit through the publish/subscribe layer (in-process, or
Redis across processes) on one channel per conversation. Every process's socket hub filters each
message through `may_receive` before sending it to a socket, so an internal note never reaches a
customer, whatever process the customer's socket lives in.
"""

import logging

from flask import current_app

from ..errors import InvalidInput, PermissionDenied
from ..realtime import PubSubUnavailable
from .models import Visibility

log = logging.getLogger(__name__)

# Frames about Jira delivery, the customer's connection and the SLA clock are for the support side only.
AGENT_ONLY_TYPES = ("sync", "presence", "sla")


def channel_of(installation_id, conversation_id):
    return f"conversation:{installation_id}:{conversation_id}"


def message_payload(conversation, message):
    """Return the JSON form of a message, as clients receive it."""
    payload = _message_fields(conversation, message)
    if message.event_type == "attachment":
        # A file sent in the chat (addon/chat/attachments.py): its name, size, link and Jira state.
        from .attachments import view_of_message

        payload["attachment"] = view_of_message(message)
    return payload


def _message_fields(conversation, message):
    return {
        "type": "message",
        "conversation_id": conversation.id,
        "issue_key": conversation.issue_key,
        "seq": message.seq,
        "id": message.id,
        "client_message_id": message.client_message_id,
        "kind": message.kind,
        "event_type": message.event_type,
        "author": {
            "account_id": message.author_account_id,
            "role": message.author_role,
            "name": message.author_name,
        },
        "visibility": message.visibility,
        "body": "" if message.deleted_at else message.body,
        "created_at": message.created_at.isoformat(),
        "edited_at": message.edited_at.isoformat() if message.edited_at else None,
        "deleted": message.deleted_at is not None,
        "origin": message.origin,
        "sync_state": message.sync_state,
        "jira_comment_id": message.jira_comment_id,
    }


def typing_payload(viewer, conversation, visibility=None):
    """Return the "typing" signal of `viewer`. An agent writing an internal note signals agents only.

    `visibility` is what the composer writes: "public" (the default) or "internal".
    """
    visibility = visibility or Visibility.PUBLIC
    if visibility not in (Visibility.PUBLIC, Visibility.INTERNAL):
        raise InvalidInput(f"Unknown typing visibility {str(visibility)[:20]!r}; use 'public' or 'internal'.")
    if visibility == Visibility.INTERNAL and not viewer.is_agent:
        raise PermissionDenied("Seuls les agents du support écrivent des notes internes. "
                               "/ Only support agents write internal notes.")
    return {
        "type": "typing", "conversation_id": conversation.id, "account_id": viewer.account_id,
        "role": viewer.role, "name": viewer.display_name, "visibility": visibility,
    }


def may_receive(viewer, payload):
    """Decide whether `viewer` (a chat Viewer) may receive `payload` (a published dict).

    Agents receive everything of conversations they can open; customers only public entries.
    Which conversations a viewer may open at all is checked when the socket subscribes.
    """
    if payload.get("type") in AGENT_ONLY_TYPES or payload.get("visibility") == Visibility.INTERNAL:
        return viewer.is_agent
    return True


def publish(installation_id, conversation_id, payload):
    """Publish `payload` to every process's sockets of the conversation; an unavailable layer is logged.

    Callers have already committed: a client that misses a live push catches up from the
    database by sequence number when it reconnects, so a failed push is logged, not raised.
    """
    pubsub = current_app.extensions.get("pubsub")
    if pubsub is None:
        return
    try:
        pubsub.publish(channel_of(installation_id, conversation_id), payload)
    except PubSubUnavailable as error:
        log.warning("Live delivery of conversation %s failed: %s", conversation_id, error)
