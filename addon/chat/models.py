"""Tables of the chat: conversations, their messages, read marks, proposed solutions and the
satisfaction question asked after a validation.

A conversation belongs to exactly one JSM request that a chat opened, for the request's whole
life. Messages are numbered per conversation (`seq`, assigned by the server in the same
transaction as the insert), which is what clients resume from after a reconnect.
"""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime
from ..models import utcnow


class ConversationState:
    """The state of the request as the chat shows it (from the Jira status category)."""

    OPEN = "open"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Impact:
    """The impact the key user chose when starting the chat."""

    BLOCKING = "blocking"
    DEGRADED = "degraded"
    QUESTION = "question"
    ALL = (BLOCKING, DEGRADED, QUESTION)


class AuthorRole:
    CUSTOMER = "customer"
    AGENT = "agent"
    SYSTEM = "system"


class Visibility:
    PUBLIC = "public"
    INTERNAL = "internal"


class MessageKind:
    MESSAGE = "message"
    EVENT = "event"


class Origin:
    """The place a message was written: the chat, or Jira (a comment seen through a webhook)."""

    CHAT = "chat"
    JIRA = "jira"


class SyncState:
    """Progress of a chat message towards its Jira comment."""

    PENDING = "pending"
    SENDING = "sending"
    SYNCED = "synced"
    FAILED = "failed"  # the retry budget ran out; the outbox tries again later
    IN_DESCRIPTION = "in_description"  # the first message became the request's description
    NOT_APPLICABLE = "not_applicable"  # came from Jira, or an event that is not a comment


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("installation_id", "issue_id", name="uq_conversations_issue"),
        Index("ix_conversations_issue_key", "installation_id", "issue_key"),
        Index("ix_conversations_opened_by", "installation_id", "opened_by_account_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    installation_id: Mapped[int] = mapped_column(ForeignKey("installations.id", ondelete="CASCADE"), nullable=False)
    issue_id: Mapped[str] = mapped_column(String(40), nullable=False)
    issue_key: Mapped[str] = mapped_column(String(80), nullable=False)
    project_key: Mapped[str] = mapped_column(String(40), nullable=False)
    service_desk_id: Mapped[str] = mapped_column(String(40), nullable=False)
    request_type_id: Mapped[str] = mapped_column(String(40), nullable=False)
    organization_id: Mapped[str | None] = mapped_column(String(40))
    opened_by_account_id: Mapped[str] = mapped_column(String(128), nullable=False)
    summary: Mapped[str] = mapped_column(Text, nullable=False)
    product_area: Mapped[str | None] = mapped_column(String(120))
    impact: Mapped[str] = mapped_column(String(20), nullable=False)
    state: Mapped[str] = mapped_column(String(20), nullable=False, default=ConversationState.OPEN)
    jira_status: Mapped[str | None] = mapped_column(String(120))
    # Highest `seq` given to a message of this conversation; incremented under a row lock.
    last_seq: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # When a key user's socket or long-poll last showed the conversation open (addon.workspace.presence).
    customer_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow,
                                                 onupdate=utcnow)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq", name="uq_messages_seq"),
        UniqueConstraint("conversation_id", "client_message_id", name="uq_messages_client_id"),
        Index("ix_messages_jira_comment", "conversation_id", "jira_comment_id"),
        Index("ix_messages_sync", "sync_state", "next_sync_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    # Chosen by the sending client, so that a resend after a lost acknowledgement is recognised.
    client_message_id: Mapped[str | None] = mapped_column(String(64))
    author_account_id: Mapped[str | None] = mapped_column(String(128))
    author_role: Mapped[str] = mapped_column(String(20), nullable=False)
    author_name: Mapped[str | None] = mapped_column(String(255))
    visibility: Mapped[str] = mapped_column(String(20), nullable=False, default=Visibility.PUBLIC)
    kind: Mapped[str] = mapped_column(String(20), nullable=False, default=MessageKind.MESSAGE)
    event_type: Mapped[str | None] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text, nullable=False, default="")
    origin: Mapped[str] = mapped_column(String(20), nullable=False, default=Origin.CHAT)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Several consecutive messages of one author may share one comment.
    jira_comment_id: Mapped[str | None] = mapped_column(String(40))
    # `updated` time of the Jira comment version this row shows; older webhook deliveries lose.
    jira_comment_updated: Mapped[str | None] = mapped_column(String(40))
    sync_state: Mapped[str] = mapped_column(String(20), nullable=False, default=SyncState.PENDING)
    sync_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    sync_error: Mapped[str | None] = mapped_column(Text)
    next_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when a write whose outcome is unknown (timeout, dropped connection) was sent, so that
    # the next attempt first looks for the comment instead of posting it again.
    sync_uncertain_since: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReadMark(Base):
    """The last message a person has seen in a conversation."""

    __tablename__ = "read_marks"
    __table_args__ = (UniqueConstraint("conversation_id", "account_id", name="uq_read_marks"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False)
    account_id: Mapped[str] = mapped_column(String(128), nullable=False)
    last_read_seq: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow,
                                                 onupdate=utcnow)


class SolutionState:
    """The state of a proposed solution: waiting for the key user, answered, or replaced."""

    PROPOSED = "proposed"
    VALIDATED = "validated"
    PERSISTS = "persists"  # the key user reported that the problem persists
    SUPERSEDED = "superseded"  # an agent proposed another message before the key user answered


class SolutionOutcome:
    """The effect of the key user's answer on the request in Jira."""

    RESOLVED = "resolved"  # moved to the solution status
    ALREADY_RESOLVED = "already_resolved"  # it was in the solution status already
    CLOSED = "closed"  # it was in a final status, so nothing moved but the answer is recorded
    NO_TRANSITION = "no_transition"  # the workflow has no transition to the target from its status
    REOPENED = "reopened"  # moved back to the reopen status
    KEPT_OPEN = "kept_open"  # it was open for support already
    NEW_REQUEST = "new_request"  # final status: the key user is asked to raise a new request


class ProposedSolution(Base):
    """A message an agent proposed as the solution, and the key user's answer to it."""

    __tablename__ = "proposed_solutions"
    __table_args__ = (
        UniqueConstraint("conversation_id", "message_id", name="uq_proposed_solutions_message"),
        Index("ix_proposed_solutions_state", "conversation_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), nullable=False)
    proposed_by_account_id: Mapped[str] = mapped_column(String(128), nullable=False)
    proposed_by_name: Mapped[str | None] = mapped_column(String(255))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    state: Mapped[str] = mapped_column(String(20), nullable=False, default=SolutionState.PROPOSED)
    answered_by_account_id: Mapped[str | None] = mapped_column(String(128))
    answered_by_name: Mapped[str | None] = mapped_column(String(255))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(20))
    # The Jira status before and after the answer, and the actor that moved the request. The actor is
    # "customer" when Jira let the add-on act as the key user, or "app" for the app user on their behalf.
    status_before: Mapped[str | None] = mapped_column(String(120))
    status_after: Mapped[str | None] = mapped_column(String(120))
    transitioned_by: Mapped[str | None] = mapped_column(String(20))


class SatisfactionSurvey(Base):
    """The one optional satisfaction question asked after a validation, and its answer."""

    __tablename__ = "satisfaction_surveys"
    __table_args__ = (
        UniqueConstraint("solution_id", name="uq_satisfaction_surveys_solution"),
        Index("ix_satisfaction_surveys_conversation", "conversation_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    solution_id: Mapped[int] = mapped_column(ForeignKey("proposed_solutions.id", ondelete="CASCADE"), nullable=False)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False)
    # The key user the question was put to, and the language ("fr" or "en") it was put in.
    account_id: Mapped[str] = mapped_column(String(128), nullable=False)
    language: Mapped[str] = mapped_column(String(8), nullable=False)
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # 1 (not satisfied) to 5 (very satisfied). None until answered, and when the key user declined.
    rating: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    declined_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# Registers the conversation_moves table wherever the chat tables are registered.
from . import moves_models  # noqa: E402,F401

# Registers the chat_attachments table wherever the chat tables are registered.
from . import attachments_models  # noqa: E402,F401

# Registers the transcript_attachments table wherever the chat tables are registered.
from . import transcript_models  # noqa: E402,F401
