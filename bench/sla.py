"""SLA breach lateness: many open first-response clocks whose deadlines fall within the next minute.

The clocks are bulk rows of `sla_clocks` equal to what `addon.sla.clock.start_first_response`
writes for a 30-minute window started 29 minutes ago, on conversations whose issues exist on no
site. Each clock's warning (75 %) already fired, so its warning event is stored as done, and
only the breaches remain. The production sweeper, running in the gunicorn worker, fires them.

Lateness of a breach is measured two ways. "Recorded" is `fired_at − due_at` as the sweeper
stores it, where `fired_at` is the instant its sweep batch started. "Visible" is the instant this
process first read the committed event row minus `due_at`; the rows are polled every POLL_SECS,
so it overstates the lateness by up to that much. The breach
escalation actions then run on the worker's action pool against the local site, and fail there
with 404 because the issues do not exist; they are background load, not part of the figures.
"""

import os
import random
import threading
import time
from datetime import datetime, timedelta, timezone

import psycopg2
from psycopg2.extras import execute_values

from .common import Section, percentile, progress, table

CLOCKS = {True: 2_000, False: 10_000}
# Deadlines are drawn uniformly over this many seconds, starting LEAD_SECS after the insert.
SPREAD_SECS = {True: 20, False: 60}
LEAD_SECS = 5
WINDOW_MINUTES = 30
WARNING_PERCENT = 75
POLL_SECS = 0.05
# After the last deadline, wait this long at most for the last breach.
DRAIN_TIMEOUT_SECS = 60
GOAL_P99_SECS = 1.0
SEED = 9


def _connect(database_url):
    connection = psycopg2.connect(database_url)
    connection.autocommit = True
    return connection


def insert_clocks(database_url, client_key, count, spread_secs):
    """Insert `count` conversations with one running clock each; return the list of deadlines."""
    rng = random.Random(SEED)
    now = datetime.now(timezone.utc)
    deadlines = sorted(now + timedelta(seconds=LEAD_SECS + rng.uniform(0, spread_secs)) for _ in range(count))
    connection = _connect(database_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM installations WHERE client_key = %s", (client_key,))
            installation_id = cursor.fetchone()[0]
            rows = [(installation_id, str(700_000 + n), f"BEN-{n + 1}", "BEN", "1", "1", "1",
                     f"bench-customer-{n % 50}", f"Demande de test {n + 1}", "blocking", "open", 1, now, now)
                    for n in range(count)]
            conversation_ids = [row[0] for row in execute_values(
                cursor,
                "INSERT INTO conversations (installation_id, issue_id, issue_key, project_key, service_desk_id,"
                " request_type_id, organization_id, opened_by_account_id, summary, impact, state, last_seq,"
                " created_at, updated_at) VALUES %s RETURNING id",
                rows, page_size=1_000, fetch=True)]

            clocks = []
            for conversation_id, deadline in zip(conversation_ids, deadlines):
                started = deadline - timedelta(minutes=WINDOW_MINUTES)
                warning = started + timedelta(minutes=WINDOW_MINUTES * WARNING_PERCENT / 100)
                clocks.append((conversation_id, installation_id, "first_response", 1, "standard", "P1",
                               WINDOW_MINUTES, WARNING_PERCENT, started, "[]", "running", warning, deadline,
                               deadline, True, False, 2, 2, now, now))
            clock_ids = [row[0] for row in execute_values(
                cursor,
                "INSERT INTO sla_clocks (conversation_id, installation_id, kind, round, tier, priority,"
                " window_minutes, warning_percent, started_at, pauses, state, warning_at, deadline_at,"
                " next_due_at, warned, breached, version, property_version, created_at, updated_at)"
                " VALUES %s RETURNING id",
                clocks, page_size=1_000, fetch=True)]

            warnings = [(clock_id, "warning", clock[11], clock[11], clock[11], "[]", 1)
                        for clock_id, clock in zip(clock_ids, clocks)]
            execute_values(
                cursor,
                "INSERT INTO sla_events (clock_id, kind, due_at, fired_at, actions_done_at, actions_done, attempts)"
                " VALUES %s", warnings, page_size=1_000)
    finally:
        connection.close()
    return deadlines


class BreachWatcher(threading.Thread):
    """A thread that polls sla_events for new breach rows and stamps each with the instant it was first seen."""

    def __init__(self, database_url, expected, sample_rss):
        super().__init__(name="breach-watcher", daemon=True)
        self.database_url = database_url
        self.expected = expected
        self.sample_rss = sample_rss
        self.seen = {}  # event id -> (due_at, fired_at, seen_at)
        self.peak_rss_kib = 0
        self.done = threading.Event()
        self.stopping = threading.Event()
        self.error = None

    def run(self):
        connection = _connect(self.database_url)
        last_id = 0
        try:
            while not self.stopping.is_set():
                with connection.cursor() as cursor:
                    cursor.execute("SELECT id, due_at, fired_at, clock_timestamp() FROM sla_events"
                                   " WHERE kind = 'breach' AND id > %s ORDER BY id", (last_id,))
                    for event_id, due_at, fired_at, seen_at in cursor.fetchall():
                        self.seen[event_id] = (due_at, fired_at, seen_at)
                        last_id = max(last_id, event_id)
                self.peak_rss_kib = max(self.peak_rss_kib, self.sample_rss())
                if len(self.seen) >= self.expected:
                    self.done.set()
                    return
                time.sleep(POLL_SECS)
        except Exception as error:  # noqa: BLE001 (reported by the benchmark)
            self.error = error
        finally:
            connection.close()


def run(quick: bool) -> Section:
    from .stack import Stack

    count, spread_secs = CLOCKS[quick], SPREAD_SECS[quick]
    load_before = os.getloadavg()[0]
    with Stack(jira_latency_ms=50) as stack:
        worker = stack.worker_pids()[0]
        rss_before = stack.rss_kib(worker)
        progress(f"sla: inserting {count} clocks due within {LEAD_SECS}–{LEAD_SECS + spread_secs} s")
        insert_started = time.monotonic()
        deadlines = insert_clocks(stack.database_url, stack.client_key, count, spread_secs)
        insert_secs = time.monotonic() - insert_started

        watcher = BreachWatcher(stack.database_url, count, lambda: stack.rss_kib(worker))
        watcher.start()
        remaining_secs = (deadlines[-1] - datetime.now(timezone.utc)).total_seconds()
        finished = watcher.done.wait(max(0.0, remaining_secs) + DRAIN_TIMEOUT_SECS)
        watcher.stopping.set()
        watcher.join(10)
        rss_after = stack.rss_kib(worker)
    if watcher.error is not None:
        raise watcher.error

    load = (load_before, os.getloadavg()[0])
    return section(count, spread_secs, insert_secs, watcher, finished, rss_before, rss_after, load)


def section(count, spread_secs, insert_secs, watcher, finished, rss_before, rss_after, load):
    events = list(watcher.seen.values())
    recorded = [(fired_at - due_at).total_seconds() for due_at, fired_at, _seen in events]
    visible = [(seen_at - due_at).total_seconds() for due_at, _fired, seen_at in events]

    def row(name, values):
        return (name, f"{percentile(values, 0.5):.3f}", f"{percentile(values, 0.99):.3f}", f"{max(values):.3f}")

    body = "\n\n".join([
        f"{count} open first-response clocks (bulk rows as the add-on writes them, inserted in "
        f"{insert_secs:.1f} s) with deadlines drawn uniformly over {spread_secs} s, starting {LEAD_SECS} s after "
        "the insert; the production sweeper (every SLA_SWEEP_INTERVAL_SECS = 0.5 s) fires them in the "
        "gunicorn worker, against PostgreSQL. \"Recorded\" is the event's `fired_at` minus its deadline; "
        f"\"visible\" is when this process first read the committed row (polled every {POLL_SECS * 1000:.0f} ms) "
        "minus its deadline. The breach escalation actions run meanwhile on the worker's action pool "
        "against the local site (50 ms per call); the bench issues do not exist there, so each fails with 404.",
        table(("Breach lateness", "p50 s", "p99 s", "max s"),
              [row("recorded (`fired_at` − deadline)", recorded), row("visible (committed row seen)", visible)]),
        table(("Worker RSS", "KiB"), [("before the insert", rss_before), ("peak while firing", watcher.peak_rss_kib),
                                      ("after the last breach", rss_after)]),
        f"Breaches recorded: {len(events)} of {count}. Load average (1 min) of the machine: {load[0]:.1f} "
        f"at the start, {load[1]:.1f} at the end (2 cores).",
    ])
    result = Section(title="SLA timers", body=body,
                     summary={"sla_recorded_p99_secs": percentile(recorded, 0.99),
                              "sla_visible_p99_secs": percentile(visible, 0.99)})
    p99 = percentile(visible, 0.99)
    goal = f"SLA breach lateness p99 ≤ {GOAL_P99_SECS:.0f} s for {count} clocks: {p99:.3f} s (visible)."
    (result.met if p99 <= GOAL_P99_SECS and finished else result.missed).append(goal)
    if not finished:
        result.missed.append(f"Only {len(events)} of {count} breaches were recorded within "
                             f"{DRAIN_TIMEOUT_SECS} s after the last deadline.")
    return result
