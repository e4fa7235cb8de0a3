"""Agent presence: available, busy or away, as set by the agent and kept alive by their pages.

The dashboard calls `heartbeat` while open; a presence not renewed within
routing.PRESENCE_TIMEOUT reads as away. The key user learns only whether support is available
now, never which agent is.

The other way round, a key user's socket and long-poll mark their conversation seen, so that the
dashboard shows whether the key user is still there (`customer_connected`).
"""

from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from ..chat.models import Conversation
from ..errors import InvalidInput
from ..models import utcnow
from . import routing
from .models import AgentPresence, PresenceStatus

# The chat's sockets ping every 25 s (static/chat/channel.js) and long-polls return within 25 s:
# a key user not seen for this long has left.
CUSTOMER_SEEN_TIMEOUT = timedelta(seconds=75)
# A socket marks its conversations at most this often, so that pings cost one write a minute at most.
CUSTOMER_MARK_EVERY = timedelta(seconds=30)


def _database():
    return current_app.extensions["database"]


def clean_status(value):
    if value not in PresenceStatus.ALL:
        allowed = ", ".join(PresenceStatus.ALL)
        raise InvalidInput(f"Statut de présence inconnu {str(value)[:20]!r} ; valeurs possibles : {allowed}. "
                           f"/ Unknown presence status {str(value)[:20]!r}; allowed values: {allowed}.")
    return value


def _row(session, viewer):
    row = session.scalar(
        select(AgentPresence)
        .where(AgentPresence.installation_id == viewer.installation_id, AgentPresence.account_id == viewer.account_id)
        .with_for_update()
    )
    if row is None:
        row = AgentPresence(installation_id=viewer.installation_id, account_id=viewer.account_id,
                            status=PresenceStatus.AVAILABLE)
        session.add(row)
    row.display_name = viewer.display_name or row.display_name
    return row


def set_status(viewer, status):
    """Set `viewer`'s presence; it also counts as a sign of life."""
    status = clean_status(status)
    with _database().transaction() as session:
        row = _row(session, viewer)
        row.status = status
        row.updated_at = row.seen_at = utcnow()
        return presence_view(row)


def heartbeat(viewer):
    """Renew `viewer`'s presence without changing the status they chose."""
    with _database().transaction() as session:
        row = _row(session, viewer)
        row.seen_at = utcnow()
        return presence_view(row)


def is_available(installation_id, account_id, now=None):
    """Tell whether the agent's presence reads available now."""
    row = _database().session.scalar(
        select(AgentPresence).where(AgentPresence.installation_id == installation_id,
                                    AgentPresence.account_id == account_id)
    )
    return row is not None and effective_status(row, now) == PresenceStatus.AVAILABLE


def effective_status(row, now=None):
    now = now or utcnow()
    if row.seen_at < now - routing.PRESENCE_TIMEOUT:
        return PresenceStatus.AWAY
    return row.status


def presence_view(row, now=None):
    return {"account_id": row.account_id, "name": row.display_name, "status": effective_status(row, now),
            "chosen_status": row.status}


def team(installation_id):
    """Return the presence of every agent of the site who ever set one, with their open chat counts."""
    session = _database().session
    rows = list(session.execute(
        select(AgentPresence).where(AgentPresence.installation_id == installation_id)
        .order_by(AgentPresence.display_name, AgentPresence.account_id)
    ).scalars())
    load = routing.open_chat_counts(session, installation_id)
    now = utcnow()
    return [{**presence_view(row, now), "open_chats": load.get(row.account_id, 0)} for row in rows]


# -- the key user's side --------------------------------------------------------------------------

def mark_customer_seen(conversation_ids, now=None):
    """Record that a key user has these conversations open now (their socket or long-poll)."""
    ids = [conversation_id for conversation_id in conversation_ids if conversation_id]
    if not ids:
        return
    with _database().transaction() as session:
        # updated_at is kept: it orders the chat lists by their last message, not by who looked.
        session.execute(
            update(Conversation).where(Conversation.id.in_(ids))
            .values(customer_seen_at=now or utcnow(), updated_at=Conversation.updated_at)
            .execution_options(synchronize_session=False)
        )


def mark_customer_left(conversation_ids):
    """Record that the key user's last socket on these conversations closed."""
    with _database().transaction() as session:
        session.execute(
            update(Conversation).where(Conversation.id.in_(conversation_ids))
            .values(customer_seen_at=None, updated_at=Conversation.updated_at)
            .execution_options(synchronize_session=False)
        )


def customer_connected(conversation, now=None):
    seen_at = conversation.customer_seen_at
    return seen_at is not None and seen_at >= (now or utcnow()) - CUSTOMER_SEEN_TIMEOUT
