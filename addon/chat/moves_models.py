"""Table of conversation moves: an agent moved the chat to mail, an appointment, the ERP's own tool
or a classic ticket, with a reason, until an agent brings it back to the chat.

At most one move of a conversation is active at a time (moves.py checks it under the
conversation's lock), so the active move is the conversation's recorded channel.
"""

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime
from ..models import utcnow


class MoveTarget:
    """The channel a conversation moves to."""

    MAIL = "mail"
    APPOINTMENT = "appointment"
    ERP_TOOL = "erp_tool"
    CLASSIC_TICKET = "classic_ticket"
    ALL = (MAIL, APPOINTMENT, ERP_TOOL, CLASSIC_TICKET)
    # Targets after which the key user can no longer write in the chat.
    CLOSING_CHAT = (MAIL, CLASSIC_TICKET)


class MoveState:
    ACTIVE = "active"
    ENDED = "ended"  # an agent brought the conversation back to the chat


class ConversationMove(Base):
    __tablename__ = "conversation_moves"
    __table_args__ = (
        Index("ix_conversation_moves_state", "conversation_id", "state"),
        Index("ix_conversation_moves_sla_hold", "sla_paused_until"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False)
    target: Mapped[str] = mapped_column(String(20), nullable=False)
    state: Mapped[str] = mapped_column(String(20), nullable=False, default=MoveState.ACTIVE)
    # The agent's reason, traced on the request as an internal comment only.
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    moved_by_account_id: Mapped[str] = mapped_column(String(128), nullable=False)
    moved_by_name: Mapped[str | None] = mapped_column(String(255))
    moved_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    ended_by_account_id: Mapped[str | None] = mapped_column(String(128))
    ended_by_name: Mapped[str | None] = mapped_column(String(255))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The ERP tool's name, message and link as the settings gave them at the time of the move.
    erp_tool: Mapped[dict | None] = mapped_column(JSON)
    # Appointment: the proposed slot starts (UTC ISO 8601), their length, and the key user's pick.
    slots: Mapped[list | None] = mapped_column(JSON)
    duration_minutes: Mapped[int | None] = mapped_column(Integer)
    slot_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    chosen_by_account_id: Mapped[str | None] = mapped_column(String(128))
    chosen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The invitation: its iCalendar UID, language ("fr" or "en"), and the Jira attachment's link.
    ics_uid: Mapped[str | None] = mapped_column(String(255))
    ics_language: Mapped[str | None] = mapped_column(String(8))
    ics_attachment_url: Mapped[str | None] = mapped_column(Text)
    # The invitation file as it was attached, served again to the chat's readers.
    ics_text: Mapped[str | None] = mapped_column(Text)
    # The SLA clock is paused until this instant (the slot's start); the sweeper resumes it and sets
    # `sla_resumed_at`. Both stay None when no open clock was paused.
    sla_paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sla_resumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
