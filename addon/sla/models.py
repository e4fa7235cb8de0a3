"""Tables of the SLA: one clock per response window, its warning and breach events, and leases.

A clock (`SlaClock`) measures one response window of one conversation: the first response, or a
later next-response round. Its deadline is stored, so that a frequent sweep finds the clocks due
with one indexed query on `next_due_at`. A warning or a breach is an event (`SlaEvent`), not a
state: the unique constraint on (clock, kind) makes inserting the event row the claim to fire it,
so restarts, late sweeps and several processes fire each event once.
"""

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime
from ..models import utcnow


class ClockKind:
    FIRST_RESPONSE = "first_response"
    NEXT_RESPONSE = "next_response"
    ALL = (FIRST_RESPONSE, NEXT_RESPONSE)


class ClockState:
    """The states of a clock. A breach is an event, not a state, so a breached clock keeps running until met."""

    RUNNING = "running"
    PAUSED = "paused"  # the request waits for the customer and the policy pauses the clock
    MET = "met"  # a human agent wrote a public reply
    STOPPED = "stopped"  # the request was resolved or closed before any reply
    OPEN = (RUNNING, PAUSED)


class EventKind:
    WARNING = "warning"
    BREACH = "breach"
    ALL = (WARNING, BREACH)


class SlaClock(Base):
    __tablename__ = "sla_clocks"
    __table_args__ = (
        UniqueConstraint("conversation_id", "kind", "round", name="uq_sla_clocks_round"),
        Index("ix_sla_clocks_next_due", "next_due_at"),
        Index("ix_sla_clocks_site_state", "installation_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False)
    installation_id: Mapped[int] = mapped_column(ForeignKey("installations.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    # 1 for the first response; next-response rounds count up from 1.
    round: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    # The subscription's SLA tier and the priority the impact mapped to, when the clock started.
    tier: Mapped[str] = mapped_column(String(40), nullable=False)
    priority: Mapped[str] = mapped_column(String(40), nullable=False)
    # Length of the window in business minutes of the site's calendar.
    window_minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    warning_percent: Mapped[int] = mapped_column(Integer, nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # Pauses as [from, to] pairs of UTC ISO 8601 instants; `to` is None while the pause lasts.
    pauses: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    state: Mapped[str] = mapped_column(String(20), nullable=False, default=ClockState.RUNNING)
    # While the clock is paused, each is None unless the time counted before the pause reached it,
    # because the instant moves with the length of the pause.
    warning_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The earliest warning or breach instant of a running clock that has not fired yet; None
    # when nothing is due (paused, met, stopped, or both events fired). The sweep reads this.
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    warned: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    breached: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    met_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    met_by_account_id: Mapped[str | None] = mapped_column(String(128))
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Incremented at every change of the clock. The escalation code stores the issue property
    # and then sets `property_version` to the `version` it wrote, so a lagging property shows.
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    property_version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow,
                                                 onupdate=utcnow)

    def __repr__(self):
        return (f"<SlaClock {self.id} conversation={self.conversation_id} {self.kind}#{self.round} "
                f"{self.state} deadline={self.deadline_at}>")


class SlaEvent(Base):
    """A warning or a breach of one clock, recorded once; its escalation actions run after it."""

    __tablename__ = "sla_events"
    __table_args__ = (
        UniqueConstraint("clock_id", "kind", name="uq_sla_events_clock_kind"),
        Index("ix_sla_events_pending", "actions_done_at", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clock_id: Mapped[int] = mapped_column(ForeignKey("sla_clocks.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    # The warning or deadline instant the event stands for; `fired_at` is when a sweep saw it.
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # Set once every escalation action succeeded; until then the sweep retries with backoff.
    actions_done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Names of the actions already done, so that a retry skips them.
    actions_done: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)

    def __repr__(self):
        return f"<SlaEvent {self.id} clock={self.clock_id} {self.kind} due={self.due_at}>"


class SchedulerLease(Base):
    """A named lease on a periodic job: the process named in `owner` runs it until `expires_at`."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    owner: Mapped[str] = mapped_column(String(255), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
