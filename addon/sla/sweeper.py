"""The SLA sweeper: a frequent job that fires the warnings and breaches whose instant has come.

Why deadline rows swept by one frequent job, and not one APScheduler job per chat in a persistent
job store:
- The deadlines already live in `sla_clocks`, updated in the same transaction as the message or
  status change that moves them. A job store would be a second copy to keep in step, and a pause,
  a resume or a recomputed calendar would mean rescheduling jobs outside that transaction.
- Finding what is due is one query on the `next_due_at` index, so a sweep costs almost nothing
  when nothing is due. Sweeping every SLA_SWEEP_INTERVAL_SECS (0.5 s by default) fires a breach
  within about that delay plus the time of the sweep.
- Exactly-once does not depend on the scheduler. Inserting the `sla_events` row is the claim to
  fire it, and the unique constraint on (clock_id, kind) admits one row per warning or breach.
  Restarts, late sweeps and several sweeping processes therefore never duplicate an escalation.
- Catch-up after downtime needs no misfire handling: the first sweep runs at start-up and finds
  every instant that passed, because it compares with now instead of waiting for a trigger.

One process sweeps at a time. Every process of the add-on (each gunicorn worker runs create_app)
starts a Sweeper, and each one competes for the `sla_sweeper` row of `scheduler_leases`. The
holder renews it every LEASE_RENEW_SECS, and the others try to take it over at the same period,
which they only can once it has expired (LEASE_SECS after the last renewal, so after the holder
died or stopped renewing). A process that stops cleanly releases its lease. Nothing breaks if two
processes sweep at once, because of the unique constraint; the lease only saves duplicate work.
Set SLA_SWEEPER=False for processes that must not sweep (one-off commands, most tests).

The escalation actions of an event run after its commit, through
`addon.sla.escalation.run_actions(event_id)`. An event whose actions are not all done
(`actions_done_at` NULL) is retried by later sweeps with a doubling delay.
"""

import logging
import os
import socket
import threading
import uuid
from datetime import datetime, timedelta, timezone

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..chat.models import Conversation
from .clock import queue_payload, sla_now, update_next_due
from .models import ClockState, EventKind, SchedulerLease, SlaClock, SlaEvent

log = logging.getLogger(__name__)

LEASE_NAME = "sla_sweeper"
LEASE_SECS = 15
LEASE_RENEW_SECS = 5
# The lease holder writes the `supportchat.sla` issue property of changed clocks this often.
PROPERTY_SYNC_SECS = 2
# Clocks handled per sweep; the rest wait for the next sweep, half a second later by default.
SWEEP_BATCH = 200
# Failed escalation actions are retried after 5 s, doubling up to 30 min, at most 20 times.
ACTION_RETRY_BASE_SECS = 5
ACTION_RETRY_MAX_SECS = 1800
ACTION_MAX_ATTEMPTS = 20
LAST_ERROR_MAX_CHARS = 2000


def _database():
    return current_app.extensions["database"]


# -- firing -------------------------------------------------------------------------------------

def sweep(now=None):
    """Fire every warning and breach due at `now` (default: the app's SLA clock) and run their actions.

    Returns the ids of the events this call inserted. Runs inside an app context.
    """
    now = now or sla_now()
    session = _database().session
    due = session.execute(
        select(SlaClock.id).where(SlaClock.next_due_at <= now)
        .order_by(SlaClock.next_due_at).limit(SWEEP_BATCH)
    ).scalars().all()
    session.rollback()  # ends the read transaction before the per-clock write transactions

    fired = []
    for clock_id in due:
        fired.extend(_fire_due(clock_id, now))
    _run_pending_actions(now)
    return fired


def _lock_clock(session, clock_id):
    # SQLite has no FOR UPDATE, so the no-op UPDATE takes its write lock before the row is read.
    # On PostgreSQL the UPDATE takes the row lock, which FOR UPDATE then keeps.
    session.execute(update(SlaClock).where(SlaClock.id == clock_id).values(version=SlaClock.version))
    return session.execute(
        select(SlaClock).where(SlaClock.id == clock_id).with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def _due_events(clock, now):
    """Return (kind, instant) of the clock's events that are due at `now` and not yet fired."""
    ended_at = clock.met_at or clock.stopped_at
    due = []
    for kind, fired, moment in ((EventKind.WARNING, clock.warned, clock.warning_at),
                                (EventKind.BREACH, clock.breached, clock.deadline_at)):
        if fired or moment is None or moment > now:
            continue
        if clock.state not in ClockState.OPEN and (ended_at is None or moment > ended_at):
            continue
        due.append((kind, moment))
    return due


def _fire_due(clock_id, now):
    """Record the due events of one clock in one transaction; return the ids of the new events."""
    database = _database()
    try:
        with database.transaction() as session:
            clock = _lock_clock(session, clock_id)
            if clock is None or clock.next_due_at is None or clock.next_due_at > now:
                return []  # met, paused, recomputed or fired by another process meanwhile
            events = []
            for kind, moment in _due_events(clock, now):
                event = SlaEvent(clock_id=clock.id, kind=kind, due_at=moment, fired_at=now,
                                 actions_done=[], attempts=0, next_attempt_at=now)
                session.add(event)
                events.append(event)
                if kind == EventKind.WARNING:
                    clock.warned = True
                else:
                    clock.breached = True
            update_next_due(clock)
            clock.version += 1
            session.flush()
            conversation = session.get(Conversation, clock.conversation_id)
            queue_payload(session, conversation, clock)
    except IntegrityError:
        # The unique (clock_id, kind) constraint: another process fired these events first. The
        # row lock makes this rare, but the constraint is what guarantees it.
        log.info("SLA clock %s: events already fired by another process", clock_id)
        _mark_fired(clock_id)
        return []

    for event in events:
        log.info("SLA %s fired: clock %s, conversation %s (%s), %s round %s, due %s, fired %s",
                 event.kind, clock.id, conversation.id, conversation.issue_key, clock.kind, clock.round,
                 event.due_at.isoformat(), now.isoformat())
    return [event.id for event in events]


def _mark_fired(clock_id):
    """Set the clock's flags from the events recorded for it, so that it stops being due for them."""
    with _database().transaction() as session:
        clock = _lock_clock(session, clock_id)
        if clock is None:
            return
        kinds = set(session.execute(select(SlaEvent.kind).where(SlaEvent.clock_id == clock_id)).scalars())
        clock.warned = clock.warned or EventKind.WARNING in kinds
        clock.breached = clock.breached or EventKind.BREACH in kinds
        update_next_due(clock)


# -- escalation actions -------------------------------------------------------------------------

def _escalation():
    """Return the escalation module, or None while it does not exist (logged once per app)."""
    try:
        from . import escalation
    except ImportError as error:
        if not current_app.extensions.get("sla_escalation_missing_logged"):
            current_app.extensions["sla_escalation_missing_logged"] = True
            log.warning("SLA escalation actions are not available (%s); events are recorded only", error)
        return None
    return escalation


def retry_delay(attempts):
    """Return the wait before attempt `attempts + 1` of an event's actions."""
    return timedelta(seconds=min(ACTION_RETRY_MAX_SECS, ACTION_RETRY_BASE_SECS * 2 ** max(0, attempts - 1)))


def _run_pending_actions(now):
    # NOTE: actions run in the sweep's own thread. While Jira is slow, the next sweeps start late
    # by the time the actions take, although events already fired stay recorded.
    escalation = _escalation()
    if escalation is None:
        return
    session = _database().session
    pending = session.execute(
        select(SlaEvent.id, SlaEvent.attempts).where(
            SlaEvent.actions_done_at.is_(None), SlaEvent.next_attempt_at.is_not(None),
            SlaEvent.next_attempt_at <= now,
        ).order_by(SlaEvent.id).limit(SWEEP_BATCH)
    ).all()
    session.rollback()
    for event_id, attempts in pending:
        if _claim_attempt(event_id, attempts, now):
            _run_actions(escalation, event_id, attempts + 1)


def _claim_attempt(event_id, attempts, now):
    """Count one attempt of the event's actions and schedule the next, if this process wins it.

    The guarded UPDATE lets one process run each attempt, even when several sweep at once. The
    next attempt is scheduled before this one runs, so a crash during the actions is retried too.
    """
    attempt = attempts + 1
    next_attempt_at = now + retry_delay(attempt) if attempt < ACTION_MAX_ATTEMPTS else None
    with _database().transaction() as session:
        result = session.execute(
            update(SlaEvent).where(
                SlaEvent.id == event_id, SlaEvent.attempts == attempts, SlaEvent.actions_done_at.is_(None),
            ).values(attempts=attempt, next_attempt_at=next_attempt_at)
        )
    return result.rowcount == 1


def _run_actions(escalation, event_id, attempt):
    try:
        escalation.run_actions(event_id)
    except Exception as error:  # noqa: BLE001  (recorded on the event and retried by a later sweep)
        with _database().transaction() as session:
            event = session.get(SlaEvent, event_id)
            event.last_error = f"{type(error).__name__}: {error}"[:LAST_ERROR_MAX_CHARS]
            next_attempt_at = event.next_attempt_at
        if next_attempt_at is None:
            log.error("SLA event %s: escalation actions failed on attempt %s, the last one: %s",
                      event_id, attempt, error)
        else:
            log.warning("SLA event %s: escalation actions failed on attempt %s (%s); retry at %s",
                        event_id, attempt, error, next_attempt_at.isoformat())


# -- the lease ----------------------------------------------------------------------------------

def take_lease(name, owner, now, duration_secs):
    """Take or renew the lease `name` for `owner` until `now + duration_secs`; tell whether it is held.

    A guarded UPDATE renews the owner's lease or takes over an expired one. When no row exists
    yet, the INSERT races with other processes and the primary key lets one of them win.
    """
    database = _database()
    expires_at = now + timedelta(seconds=duration_secs)
    with database.transaction() as session:
        result = session.execute(
            update(SchedulerLease).where(
                SchedulerLease.name == name,
                (SchedulerLease.owner == owner) | (SchedulerLease.expires_at <= now),
            ).values(owner=owner, expires_at=expires_at)
        )
        if result.rowcount == 1:
            return True
        if session.get(SchedulerLease, name) is not None:
            return False
    try:
        with database.transaction() as session:
            session.add(SchedulerLease(name=name, owner=owner, expires_at=expires_at))
    except IntegrityError:
        return False
    return True


def release_lease(name, owner, now):
    """Let the lease expire at once if `owner` holds it, so another process can take over."""
    with _database().transaction() as session:
        session.execute(
            update(SchedulerLease).where(SchedulerLease.name == name, SchedulerLease.owner == owner)
            .values(expires_at=now)
        )


class Sweeper:
    """The sweeping job of one process: an APScheduler BackgroundScheduler and the lease it competes for.

    The lease runs on the wall clock (it is about processes being alive), while deadlines run on
    the app's injectable SLA clock.
    """

    def __init__(self, app, owner=None):
        self.app = app
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.interval_secs = float(app.config.get("SLA_SWEEP_INTERVAL_SECS", 0.5))
        self.scheduler = None
        self.lease_renewed_at = None
        self.next_lease_try_at = None
        self.next_property_sync_at = None
        # Set after the first sweep job ran (whether or not this process held the lease).
        self.first_run_done = threading.Event()

    def start(self):
        from apscheduler.schedulers.background import BackgroundScheduler

        self.scheduler = BackgroundScheduler(timezone=timezone.utc)
        self.scheduler.add_job(self.run, "interval", seconds=self.interval_secs, id="sla_sweep",
                               next_run_time=datetime.now(timezone.utc), coalesce=True, max_instances=1,
                               misfire_grace_time=None)
        self.scheduler.start()
        log.info("SLA sweeper %s started, every %s s", self.owner, self.interval_secs)

    def run(self):
        """Sweep once if this process holds the lease; the scheduler calls this every interval."""
        with self.app.app_context():
            wall_now = datetime.now(timezone.utc)
            try:
                if self.holds_lease(wall_now):
                    sweep()
                    self.sync_properties(wall_now)
            except Exception:  # noqa: BLE001  (the next run, half a second later, tries again)
                log.exception("The SLA sweep failed")
            finally:
                self.first_run_done.set()

    def sync_properties(self, wall_now):
        """Write the issue property of clocks changed since it was last written, every PROPERTY_SYNC_SECS.

        Clocks change in request threads (messages, status changes) that must not wait for Jira,
        so the lease holder writes their property here instead.
        """
        if self.next_property_sync_at is not None and wall_now < self.next_property_sync_at:
            return
        self.next_property_sync_at = wall_now + timedelta(seconds=PROPERTY_SYNC_SECS)
        try:
            from .issue_property import sync_pending_properties
        except ImportError:
            return
        sync_pending_properties()

    def holds_lease(self, wall_now):
        """Tell whether this process may sweep now, renewing or trying to take the lease when due."""
        if self.lease_renewed_at is not None and wall_now - self.lease_renewed_at < timedelta(seconds=LEASE_RENEW_SECS):
            return True
        if self.lease_renewed_at is None and self.next_lease_try_at is not None and wall_now < self.next_lease_try_at:
            return False
        held = take_lease(LEASE_NAME, self.owner, wall_now, LEASE_SECS)
        if held and self.lease_renewed_at is None:
            log.info("SLA sweeper %s took the lease", self.owner)
        elif not held and self.lease_renewed_at is not None:
            log.warning("SLA sweeper %s lost the lease to another process", self.owner)
        self.lease_renewed_at = wall_now if held else None
        self.next_lease_try_at = None if held else wall_now + timedelta(seconds=LEASE_RENEW_SECS)
        return held

    def stop(self):
        """Stop the job, wait for a running sweep, and release the lease."""
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        if self.lease_renewed_at is not None:
            with self.app.app_context():
                try:
                    release_lease(LEASE_NAME, self.owner, datetime.now(timezone.utc))
                except Exception:  # noqa: BLE001  (the lease then expires by itself)
                    log.exception("Releasing the SLA sweeper lease failed")
            self.lease_renewed_at = None
        log.info("SLA sweeper %s stopped", self.owner)


def init_app(app):
    """Install the SLA clock (SLA_NOW, a callable that load_config admits in tests only) and start the sweeper.

    SLA_SWEEPER=False (config or environment) leaves the sweeper off; `sweep()` still works.
    """
    app.extensions["sla_now"] = app.config.get("SLA_NOW") or (lambda: datetime.now(timezone.utc))
    if not app.config.get("SLA_SWEEPER", True):
        return None
    sweeper = Sweeper(app)
    app.extensions["sla_sweeper"] = sweeper
    sweeper.start()
    return sweeper
