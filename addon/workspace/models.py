"""Tables of the agents' workspace: agent presence and the routing state of each chat."""

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime
from ..models import utcnow


class PresenceStatus:
    """The presence an agent chooses, shown to colleagues and read by the router."""

    AVAILABLE = "available"
    BUSY = "busy"
    AWAY = "away"
    ALL = (AVAILABLE, BUSY, AWAY)


class RoutingState:
    """The routing steps of a chat, from arrival to claim."""

    # Offered to the agents in `offered_to` (or to the whole group when none is online).
    OFFERED = "offered"
    # Held by `assignee_account_id`, who also becomes the request's Jira assignee.
    CLAIMED = "claimed"


class AgentPresence(Base):
    """The presence an agent set, and when their dashboard or panel last showed signs of life.

    An agent whose `seen_at` is older than routing.PRESENCE_TIMEOUT counts as away, whatever
    `status` holds, so a closed browser tab does not keep receiving chats.
    """

    __tablename__ = "agent_presence"
    __table_args__ = (UniqueConstraint("installation_id", "account_id", name="uq_agent_presence_agent"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    installation_id: Mapped[int] = mapped_column(ForeignKey("installations.id", ondelete="CASCADE"), nullable=False)
    account_id: Mapped[str] = mapped_column(String(128), nullable=False)
    display_name: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=PresenceStatus.AVAILABLE)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class ChatRouting(Base):
    """The routing state of one chat: its group, its current offer, and its assignee."""

    __tablename__ = "chat_routing"

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    installation_id: Mapped[int] = mapped_column(
        ForeignKey("installations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    # The Jira group whose agents the chat is offered to; None offers it to every agent.
    group_name: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(20), nullable=False, default=RoutingState.OFFERED)
    # The agents the current offer went to (accountIds); empty when none was online.
    offered_to: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    # True when a transfer named one agent: only that agent gets the offer until the next re-offer.
    directed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    offer_round: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    offered_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # When an unclaimed offer goes to the group again; None once claimed.
    reoffer_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    assignee_account_id: Mapped[str | None] = mapped_column(String(128), index=True)
    assignee_name: Mapped[str | None] = mapped_column(String(255))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last transfer: who sent it, and the note for the receiver.
    transferred_by_account_id: Mapped[str | None] = mapped_column(String(128))
    transfer_note: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)
