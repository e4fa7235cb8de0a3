"""Two OS processes sweeping one PostgreSQL database at the same time, with no lease between them,
record each warning and breach once and escalate each breach once."""

import multiprocessing
import uuid
from datetime import datetime

import pytest

from addon.chat.models import Impact
from addon.sla.models import EventKind

from .conftest import addon_overrides
from .sla_support import MONDAY_10, FakeClock, all_events, paris
from .support import free_port
from .wsclient import serve_chat_site

CHATS = 6
SWEEPS_PER_PROCESS = 5
PROCESS_TIMEOUT_SECS = 120
ESCALATION_PROPERTY_KEY = "supportchat.sla.escalation"


class FixedClock:
    """A picklable SLA clock that always returns one instant."""

    def __init__(self, moment):
        self.moment = moment

    def __call__(self):
        return self.moment


def sweep_in_process(overrides, now_iso, barrier, results):
    """Build the add-on in this process and sweep SWEEPS_PER_PROCESS times, starting with the other process."""
    from addon import create_app
    from addon.sla.sweeper import sweep, wait_for_actions

    from tests.support import stop_background

    overrides = dict(overrides, SLA_NOW=FixedClock(datetime.fromisoformat(now_iso)))
    app = create_app(overrides)
    fired = []
    try:
        barrier.wait(timeout=PROCESS_TIMEOUT_SECS)
        with app.app_context():
            for _ in range(SWEEPS_PER_PROCESS):
                fired.extend(sweep())
            assert wait_for_actions(PROCESS_TIMEOUT_SECS)
    finally:
        stop_background(app)
        app.extensions["database"].dispose()
    results.put(fired)


@pytest.mark.postgresql_only
def test_two_sweepers_escalate_once(database_url, jira_site, tmp_path):
    clock = FakeClock(MONDAY_10)
    serving = serve_chat_site(database_url, jira_site, tmp_path, SLA_SWEEPER=False, SLA_NOW=clock,
                              OUTBOX_AUTOSTART=False)
    site = next(serving)
    try:
        issue_keys = []
        for index in range(CHATS):
            response = site.api("POST", "/chats", "cust-alice", json={
                "summary": f"Facture bloquée {index}", "product_area": "Ventes", "impact": Impact.BLOCKING,
                "message": "La facture 42 est bloquée.", "client_message_id": str(uuid.uuid4()),
            })
            assert response.status_code == 201, response.text
            issue_keys.append(response.json()["conversation"]["issue_key"])

        # Both processes sweep at 12:00, when every warning (11:30) and breach (12:00) is due.
        overrides = addon_overrides(database_url, jira_site, free_port(), tmp_path, SLA_SWEEPER=False,
                                    OUTBOX_AUTOSTART=False, SUBSCRIPTION_EXPIRY_JOB=False)
        context = multiprocessing.get_context("spawn")
        barrier = context.Barrier(2)
        results = context.Queue()
        processes = [context.Process(target=sweep_in_process,
                                     args=(overrides, paris(2026, 3, 2, 12, 0).isoformat(), barrier, results))
                     for _ in range(2)]
        for process in processes:
            process.start()
        fired = [results.get(timeout=PROCESS_TIMEOUT_SECS) for _ in processes]
        for process in processes:
            process.join(timeout=PROCESS_TIMEOUT_SECS)
            assert process.exitcode == 0

        events = all_events(site.server.app)
        assert len(events) == 2 * CHATS
        assert sorted(fired[0] + fired[1]) == sorted(event.id for event in events)
        by_clock = {}
        for event in events:
            by_clock.setdefault(event.clock_id, []).append(event.kind)
        assert sorted(by_clock.values()) == [[EventKind.WARNING, EventKind.BREACH]] * CHATS
        assert all(event.actions_done_at is not None for event in events)

        for issue_key in issue_keys:
            issue = jira_site.control("GET", f"/_devsite/issues/{issue_key}")
            escalations = [comment for comment in issue["comments"]
                           if ESCALATION_PROPERTY_KEY in (comment.get("properties") or {})]
            assert len(escalations) == 1, issue_key
            assert escalations[0]["public"] is False
    finally:
        serving.close()
