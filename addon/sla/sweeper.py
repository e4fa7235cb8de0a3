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

A sweep fires the due clocks SWEEP_BATCH at a time, each batch in one short transaction, until
none is left. It only records the events: their escalation actions run afterwards on the
process's action pool (`addon.sla.action_pool`), so a slow Jira never delays the firing, and
the pool's attempts pause before their next action while the sweeper job sweeps.

One process sweeps at a time. Every process of the add-on (each gunicorn worker runs create_app)
starts a Sweeper, and each one competes for the `sla_sweeper` row of `scheduler_leases`. A job
of its own renews the lease every LEASE_RENEW_SECS, however long a sweep or an action takes, and
the other processes try to take it over at the same period. They only can once it has expired
(LEASE_SECS after the last renewal, so after the holder died or stopped renewing). The holder
stops sweeping LEASE_MARGIN_SECS before its lease expires, and a process that stops cleanly
releases it. Nothing breaks if two processes sweep at once, because of the unique constraint, so the
lease only saves duplicate work. Set SLA_SWEEPER=False for processes that must not sweep
(one-off commands, most tests).
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
from ..jobs import stop_at_exit
from .action_pool import action_pool, submit_due_actions
from .deadlines import sla_now, update_next_due
from .live import queue_payload
from .models import ClockState, EventKind, SchedulerLease, SlaClock, SlaEvent

log = logging.getLogger(__name__)

LEASE_NAME = "sla_sweeper"
LEASE_SECS = 15
LEASE_RENEW_SECS = 5
LEASE_MARGIN_SECS = 5
# The lease holder writes the `supportchat.sla` issue property of changed clocks this often.
PROPERTY_SYNC_SECS = 2
# Clocks fired per transaction, and batches per sweep. The rest wait for the next sweep.
SWEEP_BATCH = 500
SWEEP_MAX_BATCHES = 40


def _database():
    return current_app.extensions["database"]


# -- firing -------------------------------------------------------------------------------------

def sweep(now=None, keep_going=None):
    """Fire every warning and breach due at `now`, then hand the events whose actions are due to the pool.

    Without `now`, each batch is fired at the current instant of the app's SLA clock. The batches
    stop when none is full, after SWEEP_MAX_BATCHES, or when `keep_going()` returns False.
    Returns the ids of the events this call inserted. Their actions run later, on the threads
    of the action pool. Runs inside an app context.
    """
    fired = []
    for _ in range(SWEEP_MAX_BATCHES):
        new_ids, handled = _fire_batch(now or sla_now(), SWEEP_BATCH)
        fired.extend(new_ids)
        if handled < SWEEP_BATCH or (keep_going is not None and not keep_going()):
            break

    from ..chat.moves_sla import resume_due

    resume_due(now or sla_now())  # resumes the SLA clocks held until an appointment that has started

    escalation = _escalation()
    if escalation is not None:
        submit_due_actions(escalation, now or sla_now())
    return fired


def wait_for_actions(timeout=None):
    """Wait until the app's action pool has run everything handed to it, and return False on timeout."""
    return action_pool().wait_idle(timeout)


def _lock_due_clocks(session, now, limit):
    """Lock and return up to `limit` clocks due at `now`, the most overdue first.

    PostgreSQL skips the rows that a request is changing, and the next sweep picks them up. So
    on PostgreSQL the sweep never waits for a request and never deadlocks with a recompute. SQLite has no row
    locks, so a no-op UPDATE of the same rows takes its database write lock before they are read.
    """
    due = (
        select(SlaClock).where(SlaClock.next_due_at <= now)
        .order_by(SlaClock.next_due_at, SlaClock.id).limit(limit)
        .execution_options(populate_existing=True)
    )
    if session.get_bind().dialect.name == "sqlite":
        due_ids = select(SlaClock.id).where(SlaClock.next_due_at <= now).order_by(
            SlaClock.next_due_at, SlaClock.id).limit(limit)
        session.execute(update(SlaClock).where(SlaClock.id.in_(due_ids.scalar_subquery()))
                        .values(version=SlaClock.version).execution_options(synchronize_session=False))
        return session.execute(due).scalars().all()
    return session.execute(due.with_for_update(skip_locked=True)).scalars().all()


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


def _record_events(session, clock, now):
    """Add the clock's due events to the session, mark them fired on the locked clock and return them."""
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
    return events


def _log_fired(clock, conversation, events, now):
    for event in events:
        log.info("SLA %s fired: clock %s, conversation %s (%s), %s round %s, due %s, fired %s",
                 event.kind, clock.id, conversation.id, conversation.issue_key, clock.kind, clock.round,
                 event.due_at.isoformat(), now.isoformat())


def _fire_batch(now, limit):
    """Record the due events of up to `limit` clocks in one transaction.

    Returns (ids of the new events, number of clocks handled). If another process recorded one
    of the events first, the batch is rolled back and its clocks are fired one by one instead.
    """
    clock_ids = []
    fired = []
    try:
        with _database().transaction() as session:
            clocks = _lock_due_clocks(session, now, limit)
            if not clocks:
                return [], 0
            clock_ids = [clock.id for clock in clocks]
            conversations = {conversation.id: conversation for conversation in session.execute(
                select(Conversation).where(Conversation.id.in_({clock.conversation_id for clock in clocks}))
            ).scalars()}
            for clock in clocks:
                fired.append((clock, _record_events(session, clock, now)))
            session.flush()
            for clock in clocks:
                queue_payload(session, conversations[clock.conversation_id], clock)
    except IntegrityError:
        log.info("SLA sweep: another process recorded an event of a batch of %s clocks first, "
                 "so they are fired one by one", len(clock_ids))
        new_ids = []
        for clock_id in clock_ids:
            new_ids.extend(_fire_due(clock_id, now))
        return new_ids, len(clock_ids)

    for clock, events in fired:
        _log_fired(clock, conversations[clock.conversation_id], events, now)
    return [event.id for _clock, events in fired for event in events], len(clock_ids)


def _fire_due(clock_id, now):
    """Record the due events of one clock in one transaction and return the ids of the new events."""
    try:
        with _database().transaction() as session:
            clock = _lock_clock(session, clock_id)
            if clock is None or clock.next_due_at is None or clock.next_due_at > now:
                return []  # met, paused, recomputed or fired by another process meanwhile
            events = _record_events(session, clock, now)
            session.flush()
            conversation = session.get(Conversation, clock.conversation_id)
            queue_payload(session, conversation, clock)
    except IntegrityError:
        # The unique (clock_id, kind) constraint: another process fired these events first. The
        # row lock makes this rare, but the constraint is what guarantees it.
        log.info("SLA clock %s: events already fired by another process", clock_id)
        _mark_fired(clock_id)
        return []

    _log_fired(clock, conversation, events, now)
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


def _escalation():
    """Return the escalation module, or None while it does not exist (logged once per app)."""
    try:
        from . import escalation
    except ImportError as error:
        if not current_app.extensions.get("sla_escalation_missing_logged"):
            current_app.extensions["sla_escalation_missing_logged"] = True
            log.warning("SLA escalation actions are not available (%s), so events are recorded without actions", error)
        return None
    return escalation


# -- the lease ----------------------------------------------------------------------------------

def take_lease(name, owner, now, duration_secs):
    """Take or renew the lease `name` for `owner` until `now + duration_secs`, and return whether it is held.

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
    """The SLA jobs of one process, on an APScheduler BackgroundScheduler: the lease, the sweep and
    the issue-property sync, each in a thread of its own so that none waits for another.

    The lease runs on the wall clock (it is about processes being alive), while deadlines and
    action claims run on the app's injectable SLA clock. `wall_clock` replaces the wall clock in
    tests.
    """

    def __init__(self, app, owner=None, wall_clock=None):
        self.app = app
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.interval_secs = float(app.config.get("SLA_SWEEP_INTERVAL_SECS", 0.5))
        self.wall_clock = wall_clock or (lambda: datetime.now(timezone.utc))
        self.scheduler = None
        # The wall-clock instant until which this process has the lease, or None when it does not have it.
        self.lease_expires_at = None
        self.lease_tried = False
        self._lease_lock = threading.Lock()
        # Set at each renewal that keeps or takes the lease.
        self.lease_renewed = threading.Event()
        # Set after the first sweep job ran (whether or not this process held the lease).
        self.first_run_done = threading.Event()

    def start(self):
        from apscheduler.schedulers.background import BackgroundScheduler

        self.scheduler = BackgroundScheduler(timezone=timezone.utc)
        now = datetime.now(timezone.utc)
        jobs = ((self.keep_lease, LEASE_RENEW_SECS, "sla_lease"), (self.run, self.interval_secs, "sla_sweep"),
                (self.sync_properties, PROPERTY_SYNC_SECS, "sla_property_sync"))
        for function, seconds, job_id in jobs:
            self.scheduler.add_job(function, "interval", seconds=seconds, id=job_id, next_run_time=now,
                                   coalesce=True, max_instances=1, misfire_grace_time=None)
        self.scheduler.start()
        stop_at_exit(self.scheduler)
        log.info("SLA sweeper %s started, every %s s", self.owner, self.interval_secs)

    def keep_lease(self):
        """Renew or take the lease, and renew the claims of the actions running here (every LEASE_RENEW_SECS)."""
        with self.app.app_context():
            try:
                self.renew_lease(self.wall_clock())
            except Exception:  # noqa: BLE001  (the next renewal tries again, and the lease may expire meanwhile)
                log.exception("Renewing the SLA sweeper lease of %s failed", self.owner)
            pool = self.app.extensions.get("sla_actions")
            try:
                if pool is not None:
                    pool.renew_claims(sla_now())
            except Exception:  # noqa: BLE001  (each action renews its claim too before it starts)
                log.exception("Renewing the claims of running SLA actions failed")
            finally:
                _database().remove_session()

    def renew_lease(self, wall_now):
        """Renew or take the lease at `wall_now`, and return whether this process has it."""
        with self._lease_lock:
            held = take_lease(LEASE_NAME, self.owner, wall_now, LEASE_SECS)
            if held and self.lease_expires_at is None:
                log.info("SLA sweeper %s took the lease", self.owner)
            elif not held and self.lease_expires_at is not None:
                log.warning("SLA sweeper %s lost the lease to another process", self.owner)
            self.lease_expires_at = wall_now + timedelta(seconds=LEASE_SECS) if held else None
            self.lease_tried = True
        if held:
            self.lease_renewed.set()
        return held

    def holds_lease(self, wall_now):
        """Return whether this process may sweep at `wall_now`: its lease has LEASE_MARGIN_SECS or more left."""
        expires_at = self.lease_expires_at
        return expires_at is not None and wall_now < expires_at - timedelta(seconds=LEASE_MARGIN_SECS)

    def run(self):
        """Sweep once if this process has the lease. The scheduler calls this every interval."""
        with self.app.app_context():
            try:
                if not self.lease_tried:
                    self.renew_lease(self.wall_clock())  # at start-up, before the lease job's first run
                if self.holds_lease(self.wall_clock()):
                    with action_pool().sweeping():
                        sweep(keep_going=lambda: self.holds_lease(self.wall_clock()))
            except Exception:  # noqa: BLE001  (the next run, half a second later, tries again)
                log.exception("The SLA sweep failed")
            finally:
                self.first_run_done.set()

    def sync_properties(self):
        """Write the issue property of clocks changed since it was last written, if this process holds the lease.

        Clocks change in request threads (messages, status changes) that must not wait for Jira,
        so the lease holder writes their property here instead.
        """
        if not self.holds_lease(self.wall_clock()):
            return
        from .issue_property import sync_pending_properties

        with self.app.app_context():
            try:
                sync_pending_properties()
            except Exception:  # noqa: BLE001  (the clocks stay pending for the next sync)
                log.exception("Writing the SLA issue properties failed")
            finally:
                _database().remove_session()

    def stop(self):
        """Stop the jobs, wait for the running ones and, briefly, for actions, then release the lease."""
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        pool = self.app.extensions.pop("sla_actions", None)
        if pool is not None:
            pool.shutdown()
        if self.lease_expires_at is not None:
            with self.app.app_context():
                try:
                    release_lease(LEASE_NAME, self.owner, self.wall_clock())
                except Exception:  # noqa: BLE001  (the lease then expires by itself)
                    log.exception("Releasing the SLA sweeper lease failed")
            self.lease_expires_at = None
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
