"""Actions that change the chat: each one commits, then announces what changed.

Routes, the websocket loop and webhook handlers call these functions and nothing below them, so
that every change goes through the same ordering (`seq` under a row lock), idempotence
(`client_message_id`) and after-commit fan-out.
"""

import logging
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select, update

from ..access.keyusers import is_key_user_of
from ..errors import InvalidInput, PermissionDenied
from ..models import utcnow
from ..sla import clock as sla_clock
from ..sync.comment_text import normalize_text, validate_message
from . import fanout
from .models import (
    AuthorRole,
    Conversation,
    Message,
    MessageKind,
    Origin,
    SyncState,
    Visibility,
)

log = logging.getLogger(__name__)

RESERVED_CLIENT_ID_PREFIX = "jira-"


@dataclass(frozen=True)
class Viewer:
    """A person acting in the chat, as authenticated by Jira and classified by access checks."""

    installation_id: int
    client_key: str
    account_id: str
    role: str  # AuthorRole.CUSTOMER or AuthorRole.AGENT
    display_name: str | None = None
    # For agents: the project in which Jira granted the agent permission.
    project_key: str | None = None

    @property
    def is_agent(self):
        return self.role == AuthorRole.AGENT


def database():
    return current_app.extensions["database"]


def lock_conversation(session, conversation_id):
    """Load the conversation row with a write lock, so that `seq` values are handed out in order.

    The no-op UPDATE comes first because SQLite ignores FOR UPDATE and Python's sqlite3 starts the
    transaction only at the first write: the UPDATE takes SQLite's write lock before `last_seq` is
    read. On PostgreSQL it takes the row lock, like FOR UPDATE.
    """
    session.execute(
        update(Conversation).where(Conversation.id == conversation_id).values(last_seq=Conversation.last_seq)
    )
    statement = (
        select(Conversation).where(Conversation.id == conversation_id).with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.execute(statement).scalar_one()


def insert_message(session, conversation, *, human_agent=False, **fields):
    """Store a message under the conversation's lock, with the next `seq`, and update its SLA clock.

    `human_agent` is True when a person of the support side wrote it. Only such public messages
    meet the first-response clock, and an app user's or another app's comment never does.
    """
    conversation.last_seq += 1
    conversation.updated_at = utcnow()
    message = Message(conversation_id=conversation.id, seq=conversation.last_seq, **fields)
    session.add(message)
    session.flush()
    sla_clock.on_message(session, conversation, message, human_agent=human_agent)
    return message


def insert_viewer_message(session, conversation, viewer, *, client_message_id, visibility, body,
                          event_type=None):
    """Store what `viewer` typed or sent in the chat, to be traced on the request by the outbox.

    Refuses a key user whose conversation moved out of the chat (addon.chat.moves). Call it under
    the conversation's lock, after `can_write`.
    """
    from .moves import check_chat_open  # moves imports this module

    check_chat_open(session, viewer, conversation)
    return insert_message(
        session, conversation,
        client_message_id=client_message_id,
        author_account_id=viewer.account_id,
        author_role=viewer.role,
        author_name=viewer.display_name,
        visibility=visibility,
        kind=MessageKind.MESSAGE,
        event_type=event_type,
        body=body,
        origin=Origin.CHAT,
        sync_state=SyncState.PENDING,
        next_sync_at=utcnow(),
        # Agents in the chat are people signed in to Jira; app users never use the chat.
        human_agent=viewer.is_agent,
    )


def can_write(viewer, conversation):
    """Tell whether `viewer` may write in `conversation`, beyond seeing it.

    Agents of the project write, and so do the key users of the active subscription of the
    conversation's organisation. Other participants and members of the organisation may read it.
    Key users are read from the database on every call, so a removal takes effect at once.
    """
    if viewer.is_agent:
        return True
    if not conversation.organization_id or conversation.installation_id != viewer.installation_id:
        return False
    return is_key_user_of(viewer.installation_id, viewer.account_id, conversation.organization_id)


def find_by_client_id(session, conversation_id, client_message_id):
    if not client_message_id:
        return None
    statement = select(Message).where(
        Message.conversation_id == conversation_id, Message.client_message_id == client_message_id
    )
    return session.execute(statement).scalar_one_or_none()


def post_message(viewer, conversation_id, body, *, visibility=Visibility.PUBLIC, client_message_id=None):
    """Store a chat message and queue its Jira comment; return (message, created).

    A resend with the same `client_message_id` returns the stored message with created=False, so
    that a client that lost the acknowledgement can retry safely. Only agents write internal notes.
    """
    body = normalize_text(body or "")
    try:
        validate_message(body)
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    if visibility not in (Visibility.PUBLIC, Visibility.INTERNAL):
        raise InvalidInput(f"Unknown visibility {visibility!r}; use 'public' or 'internal'.")
    if visibility == Visibility.INTERNAL and not viewer.is_agent:
        raise PermissionDenied("Seuls les agents du support peuvent écrire des notes internes. "
                               "/ Only support agents can write internal notes.")
    if client_message_id is not None and (not isinstance(client_message_id, str) or len(client_message_id) > 64):
        raise InvalidInput("client_message_id must be a string of at most 64 characters.")
    if client_message_id and client_message_id.startswith(RESERVED_CLIENT_ID_PREFIX):
        # Messages that mirror Jira comments use "jira-comment:<id>" as their client id.
        raise InvalidInput(f"client_message_id must not start with {RESERVED_CLIENT_ID_PREFIX!r}.")

    with database().transaction() as session:
        conversation = lock_conversation(session, conversation_id)
        if not can_write(viewer, conversation):
            raise PermissionDenied(
                "Vous pouvez lire cette discussion, mais seuls les utilisateurs clés d'un contrat actif "
                "de son organisation peuvent y écrire. / You can read this chat, but only key users of "
                "an active subscription of its organization can write in it."
            )
        existing = find_by_client_id(session, conversation.id, client_message_id)
        if existing is not None:
            return existing, False
        message = insert_viewer_message(session, conversation, viewer, client_message_id=client_message_id,
                                        visibility=visibility, body=body)
        payload = fanout.message_payload(conversation, message)

    log.debug("Message %s stored in conversation %s (seq %s)", message.id, conversation_id, message.seq)
    fanout.publish(conversation.installation_id, conversation.id, payload)
    wake_outbox()
    return message, True


def add_event(conversation_id, event_type, body="", *, visibility=Visibility.PUBLIC, author_account_id=None):
    """Record a chat event (status change, move, …) as a numbered entry of the conversation."""
    with database().transaction() as session:
        conversation = lock_conversation(session, conversation_id)
        message = insert_message(
            session, conversation,
            author_account_id=author_account_id,
            author_role=AuthorRole.SYSTEM,
            visibility=visibility,
            kind=MessageKind.EVENT,
            event_type=event_type,
            body=body,
            origin=Origin.JIRA,
            sync_state=SyncState.NOT_APPLICABLE,
        )
        payload = fanout.message_payload(conversation, message)
    fanout.publish(conversation.installation_id, conversation.id, payload)
    return message


def history(conversation_id, viewer, after_seq=0, limit=200):
    """Return the messages of the conversation after `after_seq` that `viewer` may see, in order."""
    statement = (
        select(Message)
        .where(Message.conversation_id == conversation_id, Message.seq > after_seq)
        .order_by(Message.seq)
        .limit(limit)
    )
    if not viewer.is_agent:
        statement = statement.where(Message.visibility == Visibility.PUBLIC)
    return list(database().session.execute(statement).scalars())


def wake_outbox():
    """Tell the outbox that a message waits, if the app runs one (tests may not)."""
    outbox = current_app.extensions.get("outbox")
    if outbox is not None:
        outbox.wake()
