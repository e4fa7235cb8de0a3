"""Deadlines that pass while the add-on is stopped fire at its next start-up, each exactly once.

The first app starts chats on an injected SLA clock and stops. A second app, on the same
database and with an injected clock past the deadlines, runs its start-up sweep in its own
sweeper thread."""

import uuid

from addon.chat.models import Impact
from addon.sla.models import EventKind
from addon.sla.sweeper import sweep

from .sla_support import MONDAY_10, FakeClock, event_kinds, paris
from .support import free_port, stop_background
from .wsclient import build_app, serve_chat_site

AGENT = "agent-camille"
FIRST_SWEEP_TIMEOUT_SECS = 30


def start_chat(site, impact):
    response = site.api("POST", "/chats", "cust-alice", json={
        "summary": f"Demande {impact}", "product_area": "Ventes", "impact": impact,
        "message": "La facture 42 est bloquée.", "client_message_id": str(uuid.uuid4()),
    })
    assert response.status_code == 201, response.text
    return response.json()["conversation"]["id"]


def test_restart_fires_missed_events_once(database_url, jira_site, tmp_path):
    first_clock = FakeClock(MONDAY_10)
    first = serve_chat_site(database_url, jira_site, tmp_path, SLA_NOW=first_clock, SLA_SWEEP_INTERVAL_SECS=0.1)
    site = next(first)
    # Deadlines on Monday 2 March 2026 (Paris): 12:00 for "blocking", 16:00 for "degraded", and
    # 11:00 on Tuesday for "question", whose warning is at Monday's closing time, 18:00.
    blocking = start_chat(site, Impact.BLOCKING)
    degraded = start_chat(site, Impact.DEGRADED)
    question = start_chat(site, Impact.QUESTION)
    answered = start_chat(site, Impact.BLOCKING)
    first_clock.advance(minutes=5)
    response = site.api("POST", f"/chats/{answered}/messages", AGENT, json={
        "body": "Bonjour, je regarde.", "client_message_id": str(uuid.uuid4())})
    assert response.status_code == 201, response.text
    first_sweeper = site.server.app.extensions["sla_sweeper"]
    assert first_sweeper.first_run_done.wait(FIRST_SWEEP_TIMEOUT_SECS)
    first.close()  # stops the sweeper, releases its lease and disposes of the database engine

    assert [event_kinds_of(site.server.app, c) for c in (blocking, degraded, question, answered)] == [[], [], [], []]

    second_clock = FakeClock(paris(2026, 3, 3, 9, 0))
    second = build_app(database_url, jira_site, free_port(), tmp_path, SLA_NOW=second_clock, OUTBOX_AUTOSTART=False)
    try:
        assert second.extensions["sla_sweeper"].first_run_done.wait(FIRST_SWEEP_TIMEOUT_SECS)
        second.extensions.pop("sla_sweeper").stop()  # the rest is swept by hand

        assert event_kinds(second, blocking) == [(1, EventKind.WARNING), (1, EventKind.BREACH)]
        assert event_kinds(second, degraded) == [(1, EventKind.WARNING), (1, EventKind.BREACH)]
        assert event_kinds(second, question) == [(1, EventKind.WARNING)]
        assert event_kinds(second, answered) == []

        with second.app_context():
            assert sweep() == []
            second_clock.set(paris(2026, 3, 3, 11, 0))
            assert len(sweep()) == 1
            assert sweep() == []

        assert event_kinds(second, blocking) == [(1, EventKind.WARNING), (1, EventKind.BREACH)]
        assert event_kinds(second, degraded) == [(1, EventKind.WARNING), (1, EventKind.BREACH)]
        assert event_kinds(second, question) == [(1, EventKind.WARNING), (1, EventKind.BREACH)]
        assert event_kinds(second, answered) == []
    finally:
        stop_background(second)
        second.extensions["database"].dispose()


def event_kinds_of(app, conversation_id):
    """Read the events of a stopped app's database: its engine reconnects on demand."""
    events = event_kinds(app, conversation_id)
    app.extensions["database"].dispose()
    return events
