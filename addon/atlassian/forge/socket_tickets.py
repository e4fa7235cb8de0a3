"""Single-use tickets that open the chat websocket from a Custom UI page.

A browser cannot send the FIT of an `invokeRemote` call on a websocket, and Forge never hands the
page a token of its own. The page therefore requests a random ticket from `POST /forge/ui/socket-ticket`
(FIT-verified) and sends it in the socket's first frame, `{"type": "auth", "ticket": ...}`.

A ticket is bound to the tenant row and the FIT's principal, is valid TICKET_LIFETIME_SECS and is
consumed by its first use. Only its SHA-256 is stored, in the database, so that every worker
process sees the same tickets and a leaked table opens no socket. A socket opened with a ticket
stays authenticated SOCKET_SESSION_SECS, the lifetime of a Connect context token, and then needs a
new ticket in a new auth frame, as the Connect page sends a new token.
"""

import hashlib
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import ForeignKey, Integer, String, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from ...db import Base, UTCDateTime
from ...errors import AuthenticationError
from ...models import Installation, utcnow

log = logging.getLogger(__name__)

TICKET_LIFETIME_SECS = 60
# The lifetime of the context token of AP.context.getToken(), which the Connect socket uses.
SOCKET_SESSION_SECS = 15 * 60
TICKET_BYTES = 32
# Expired tickets are deleted once every this many issued tickets.
_PRUNE_EVERY_TICKETS = 100
_issued_since_prune = 0


class SocketTicket(Base):
    """The hash of one unused socket ticket, with the tenant and user it opens a socket for."""

    __tablename__ = "forge_socket_tickets"

    ticket_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    installation_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("installations.id", ondelete="CASCADE"), nullable=False
    )
    account_id: Mapped[str] = mapped_column(String(128), nullable=False)
    forge_installation_id: Mapped[str] = mapped_column(String(255), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)


@dataclass(frozen=True)
class TicketAuth:
    """The caller of a socket opened with a ticket, with the attributes of a ConnectAuth."""

    installation: Installation
    client_key: str
    account_id: str
    claims: dict = field(repr=False)
    token: str | None = field(default=None, repr=False)


class TicketRejected(AuthenticationError):
    """The socket ticket is unknown, used, expired or no longer valid for its site (close 4401)."""

    code = "socket_ticket_invalid"


def _database():
    return current_app.extensions["database"]


def _hash(ticket):
    return hashlib.sha256(ticket.encode("utf-8")).hexdigest()


def issue(tenant, account_id, forge_installation_id):
    """Store a new ticket for `account_id` on the tenant row `tenant`; return it and its expiry."""
    global _issued_since_prune

    ticket = secrets.token_urlsafe(TICKET_BYTES)
    expires_at = utcnow() + timedelta(seconds=TICKET_LIFETIME_SECS)
    with _database().transaction() as session:
        session.add(SocketTicket(ticket_hash=_hash(ticket), installation_id=tenant.id, account_id=account_id,
                                 forge_installation_id=forge_installation_id, expires_at=expires_at))

    _issued_since_prune += 1
    if _issued_since_prune >= _PRUNE_EVERY_TICKETS:
        _issued_since_prune = 0
        with _database().transaction() as session:
            session.execute(delete(SocketTicket).where(SocketTicket.expires_at < utcnow()))
    log.debug("Issued a socket ticket for %s on tenant %s", account_id, tenant.client_key)
    return ticket, expires_at


def redeem(ticket):
    """Consume `ticket` and return its TicketAuth; raise TicketRejected when it cannot open a socket."""
    if not isinstance(ticket, str) or not 0 < len(ticket) <= 256:
        raise TicketRejected("Le ticket du socket est absent ou invalide ; rechargez la page. "
                             "/ The socket ticket is missing or invalid; reload the page.")
    ticket_hash = _hash(ticket)
    session = _database().session
    row = session.scalar(select(SocketTicket).where(SocketTicket.ticket_hash == ticket_hash))
    if row is None:
        raise TicketRejected("Ce ticket de socket est inconnu ou déjà utilisé ; demandez-en un nouveau. "
                             "/ This socket ticket is unknown or already used; ask for a new one.")
    installation_id, account_id, expires_at = row.installation_id, row.account_id, row.expires_at

    # Of two sockets racing with one ticket, only the one whose delete removes the row gets in.
    with _database().transaction() as writer:
        removed = writer.execute(delete(SocketTicket).where(SocketTicket.ticket_hash == ticket_hash)).rowcount
    if removed != 1:
        raise TicketRejected("Ce ticket de socket a déjà été utilisé ; demandez-en un nouveau. "
                             "/ This socket ticket was already used; ask for a new one.")
    now = utcnow()
    if expires_at < now:
        raise TicketRejected(f"Ce ticket de socket a expiré (valable {TICKET_LIFETIME_SECS} s) ; demandez-en un "
                             f"nouveau. / This socket ticket expired (valid {TICKET_LIFETIME_SECS} s); ask for a new one.")
    tenant = session.get(Installation, installation_id, populate_existing=True)
    if tenant is None or not tenant.is_active:
        raise TicketRejected("Le site de ce ticket n'a plus l'application installée. "
                             "/ The site of this ticket no longer has the app installed.")

    session_secs = current_app.config.get("FORGE_SOCKET_SESSION_SECS", SOCKET_SESSION_SECS)
    return TicketAuth(installation=tenant, client_key=tenant.client_key, account_id=account_id,
                      claims={"exp": now.timestamp() + session_secs})
