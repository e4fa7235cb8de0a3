"""Jira comments and status changes, brought into the conversation of a request opened by chat.

Invariants, whatever order and however often Jira delivers:
- One message per Jira comment. A message from Jira carries `client_message_id`
  "jira-comment:<comment id>", so the (conversation_id, client_message_id) unique constraint admits
  one row per comment, and every change to it happens under the conversation's lock.
- The newest version of a comment wins: a delivery whose `comment.updated` is not newer than the
  stored `jira_comment_updated` changes nothing. An update that arrives before the create creates
  the message.
- A deleted comment stays deleted. The stored `comment_deleted` delivery is the tombstone that
  stops a late create or update from bringing the message back.
- Comments the outbox wrote for chat messages never become a second message (see `_is_ours`).
"""

import logging
import re
from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..atlassian import webhooks
from ..atlassian.installations import get_active_installation
from ..atlassian.jira_client import jira_client_for
from ..atlassian.jira_errors import JiraError
from ..chat import fanout
from ..chat.actions import database, find_by_client_id, insert_message, lock_conversation
from ..chat.models import (
    AuthorRole,
    Conversation,
    Message,
    MessageKind,
    Origin,
    SyncState,
    Visibility,
)
from ..models import WebhookEvent, utcnow
from ..sla import clock as sla_clock
from .comment_text import from_jira_body, normalize_text
from .jira_status import record_status_changes
from .outbox_write import INTERNAL_PROPERTY_KEY, MESSAGES_PROPERTY_KEY

log = logging.getLogger(__name__)

COMMENT_KEY_PREFIX = "jira-comment:"
COMMENT_ID_MAX_CHARS = 40  # the size of Message.jira_comment_id

CREATED, UPDATED, DELETED = "created", "updated", "deleted"
COMMENT_EVENT_ACTIONS = {"comment_created": CREATED, "comment_updated": UPDATED, "comment_deleted": DELETED}
# jira:issue_updated carries the comment for these event types. Any other type with a comment (a
# transition with a comment, for example) is treated as a create, because a create is an upsert.
ISSUE_EVENT_ACTIONS = {"issue_comment_edited": UPDATED, "issue_comment_deleted": DELETED}

_WIKI_MENTION = re.compile(r"\[~accountid:([^\]\n]+)\]")


class Deferred(webhooks.RetryLater):
    """The outbox is still writing this conversation, so the comment cannot be attributed yet.

    Raising it makes the webhook layer retry the event later.
    """


def handle(event):
    """Mirror the comment or the status change of `event` into its conversation, if there is one."""
    installation = get_active_installation(event.client_key)
    if installation is None:
        return
    conversation = find_conversation(installation, event.payload.get("issue"))
    if conversation is None:
        log.info("Webhook %s on %s (client_key %s): chat marker set but no conversation stored; ignored",
                 event.name, event.issue_key, event.client_key)
        return

    comment = event.payload.get("comment")
    action = _comment_action(event)
    if action is not None and isinstance(comment, dict):
        comment_id = str(comment.get("id") or "")
        if not comment_id or len(comment_id) > COMMENT_ID_MAX_CHARS:
            log.info("Webhook %s on %s (client_key %s) has no usable comment id %r; comment ignored",
                     event.name, event.issue_key, event.client_key, comment_id[:60])
        elif action == DELETED:
            delete_comment(event, conversation.id, comment_id)
        else:
            upsert_comment(event, installation, conversation.id, comment)

    if event.name == "jira:issue_updated":
        record_status_changes(event, conversation.id)


def find_conversation(installation, issue):
    """Return the conversation of the webhook's issue (by id, else by key), or None."""
    if not isinstance(issue, dict):
        return None
    statement = select(Conversation).where(Conversation.installation_id == installation.id)
    if issue.get("id"):
        statement = statement.where(Conversation.issue_id == str(issue["id"]))
    elif issue.get("key"):
        statement = statement.where(Conversation.issue_key == str(issue["key"]))
    else:
        return None
    return database().session.execute(statement).scalar_one_or_none()


# -- create and update --------------------------------------------------------------------------

def upsert_comment(event, installation, conversation_id, comment):
    """Create the message of a Jira comment, or bring it to the delivered version if newer."""
    comment_id = str(comment["id"])
    context = f"{event.name} comment {comment_id} on {event.issue_key} (client_key {event.client_key})"

    linked = linked_chat_message(conversation_id, comment_id)
    if linked is not None:
        log.info("Webhook %s: comment written by the outbox for message %s; ignored", context, linked.id)
        return
    if _jira_message(database().session, conversation_id, comment_id) is None:
        if _is_ours(event, installation, conversation_id, comment):
            log.info("Webhook %s: comment written by the add-on; ignored", context)
            return
        if _tombstoned(event.client_key, comment_id):
            log.info("Webhook %s: comment already deleted; ignored", context)
            return

    fields = _message_fields(installation, conversation_id, comment)
    try:
        payload = _store(conversation_id, comment_id, fields, context)
    except IntegrityError:
        # Another worker inserted the same comment between the lookup and the insert. The lock
        # should prevent that, but if it happens the row now exists and the second try updates it.
        log.info("Webhook %s: concurrent insert; retrying as an update", context)
        payload = _store(conversation_id, comment_id, fields, context)
    if payload is not None:
        fanout.publish(installation.id, conversation_id, payload)


def _store(conversation_id, comment_id, fields, context):
    """Insert or update the comment's message under the lock; return the payload to publish, or None."""
    with database().transaction() as session:
        conversation = lock_conversation(session, conversation_id)
        message = _jira_message(session, conversation_id, comment_id)
        if message is None:
            if linked_chat_message(conversation_id, comment_id, session) is not None:
                log.info("Webhook %s: linked to a chat message meanwhile; ignored", context)
                return None
            client_message_id = COMMENT_KEY_PREFIX + comment_id
            if find_by_client_id(session, conversation_id, client_message_id) is not None:
                # A chat client chose this id for one of its own messages; the constraint cannot
                # guard this comment then, but the lock still does.
                log.warning("Webhook %s: client_message_id %s already taken by a chat message",
                            context, client_message_id)
                client_message_id = None
            message = insert_message(session, conversation, client_message_id=client_message_id,
                                      jira_comment_id=comment_id, **fields)
            log.info("Webhook %s: message %s created (seq %s, %s)", context, message.id, message.seq,
                     message.visibility)
            return fanout.message_payload(conversation, message)

        if message.deleted_at is not None:
            log.info("Webhook %s: message %s was deleted; ignored", context, message.id)
            return None
        if not _is_newer(fields["jira_comment_updated"], message.jira_comment_updated):
            log.info("Webhook %s: message %s already shows this or a newer version", context, message.id)
            return None
        shared = message.visibility == Visibility.INTERNAL and fields["visibility"] == Visibility.PUBLIC
        message.body = fields["body"]
        message.visibility = fields["visibility"]
        message.author_name = fields["author_name"] or message.author_name
        message.jira_comment_updated = fields["jira_comment_updated"]
        message.edited_at = fields["edited_at"] or utcnow()
        session.flush()
        if shared:
            # An internal note shared with the customer is a public reply from then on.
            sla_clock.on_message(session, conversation, message, human_agent=fields["human_agent"])
        log.info("Webhook %s: message %s updated (seq %s)", context, message.id, message.seq)
        return fanout.message_payload(conversation, message)


def _message_fields(installation, conversation_id, comment):
    conversation = database().session.get(Conversation, conversation_id)
    author = comment.get("author") if isinstance(comment.get("author"), dict) else {}
    created = parse_jira_time(comment.get("created"))
    updated = parse_jira_time(comment.get("updated"))
    body = comment.get("body")
    return {
        "author_account_id": author.get("accountId"),
        "author_role": role_of(author, conversation),
        "human_agent": is_human_agent(author, conversation),
        "author_name": author.get("displayName"),
        "visibility": Visibility.INTERNAL if is_internal(comment) else Visibility.PUBLIC,
        "kind": MessageKind.MESSAGE,
        "body": normalize_text(from_jira_body(body, _mentioned_users(installation, body))),
        "origin": Origin.JIRA,
        "sync_state": SyncState.NOT_APPLICABLE,
        "created_at": created or utcnow(),
        "edited_at": updated if updated and created and updated > created else None,
        "jira_comment_updated": comment.get("updated") if isinstance(comment.get("updated"), str) else None,
    }


def role_of(author, conversation):
    """Classify a comment's author: the opener and accounts of type "customer" are customers.

    Everyone else (licensed "atlassian" accounts, other apps' users) writes for the support side.
    """
    if author.get("accountId") == conversation.opened_by_account_id or author.get("accountType") == "customer":
        return AuthorRole.CUSTOMER
    return AuthorRole.AGENT


def is_human_agent(author, conversation):
    """Tell whether a comment's author is a person of the support side, whose public comment
    answers the customer: a licensed "atlassian" account other than the request's opener.

    App users (ours, which writes for customers when Jira refuses to act as them, and other apps'
    automation) and customers never are.
    """
    return (author.get("accountType") == "atlassian"
            and role_of(author, conversation) == AuthorRole.AGENT)


def is_internal(comment):
    """Tell whether a comment is an internal note. Without `jsdPublic`, it is taken as internal."""
    for entry in comment.get("properties") or []:
        if isinstance(entry, dict) and entry.get("key") == INTERNAL_PROPERTY_KEY:
            value = entry.get("value")
            if isinstance(value, dict) and value.get("internal") in (True, "true"):
                return True
    # Failing closed: a comment whose visibility is unknown must not reach customers.
    return comment.get("jsdPublic") is not True


def parse_jira_time(text):
    """Parse Jira's "2021-08-11T13:19:06.887+0300" into a UTC datetime; None when unreadable."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    # SQLite keeps no offset, so every stored time is converted to UTC, as utcnow() gives.
    return moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _is_newer(incoming, stored):
    incoming_time, stored_time = parse_jira_time(incoming), parse_jira_time(stored)
    if stored_time is None:
        return incoming_time is not None or stored is None
    return incoming_time is not None and incoming_time > stored_time


def _mentioned_users(installation, body):
    """Map the accountIds mentioned without a name in `body` to display names (empty on failure)."""
    account_ids = set()
    if isinstance(body, str):
        account_ids.update(match.strip() for match in _WIKI_MENTION.findall(body))
    elif isinstance(body, dict):
        _collect_adf_mentions(body, account_ids, 0)
    if not account_ids:
        return {}
    try:
        with jira_client_for(installation) as jira:
            users = jira.get_users_bulk(sorted(account_ids))
    except JiraError as error:
        log.warning("Mentioned users of client_key %s not resolved: %s", installation.client_key, error)
        return {}
    return {user["accountId"]: user.get("displayName") for user in users if user.get("accountId")}


def _collect_adf_mentions(node, account_ids, depth):
    if not isinstance(node, dict) or depth > 64:
        return
    attrs = node.get("attrs") if isinstance(node.get("attrs"), dict) else {}
    # A mention with its text already names the person; only bare ids need a lookup.
    if node.get("type") == "mention" and attrs.get("id") and not attrs.get("text"):
        account_ids.add(str(attrs["id"]))
    for child in node.get("content") or []:
        _collect_adf_mentions(child, account_ids, depth + 1)


# -- deletion -----------------------------------------------------------------------------------

def delete_comment(event, conversation_id, comment_id):
    """Mark the comment's message deleted and empty its body; publish the change."""
    context = f"{event.name} comment {comment_id} on {event.issue_key} (client_key {event.client_key})"
    with database().transaction() as session:
        conversation = lock_conversation(session, conversation_id)
        message = _jira_message(session, conversation_id, comment_id)
        if message is None:
            # The stored comment_deleted delivery stops a create that arrives later.
            log.info("Webhook %s: no message from this comment; tombstone kept", context)
            return
        if message.deleted_at is not None:
            return
        message.deleted_at = utcnow()
        message.body = ""
        session.flush()
        payload = fanout.message_payload(conversation, message)
    log.info("Webhook %s: message %s deleted", context, message.id)
    fanout.publish(conversation.installation_id, conversation_id, payload)


def _tombstoned(client_key, comment_id):
    prefix = f"comment_deleted:{comment_id}:"
    statement = select(WebhookEvent.id).where(
        WebhookEvent.client_key == client_key,
        WebhookEvent.name == "comment_deleted",
        WebhookEvent.dedupe_key.startswith(prefix, autoescape=True),
    ).limit(1)
    return database().session.execute(statement).first() is not None


# -- our own comments ---------------------------------------------------------------------------

def _is_ours(event, installation, conversation_id, comment):
    """Tell whether the outbox (or another part of the add-on) wrote this comment.

    Our app user's comments are always ours. A comment by someone who wrote in the chat may be
    one the outbox posted for them, and then it carries the `supportchat.messages` comment property.
    Without the property, while the outbox is still writing this conversation, the event is deferred.
    """
    author = comment.get("author") if isinstance(comment.get("author"), dict) else {}
    account_id = author.get("accountId")
    if author.get("accountType") == "app" and account_id == _app_account_id(installation):
        return True
    if not _is_participant(conversation_id, account_id):
        return False

    try:
        with jira_client_for(installation) as jira:
            marker = jira.get_comment_property(str(comment["id"]), MESSAGES_PROPERTY_KEY)
    except JiraError as error:
        raise Deferred(f"Comment property {MESSAGES_PROPERTY_KEY} of comment {comment['id']} "
                       f"could not be read: {error}") from None
    if marker is not None:
        return True

    writing = _messages_being_written(conversation_id)
    if not writing:
        return False
    if not _last_attempt(event):
        raise Deferred(f"The outbox is still writing conversation {conversation_id} "
                       f"(messages {[m.id for m in writing]}); comment {comment['id']} retried later.")
    # NOTE: on the last attempt the comment is attributed by its text: a pending message of the
    # same author whose text the comment contains is taken as its source. Dropping the event
    # instead could lose a real Jira comment.
    text = normalize_text(from_jira_body(comment.get("body")))
    return any(m.author_account_id == account_id and m.body and m.body in text for m in writing)


def _app_account_id(installation):
    """Return the accountId of the add-on's app user on this site (cached per app and site)."""
    cache = current_app.extensions.setdefault("app_user_account_ids", {})
    if installation.id not in cache:
        with jira_client_for(installation) as jira:
            cache[installation.id] = (jira.request("GET", "rest/api/3/myself") or {}).get("accountId")
    return cache[installation.id]


def _is_participant(conversation_id, account_id):
    if not account_id:
        return False
    session = database().session
    conversation = session.get(Conversation, conversation_id)
    if conversation.opened_by_account_id == account_id:
        return True
    statement = select(Message.id).where(
        Message.conversation_id == conversation_id, Message.origin == Origin.CHAT,
        Message.author_account_id == account_id,
    ).limit(1)
    return session.execute(statement).first() is not None


def _messages_being_written(conversation_id):
    statement = select(Message).where(
        Message.conversation_id == conversation_id, Message.origin == Origin.CHAT,
        (Message.sync_state == SyncState.SENDING) | Message.sync_uncertain_since.is_not(None),
    ).execution_options(populate_existing=True)
    return list(database().session.execute(statement).scalars())


def _last_attempt(event):
    attempts = database().session.execute(
        select(WebhookEvent.attempts).where(WebhookEvent.id == event.id)
    ).scalar_one_or_none()
    return attempts is not None and attempts >= webhooks.MAX_ATTEMPTS


# -- lookups ------------------------------------------------------------------------------------

def _jira_message(session, conversation_id, comment_id):
    statement = select(Message).where(
        Message.conversation_id == conversation_id, Message.origin == Origin.JIRA,
        Message.kind == MessageKind.MESSAGE, Message.jira_comment_id == comment_id,
    ).order_by(Message.seq).limit(1).execution_options(populate_existing=True)
    return session.execute(statement).scalar_one_or_none()


def linked_chat_message(conversation_id, comment_id, session=None):
    """Return the chat message whose comment the outbox wrote as `comment_id`, or None."""
    session = session or database().session
    statement = select(Message).where(
        Message.conversation_id == conversation_id, Message.origin == Origin.CHAT,
        Message.jira_comment_id == comment_id,
    ).order_by(Message.seq).limit(1).execution_options(populate_existing=True)
    return session.execute(statement).scalar_one_or_none()


def _comment_action(event):
    if event.name in COMMENT_EVENT_ACTIONS:
        return COMMENT_EVENT_ACTIONS[event.name]
    if event.name == "jira:issue_updated" and isinstance(event.payload.get("comment"), dict):
        return ISSUE_EVENT_ACTIONS.get(event.payload.get("issue_event_type_name"), CREATED)
    return None
