"""The escalation actions of SLA events, run on a small pool of worker threads apart from the sweep.

The sweep only records warnings and breaches, then hands the events whose actions are due to
this pool, so that a slow or rate-limited Jira never delays the next sweep. Each process has one
pool of SLA_ACTION_WORKERS threads (4 by default).

Within a process, an event already queued or running is not submitted again. Across processes,
each attempt is claimed in the database before it runs: the claim counts the attempt and moves
`next_attempt_at` ACTION_CLAIM_SECS ahead, so no sweep picks the event up meanwhile. The process
that runs the attempt renews its claim before each action and every LEASE_RENEW_SECS (the
sweeper's lease job calls `renew_claims`), however long Jira takes. An attempt whose claim was
taken over stops before its next action. A failed attempt is retried after a doubling delay, and
the claim of a process that died mid-attempt expires, so another process retries it.

The sweep of the same process has priority: while it runs, the attempts wait before their next
action (up to SWEEP_PRIORITY_MAX_WAIT_SECS). Under gevent the sweep and the attempts share one
core, and thousands of breaches at once give the attempts enough work to delay the next
breaches by seconds otherwise.

NOTE: a process frozen for longer than ACTION_CLAIM_SECS, or cut off from the database, while
Jira handles one of its calls can see that call made again by the process that takes the claim
over. The internal comment is looked up by its marker property before it is posted, so only two
overlapping posts can duplicate it. The notify has no such check.
"""

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from .deadlines import sla_now
from .models import SlaEvent

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 4
# Events queued or running per worker thread. More due events wait in the database for a later sweep.
QUEUE_PER_WORKER = 50
# The claim of a running attempt lasts this long after its last renewal, on the SLA clock.
ACTION_CLAIM_SECS = 60
# Failed escalation actions are retried after 5 s, doubling up to 30 min, at most 20 times.
ACTION_RETRY_BASE_SECS = 5
ACTION_RETRY_MAX_SECS = 1800
ACTION_MAX_ATTEMPTS = 20
LAST_ERROR_MAX_CHARS = 2000
# How long stopping the pool waits for the attempts under way.
STOP_WAIT_SECS = 10
# An attempt waits at most this long for a sweep to end before its next action, so that a sweep
# that hangs never stops the escalations.
SWEEP_PRIORITY_MAX_WAIT_SECS = 2.0

_create_lock = threading.Lock()


class ClaimLost(Exception):
    """Another process took over the claim of an attempt, so this attempt stops before its next action."""


def _database():
    return current_app.extensions["database"]


def retry_delay(attempts):
    """Return the wait before attempt `attempts + 1` of an event's actions."""
    return timedelta(seconds=min(ACTION_RETRY_MAX_SECS, ACTION_RETRY_BASE_SECS * 2 ** max(0, attempts - 1)))


class ActionPool:
    """The worker threads of one process that run escalation attempts, each event at most once at a time."""

    def __init__(self, app, workers):
        self.app = app
        self.workers = workers
        self.max_in_flight = workers * QUEUE_PER_WORKER
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sla-actions")
        self._changed = threading.Condition()
        # event id -> the attempt number it runs under its claim, or None while it waits in the queue
        self._in_flight = {}
        self._closed = False
        # Clear while this process sweeps; the attempts wait for it before each action.
        self._sweep_idle = threading.Event()
        self._sweep_idle.set()

    @contextmanager
    def sweeping(self):
        """Make the attempts of this pool wait before their next action while the block runs."""
        self._sweep_idle.clear()
        try:
            yield
        finally:
            self._sweep_idle.set()

    def yield_to_sweep(self):
        """Wait until no sweep of this process runs, at most SWEEP_PRIORITY_MAX_WAIT_SECS."""
        self._sweep_idle.wait(SWEEP_PRIORITY_MAX_WAIT_SECS)

    def in_flight(self):
        """Return the ids of the events queued or running in this process."""
        with self._changed:
            return set(self._in_flight)

    def free_slots(self):
        with self._changed:
            return max(0, self.max_in_flight - len(self._in_flight))

    def submit(self, escalation, event_id, attempts):
        """Queue the attempt after `attempts` of an event's actions, run by `escalation.run_actions`.

        Returns False, and queues nothing, when the event is already queued or running here, the
        queue is full or the pool is stopped.
        """
        with self._changed:
            if self._closed or event_id in self._in_flight or len(self._in_flight) >= self.max_in_flight:
                return False
            self._in_flight[event_id] = None
        try:
            future = self._executor.submit(self._run, escalation, event_id, attempts)
        except RuntimeError:  # the executor shut down meanwhile
            self._done(event_id)
            return False
        # Also runs for a queued attempt that a shutdown cancels.
        future.add_done_callback(lambda _future: self._done(event_id))
        return True

    def wait_idle(self, timeout=None):
        """Wait until no attempt is queued or running; return False if `timeout` s passed first."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._in_flight, timeout)

    def renew_claims(self, now):
        """Move the claims of the attempts running here ACTION_CLAIM_SECS past `now`."""
        with self._changed:
            claims = [(event_id, attempt) for event_id, attempt in self._in_flight.items() if attempt is not None]
        for event_id, attempt in claims:
            extend_claim(event_id, attempt, now)

    def shutdown(self, wait_secs=STOP_WAIT_SECS):
        """Cancel the queued attempts and wait up to `wait_secs` for those under way.

        An attempt still running afterwards goes on in its thread. Its claim expires unless it
        finishes, and another process then retries it.
        """
        with self._changed:
            self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)
        if not self.wait_idle(wait_secs):
            log.warning("SLA action pool stopped with attempts still running for events %s",
                        sorted(self.in_flight()))

    def _run(self, escalation, event_id, attempts):
        with self.app.app_context():
            try:
                run_attempt(self, escalation, event_id, attempts)
            except Exception:  # noqa: BLE001  (the claim expires, and a later sweep retries the event)
                log.exception("SLA event %s: the escalation attempt failed unexpectedly", event_id)
            finally:
                _database().remove_session()

    def _running(self, event_id, attempt):
        with self._changed:
            if event_id in self._in_flight:
                self._in_flight[event_id] = attempt

    def _done(self, event_id):
        with self._changed:
            self._in_flight.pop(event_id, None)
            self._changed.notify_all()


def action_pool(app=None):
    """Return the app's action pool, created on first use."""
    app = app or current_app._get_current_object()
    pool = app.extensions.get("sla_actions")
    if pool is None:
        with _create_lock:
            pool = app.extensions.get("sla_actions")
            if pool is None:
                pool = ActionPool(app, int(app.config.get("SLA_ACTION_WORKERS", DEFAULT_WORKERS)))
                app.extensions["sla_actions"] = pool
    return pool


def submit_due_actions(escalation, now):
    """Hand the events whose actions are due at `now` to the pool, most overdue first; return their ids."""
    pool = action_pool()
    free = pool.free_slots()
    if not free:
        return []
    in_flight = pool.in_flight()
    session = _database().session
    due = session.execute(
        select(SlaEvent.id, SlaEvent.attempts).where(
            SlaEvent.actions_done_at.is_(None), SlaEvent.next_attempt_at.is_not(None),
            SlaEvent.next_attempt_at <= now,
        ).order_by(SlaEvent.next_attempt_at, SlaEvent.id).limit(free + len(in_flight))
    ).all()
    session.rollback()  # ends the read transaction

    submitted = []
    for event_id, attempts in due:
        if event_id not in in_flight and pool.submit(escalation, event_id, attempts):
            submitted.append(event_id)
    return submitted


# -- one attempt --------------------------------------------------------------------------------

def run_attempt(pool, escalation, event_id, attempts):
    """Claim the attempt after `attempts` of the event's actions and run it, unless another process won it."""
    attempt = attempts + 1
    pool.yield_to_sweep()
    if not claim_attempt(event_id, attempts, sla_now()):
        return
    pool._running(event_id, attempt)

    def before_action():
        pool.yield_to_sweep()
        keep_claim(event_id, attempt)

    try:
        escalation.run_actions(event_id, keep_claim=before_action)
    except ClaimLost:
        log.warning("SLA event %s: attempt %s stopped, because another process took over its claim",
                    event_id, attempt)
    except Exception as error:  # noqa: BLE001  (recorded on the event and retried by a later sweep)
        record_failure(event_id, attempt, error)


def claim_attempt(event_id, attempts, now):
    """Count the attempt after `attempts` and claim it until ACTION_CLAIM_SECS after `now`.

    The guarded UPDATE lets one process win each attempt, even when several sweep at once, and
    admits no attempt past ACTION_MAX_ATTEMPTS. Returns whether this process won it.
    """
    with _database().transaction() as session:
        result = session.execute(
            update(SlaEvent).where(
                SlaEvent.id == event_id, SlaEvent.attempts == attempts, SlaEvent.attempts < ACTION_MAX_ATTEMPTS,
                SlaEvent.actions_done_at.is_(None), SlaEvent.next_attempt_at <= now,
            ).values(attempts=attempts + 1, next_attempt_at=now + timedelta(seconds=ACTION_CLAIM_SECS))
        )
    return result.rowcount == 1


def extend_claim(event_id, attempt, now):
    """Move the claim of the event's running `attempt` ACTION_CLAIM_SECS past `now`; tell whether it is still held."""
    with _database().transaction() as session:
        result = session.execute(
            update(SlaEvent).where(
                SlaEvent.id == event_id, SlaEvent.attempts == attempt, SlaEvent.actions_done_at.is_(None),
            ).values(next_attempt_at=now + timedelta(seconds=ACTION_CLAIM_SECS))
        )
    return result.rowcount == 1


def keep_claim(event_id, attempt):
    """Renew the attempt's claim before an action; raise ClaimLost when another process has taken it over."""
    if not extend_claim(event_id, attempt, sla_now()):
        raise ClaimLost(f"SLA event {event_id}: attempt {attempt} lost its claim to another process")


def record_failure(event_id, attempt, error):
    """Keep the error on the event and schedule its next attempt, or none after ACTION_MAX_ATTEMPTS."""
    now = sla_now()
    next_attempt_at = now + retry_delay(attempt) if attempt < ACTION_MAX_ATTEMPTS else None
    with _database().transaction() as session:
        result = session.execute(
            update(SlaEvent).where(SlaEvent.id == event_id, SlaEvent.attempts == attempt).values(
                last_error=f"{type(error).__name__}: {error}"[:LAST_ERROR_MAX_CHARS],
                next_attempt_at=next_attempt_at,
            )
        )
    if result.rowcount == 0:
        log.warning("SLA event %s: attempt %s failed (%s) after another process took over its claim",
                    event_id, attempt, error)
    elif next_attempt_at is None:
        log.error("SLA event %s: escalation actions failed on attempt %s, the last one: %s", event_id, attempt, error)
    else:
        log.warning("SLA event %s: escalation actions failed on attempt %s (%s); retry at %s",
                    event_id, attempt, error, next_attempt_at.isoformat())
