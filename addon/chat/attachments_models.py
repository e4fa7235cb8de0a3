"""The table of files sent in the chat: the bytes the add-on keeps, and their way to Jira.

An accepted file is stored here in the same transaction as the chat message that shows it, so that
a Jira outage loses nothing. The attachment worker (addon/chat/attachments_jira.py) then uploads it
to the request as a JSM attachment, as its author, and records the Jira attachment id.
"""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, deferred, mapped_column

from ..db import Base, UTCDateTime
from ..models import utcnow


class AttachmentSyncState:
    """Progress of a chat file towards its Jira attachment."""

    PENDING = "pending"
    SENDING = "sending"  # claimed by a worker; `next_sync_at` is the end of its lease
    SYNCED = "synced"
    FAILED = "failed"  # the last attempt failed; the worker tries again at `next_sync_at`
    WAITING = (PENDING, SENDING, FAILED)


class ChatAttachment(Base):
    __tablename__ = "chat_attachments"
    __table_args__ = (
        UniqueConstraint("message_id", name="uq_chat_attachments_message"),
        Index("ix_chat_attachments_conversation", "conversation_id"),
        Index("ix_chat_attachments_sync", "sync_state", "next_sync_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False)
    # The chat message that shows the file; its visibility decides who may download it.
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), nullable=False)
    uploader_account_id: Mapped[str] = mapped_column(String(128), nullable=False)
    uploader_role: Mapped[str] = mapped_column(String(20), nullable=False)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    # The type the add-on recognised from the bytes (addon/chat/attachments_types.py), never the
    # browser's claim; downloads are served with it.
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    size_bytes: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    # Loaded only when the file is served or sent to Jira, not with every listing.
    data: Mapped[bytes] = deferred(mapped_column(LargeBinary, nullable=False))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    sync_state: Mapped[str] = mapped_column(String(20), nullable=False, default=AttachmentSyncState.PENDING)
    sync_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    sync_error: Mapped[str | None] = mapped_column(Text)
    next_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set before the call that attaches the file, so that a retry after an unknown outcome first
    # looks for the attachment on the request instead of attaching it twice.
    sync_uncertain_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    jira_attachment_id: Mapped[str | None] = mapped_column(String(40))
    # The identity Jira recorded as the attachment's author: the uploader, or the app user when
    # Jira refused to let the add-on act as them.
    jira_author_account_id: Mapped[str | None] = mapped_column(String(128))
