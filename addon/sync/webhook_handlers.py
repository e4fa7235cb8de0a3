"""What the add-on does with the Jira webhooks it receives.

Every subscribed event first checks whether the request was opened by chat, because only those
requests have a conversation to update; comments on requests opened by mail or the portal form are
ignored. The `supportchat` issue property marks chat requests. `jira:issue_updated` payloads carry
it (the descriptor lists it in `propertyKeys`) and comment payloads do not, so for comments it is
read from Jira with a signed call. What happens to the conversation is in `jira_to_chat`.
"""

import logging

from ..atlassian.installations import get_active_installation
from ..atlassian.jira_client import jira_client_for
from ..atlassian.webhooks import drop_at_receipt, on_webhook
from . import echoes, jira_to_chat

log = logging.getLogger(__name__)

CHAT_PROPERTY_KEY = "supportchat"

# Jira's echo of a comment this process's outbox just wrote is neither stored nor handled.
drop_at_receipt(echoes.is_echo)


def chat_marker_of(event):
    """Return the `supportchat` property of the event's issue, or None when it has none."""
    # Jira embeds the requested properties that exist; whether as a list of {key, value} or a
    # dict is not documented, so both are read. An embedded collection without the key means the
    # issue has no such property.
    issue = event.payload.get("issue") or {}
    embedded = issue.get("properties")
    if isinstance(embedded, dict):
        return embedded.get(CHAT_PROPERTY_KEY)
    if isinstance(embedded, list):
        for entry in embedded:
            if isinstance(entry, dict) and entry.get("key") == CHAT_PROPERTY_KEY:
                return entry.get("value")
        return None

    installation = get_active_installation(event.client_key)
    if installation is None:
        return None
    with jira_client_for(installation) as jira:
        return jira.get_issue_property(event.issue_key, CHAT_PROPERTY_KEY)


def _answered_locally(event):
    """Tell whether the database alone settles a comment event, which then needs no Jira call.

    A comment payload does not carry the chat marker, so reading it costs a Jira call. Two cases
    need none: an issue without a stored conversation (handle() would ignore the event anyway), and
    the echo of a comment that the outbox wrote and linked to its message, which upsert_comment
    ignores. Every chat message sent gives such an echo, so this saves a Jira call per message.
    """
    if not event.name.startswith("comment_"):
        return False
    installation = get_active_installation(event.client_key)
    if installation is None:
        return False
    conversation = jira_to_chat.find_conversation(installation, event.payload.get("issue"))
    if conversation is None:
        log.info("Webhook %s on %s (client_key %s): no chat on this request; ignored",
                 event.name, event.issue_key, event.client_key)
        return True
    comment = event.payload.get("comment")
    if event.name == "comment_deleted" or not isinstance(comment, dict) or not comment.get("id"):
        return False
    linked = jira_to_chat.linked_chat_message(conversation.id, str(comment["id"]))
    if linked is None:
        return False
    log.info("Webhook %s on %s (client_key %s): comment written by the outbox for message %s; ignored",
             event.name, event.issue_key, event.client_key, linked.id)
    return True


@on_webhook("comment_created")
@on_webhook("comment_updated")
@on_webhook("comment_deleted")
@on_webhook("jira:issue_updated")
def route_to_conversation(event):
    if not event.issue_key:
        log.info("Webhook %s from client_key %s names no issue; ignored", event.name, event.client_key)
        return

    if _answered_locally(event):
        return
    marker = chat_marker_of(event)
    if not isinstance(marker, dict) or marker.get("enabled") not in (True, "true"):
        log.info("Webhook %s on %s (client_key %s): request not opened by chat; ignored",
                  event.name, event.issue_key, event.client_key)
        return

    log.info("Webhook %s on chat request %s (client_key %s)", event.name, event.issue_key, event.client_key)
    jira_to_chat.handle(event)
