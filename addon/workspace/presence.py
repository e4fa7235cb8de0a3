"""Agent presence: available, busy or away, as set by the agent and kept alive by their pages.

The dashboard and the issue panel call `heartbeat` while open; a presence not renewed within
routing.PRESENCE_TIMEOUT reads as away. The key user learns only whether support is available
now, never which agent is.
"""

from flask import current_app
from sqlalchemy import select

from ..errors import InvalidInput
from ..models import utcnow
from . import routing
from .models import AgentPresence, PresenceStatus


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
