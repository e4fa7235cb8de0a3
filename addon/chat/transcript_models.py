"""The transcripts attached to requests: one row per resolution of a chat request.

A row is the claim to attach the public transcript of that resolution, and the unique constraint on
(conversation_id, resolution_seq) admits one per resolution. A request reopened and resolved again
gets a new resolution event, hence a new row and a new version of the file.
"""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime
from ..models import utcnow


class TranscriptState:
    PENDING = "pending"  # waiting for its first or next attempt
    SENDING = "sending"  # claimed by a process until claimed_until
    ATTACHED = "attached"


class TranscriptAttachment(Base):
    __tablename__ = "transcript_attachments"
    __table_args__ = (
        UniqueConstraint("conversation_id", "resolution_seq", name="uq_transcript_attachments_resolution"),
        Index("ix_transcript_attachments_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False)
    # The `seq` of the request_resolved event: the transcript contains the public entries up to it.
    resolution_seq: Mapped[int] = mapped_column(Integer, nullable=False)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    # The key user's language ("fr" or "en"), read from their Jira locale at the first attempt.
    language: Mapped[str | None] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(20), nullable=False, default=TranscriptState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set before the attach call. If the outcome stays unknown (timeout), the next attempt first
    # looks for the file on the request instead of attaching a second copy.
    uncertain_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    attached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
