"""The outbox's rows: which chat messages wait for their Jira comment, and their sync state.

A chat message waits while its sync_state is pending, failed or sending. Per conversation only
the earliest waiting message (the head) may be written, so comments reach Jira in `seq` order:
a head whose `next_sync_at` lies in the future blocks the messages after it.
"""

from datetime import datetime, timedelta, timezone

from sqlalchemy import and_, func, or_, select, update

from ..chat import fanout
from ..chat.models import Conversation, Message, MessageKind, Origin, SyncState, Visibility
from ..models import Installation, utcnow
from .comment_text import COMMENT_PART_MAX_CHARS

WAITING_STATES = (SyncState.PENDING, SyncState.FAILED, SyncState.SENDING)
# One comment carries at most this many messages, whatever the batch window allows.
MAX_BATCH_MESSAGES = 20
# Room for the per-message time prefixes and a header inside one comment.
MAX_BATCH_CHARS = COMMENT_PART_MAX_CHARS - 2_000
MAX_ERROR_CHARS = 500


def aware(moment):
    """Return `moment` with UTC attached when the database returned it naive (SQLite does)."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment


def _is_waiting(message):
    # Chat messages, and the events of the chat that are traced on the request (their rows are
    # stored with origin chat and a waiting sync_state), wait alike.
    return (
        message.sync_state.in_(WAITING_STATES),
        message.origin == Origin.CHAT,
    )


def _heads():
    """Select the head message of every conversation of an active installation."""
    firsts = (
        select(Message.conversation_id, func.min(Message.seq).label("seq"))
        .where(*_is_waiting(Message))
        .group_by(Message.conversation_id)
        .subquery()
    )
    return (
        select(Message)
        .join(firsts, and_(Message.conversation_id == firsts.c.conversation_id, Message.seq == firsts.c.seq))
        .join(Conversation, Conversation.id == Message.conversation_id)
        .join(Installation, Installation.id == Conversation.installation_id)
        .where(Installation.status == "installed", Installation.enabled.is_(True))
    )


def due_conversations(session, now, limit=50):
    """Return the ids of conversations whose head is due, the longest-waiting first."""
    statement = (
        _heads()
        .where(or_(Message.next_sync_at.is_(None), Message.next_sync_at <= now))
        .order_by(Message.next_sync_at, Message.id)
        .limit(limit)
    )
    return [message.conversation_id for message in session.execute(statement).scalars()]


def next_due_at(session, now):
    """Return when the earliest head that is not yet due becomes due, or None."""
    statement = _heads().where(Message.next_sync_at > now).order_by(Message.next_sync_at).limit(1)
    head = session.execute(statement).scalars().first()
    return aware(head.next_sync_at) if head is not None else None


def head_of(session, conversation_id):
    """Return the earliest waiting message of the conversation, or None."""
    statement = (
        select(Message)
        .where(Message.conversation_id == conversation_id, *_is_waiting(Message))
        .order_by(Message.seq)
        .limit(1)
    )
    return session.execute(statement).scalars().first()


def is_due(message, now):
    return message.next_sync_at is None or aware(message.next_sync_at) <= now


def batch_of(session, head, window_secs):
    """Return the messages that one comment carries: the head and the ones that may join it.

    A traced event is a comment of its own. Message followers join while they come right after
    the previous one (no other entry between), have the head's author and visibility, were
    created within `window_secs` of the head, and the batch stays under MAX_BATCH_MESSAGES and
    MAX_BATCH_CHARS. When a write of the head had an unknown outcome, the batch is the one that
    was sent then (the messages marked at the same instant), so that the look-up and a repeat use
    the same comment.
    """
    followers = session.execute(
        select(Message)
        .where(Message.conversation_id == head.conversation_id, Message.seq > head.seq)
        .order_by(Message.seq)
        .limit(MAX_BATCH_MESSAGES - 1)
    ).scalars()
    batch = [head]
    size = len(head.body)
    window_end = aware(head.created_at) + timedelta(seconds=window_secs)
    for message in followers:
        if head.sync_uncertain_since is not None:
            if message.sync_uncertain_since != head.sync_uncertain_since:
                break
        elif not _may_join(head, message, window_end, size):
            break
        batch.append(message)
        size += len(message.body)
    return batch


def _may_join(head, message, window_end, size):
    return (
        head.kind == MessageKind.MESSAGE
        and message.sync_state in WAITING_STATES
        and message.kind == MessageKind.MESSAGE
        and message.origin == Origin.CHAT
        and message.sync_uncertain_since is None
        and message.deleted_at is None
        and message.author_account_id == head.author_account_id
        and message.author_role == head.author_role
        and message.visibility == head.visibility
        and aware(message.created_at) <= window_end
        and size + len(message.body) <= MAX_BATCH_CHARS
    )


def load(session, message_ids):
    statement = select(Message).where(Message.id.in_(message_ids)).order_by(Message.seq)
    return list(session.execute(statement).scalars())


def mark_uncertain(session, message_ids, moment):
    """Record that a write of these messages is about to go out, unless one already went out.

    The earliest instant is kept, because the look-up must search from the first write that may
    have reached Jira. The session's loaded rows keep the values they were read with, so that
    the batch read in the same transaction still tells a first attempt.
    """
    session.execute(
        update(Message)
        .where(Message.id.in_(message_ids), Message.sync_uncertain_since.is_(None))
        .values(sync_uncertain_since=moment)
        .execution_options(synchronize_session=False)
    )


def record_comment(session, message_ids, comment_id):
    """Store the comment id as soon as Jira returned it, before any second call on the comment."""
    session.execute(
        update(Message).where(Message.id.in_(message_ids)).values(jira_comment_id=str(comment_id))
        .execution_options(synchronize_session=False)
    )


def mark_synced(session, message_ids, comment_id):
    session.execute(
        update(Message).where(Message.id.in_(message_ids))
        .values(jira_comment_id=str(comment_id), sync_state=SyncState.SYNCED, sync_error=None,
                sync_uncertain_since=None, next_sync_at=None)
        .execution_options(synchronize_session=False)
    )


def mark_failed(session, message_ids, error_text, backoff_secs):
    """Count a failed attempt and schedule the next one; return the attempt number of the head.

    `backoff_secs(attempts)` gives the delay after the head's `attempts`-th failure.
    """
    messages = load(session, message_ids)
    now = utcnow()
    attempts = messages[0].sync_attempts + 1 if messages else 0
    for message in messages:
        message.sync_attempts += 1
        message.sync_state = SyncState.FAILED
        message.sync_error = error_text[:MAX_ERROR_CHARS]
        message.next_sync_at = now + timedelta(seconds=backoff_secs(attempts))
    return attempts


def sync_payload(conversation_id, message_ids, sync_state, jira_comment_id=None):
    """Build the `sync` event that reports the sync state of messages to agents."""
    return {
        "type": "sync",
        "conversation_id": conversation_id,
        "message_ids": list(message_ids),
        "sync_state": sync_state,
        "jira_comment_id": jira_comment_id,
        # fanout.may_receive gives internal entries to agents only.
        "visibility": Visibility.INTERNAL,
    }


def publish_sync(installation_id, conversation_id, message_ids, sync_state, jira_comment_id=None):
    payload = sync_payload(conversation_id, message_ids, sync_state, jira_comment_id)
    fanout.publish(installation_id, conversation_id, payload)


def parse_jira_time(text):
    """Parse a Jira REST timestamp such as 2021-08-11T13:19:06.887+0000; None when malformed."""
    for layout in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(text, layout)
        except (TypeError, ValueError):
            continue
    return None
