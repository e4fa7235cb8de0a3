"""The SLA sweep: warnings and breaches fire once at their instant, escalation actions run on the
action pool and are retried, the lease keeps one sweeping process, and the agent panel and the key
user hear about it live."""

import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from addon.chat.actions import database
from addon.sla import action_pool, sweeper
from addon.sla.action_pool import retry_delay
from addon.sla.models import ClockState, EventKind, SchedulerLease, SlaEvent
from addon.sla.sweeper import LEASE_MARGIN_SECS, LEASE_SECS, Sweeper, release_lease, sweep, take_lease, wait_for_actions

from .sla_support import MONDAY_10, FakeClock, all_events, clock_of, event_kinds, paris
from .wsclient import serve_chat_site

CUSTOMER = "cust-alice"
AGENT = "agent-camille"
# Upper bound of the waits for worker threads; a healthy run needs a fraction of it.
WAIT_SECS = 30


@pytest.fixture
def fake_clock():
    return FakeClock(MONDAY_10)


@pytest.fixture
def site(database_url, jira_site, tmp_path, fake_clock):
    """The add-on installed into the local site, on an injected SLA clock, without its sweeper."""
    yield from serve_chat_site(database_url, jira_site, tmp_path, SLA_SWEEPER=False, SLA_NOW=fake_clock)


@pytest.fixture
def no_escalation(monkeypatch):
    """Leave escalation actions out, for tests about the events alone."""
    monkeypatch.setattr(sweeper, "_escalation", lambda: None)


def post(site, conversation_id, account_id, body, visibility="public"):
    response = site.api("POST", f"/chats/{conversation_id}/messages", account_id, json={
        "body": body, "visibility": visibility, "client_message_id": str(uuid.uuid4()),
    })
    assert response.status_code == 201, response.text


def sweep_in(site):
    """Sweep, then wait for the actions handed to the pool."""
    with site.server.app.app_context():
        fired = sweep()
        assert wait_for_actions(WAIT_SECS)
        return fired


# -- firing -------------------------------------------------------------------------------------

def test_sweep_before_warning_nothing(site, fake_clock, no_escalation):
    conversation = site.start_chat()
    fake_clock.set(paris(2026, 3, 2, 11, 29))

    assert sweep_in(site) == []
    assert event_kinds(site.server.app, conversation["id"]) == []


def test_warning_then_breach_once(site, fake_clock, no_escalation):
    conversation = site.start_chat()
    app = site.server.app

    fake_clock.set(paris(2026, 3, 2, 11, 30))
    assert len(sweep_in(site)) == 1
    assert sweep_in(site) == []
    assert event_kinds(app, conversation["id"]) == [(1, EventKind.WARNING)]
    assert clock_of(app, conversation["id"]).next_due_at == paris(2026, 3, 2, 12, 0)

    fake_clock.set(paris(2026, 3, 2, 12, 0))
    assert len(sweep_in(site)) == 1
    assert sweep_in(site) == []
    assert event_kinds(app, conversation["id"]) == [(1, EventKind.WARNING), (1, EventKind.BREACH)]
    clock = clock_of(app, conversation["id"])
    assert clock.warned is True
    assert clock.breached is True
    assert clock.next_due_at is None


def test_late_sweep_fires_both(site, fake_clock, no_escalation):
    conversation = site.start_chat()
    fake_clock.set(paris(2026, 3, 3, 9, 0))

    sweep_in(site)

    warning, breach = all_events(site.server.app)
    assert (warning.kind, breach.kind) == (EventKind.WARNING, EventKind.BREACH)
    assert warning.due_at == paris(2026, 3, 2, 11, 30)
    assert breach.due_at == paris(2026, 3, 2, 12, 0)
    assert warning.fired_at == breach.fired_at == paris(2026, 3, 3, 9, 0)
    assert event_kinds(site.server.app, conversation["id"]) == [(1, EventKind.WARNING), (1, EventKind.BREACH)]


def test_met_in_time_nothing_fires(site, fake_clock, no_escalation):
    conversation = site.start_chat()
    fake_clock.advance(minutes=10)
    post(site, conversation["id"], AGENT, "Bonjour Alice.")
    fake_clock.set(paris(2026, 3, 3, 9, 0))

    sweep_in(site)

    assert event_kinds(site.server.app, conversation["id"]) == []


def test_met_late_still_records_breach(site, fake_clock, no_escalation):
    conversation = site.start_chat()
    fake_clock.set(paris(2026, 3, 2, 12, 5))
    post(site, conversation["id"], AGENT, "Désolé pour l'attente.")

    sweep_in(site)
    sweep_in(site)

    assert event_kinds(site.server.app, conversation["id"]) == [(1, EventKind.WARNING), (1, EventKind.BREACH)]
    clock = clock_of(site.server.app, conversation["id"])
    assert clock.state == ClockState.MET
    assert clock.next_due_at is None


def test_met_between_warning_and_breach(site, fake_clock, no_escalation):
    conversation = site.start_chat()
    fake_clock.set(paris(2026, 3, 2, 11, 45))
    post(site, conversation["id"], AGENT, "Bonjour Alice.")
    fake_clock.set(paris(2026, 3, 2, 13, 0))

    sweep_in(site)

    assert event_kinds(site.server.app, conversation["id"]) == [(1, EventKind.WARNING)]


# -- escalation actions -------------------------------------------------------------------------

class FlakyEscalation:
    """Stands in for addon.sla.escalation: fails `failures` times, then marks the event done."""

    def __init__(self, app, failures):
        self.app = app
        self.failures = failures
        self.calls = []

    def run_actions(self, event_id, keep_claim=None):
        with Session(self.app.extensions["database"].engine) as session, session.begin():
            event = session.get(SlaEvent, event_id)
            # The event is committed before its actions run.
            assert event is not None
            self.calls.append((event_id, event.attempts))
            if len(self.calls) <= self.failures:
                raise RuntimeError("Jira returned 503")
            event.actions_done = ["internal_comment"]
            event.actions_done_at = event.fired_at


def test_actions_retried_with_backoff(site, fake_clock, monkeypatch):
    site.start_chat()
    escalation = FlakyEscalation(site.server.app, failures=2)
    monkeypatch.setattr(sweeper, "_escalation", lambda: escalation)
    fake_clock.set(paris(2026, 3, 2, 11, 30))

    [event_id] = sweep_in(site)
    assert escalation.calls == [(event_id, 1)]
    [event] = all_events(site.server.app)
    assert event.last_error == "RuntimeError: Jira returned 503"
    assert event.next_attempt_at == fake_clock.now + retry_delay(1)
    assert event.actions_done_at is None

    sweep_in(site)
    assert len(escalation.calls) == 1  # not before the retry delay

    fake_clock.advance(seconds=5)
    sweep_in(site)
    fake_clock.advance(seconds=10)
    sweep_in(site)
    fake_clock.advance(minutes=10)  # still before the breach at 12:00
    sweep_in(site)

    assert escalation.calls == [(event_id, 1), (event_id, 2), (event_id, 3)]
    [event] = all_events(site.server.app)
    assert event.actions_done_at is not None
    assert event.attempts == 3


def test_retry_delay_doubles_to_max():
    assert retry_delay(1) == timedelta(seconds=5)
    assert retry_delay(2) == timedelta(seconds=10)
    assert retry_delay(4) == timedelta(seconds=40)
    assert retry_delay(30) == timedelta(seconds=action_pool.ACTION_RETRY_MAX_SECS)


def test_actions_give_up_after_max(site, fake_clock, monkeypatch):
    site.start_chat()
    escalation = FlakyEscalation(site.server.app, failures=1000)
    monkeypatch.setattr(sweeper, "_escalation", lambda: escalation)
    fake_clock.set(paris(2026, 3, 2, 11, 30))

    for _ in range(action_pool.ACTION_MAX_ATTEMPTS + 3):
        sweep_in(site)
        fake_clock.advance(hours=1)

    warning, breach = all_events(site.server.app)
    for event in (warning, breach):
        assert len([call for call in escalation.calls if call[0] == event.id]) == action_pool.ACTION_MAX_ATTEMPTS
        assert event.next_attempt_at is None
        assert event.actions_done_at is None


# -- the lease ----------------------------------------------------------------------------------

def lease_row(app):
    with Session(app.extensions["database"].engine) as session:
        return session.execute(select(SchedulerLease)).scalar_one_or_none()


def test_lease_one_holder(site):
    now = MONDAY_10
    with site.server.app.app_context():
        assert take_lease("sla_sweeper", "process-a", now, LEASE_SECS) is True
        assert take_lease("sla_sweeper", "process-b", now, LEASE_SECS) is False
        assert take_lease("sla_sweeper", "process-a", now + timedelta(seconds=5), LEASE_SECS) is True
        assert take_lease("sla_sweeper", "process-b", now + timedelta(seconds=19), LEASE_SECS) is False

    row = lease_row(site.server.app)
    assert row.owner == "process-a"
    assert row.expires_at == now + timedelta(seconds=5 + LEASE_SECS)


def test_lease_taken_over_after_expiry(site):
    now = MONDAY_10
    with site.server.app.app_context():
        take_lease("sla_sweeper", "process-a", now, LEASE_SECS)

        assert take_lease("sla_sweeper", "process-b", now + timedelta(seconds=LEASE_SECS), LEASE_SECS) is True
        assert take_lease("sla_sweeper", "process-a", now + timedelta(seconds=LEASE_SECS + 1), LEASE_SECS) is False

    assert lease_row(site.server.app).owner == "process-b"


def test_lease_released_on_stop(site):
    now = MONDAY_10
    with site.server.app.app_context():
        take_lease("sla_sweeper", "process-a", now, LEASE_SECS)
        release_lease("sla_sweeper", "process-a", now + timedelta(seconds=1))

        assert take_lease("sla_sweeper", "process-b", now + timedelta(seconds=1), LEASE_SECS) is True


def test_sweepers_share_one_lease(site, no_escalation):
    app = site.server.app
    first, second = Sweeper(app, owner="worker-1"), Sweeper(app, owner="worker-2")
    with app.app_context():
        assert first.renew_lease(MONDAY_10) is True
        assert second.renew_lease(MONDAY_10) is False
        assert first.holds_lease(MONDAY_10 + timedelta(seconds=1)) is True
        assert second.holds_lease(MONDAY_10 + timedelta(seconds=1)) is False
        # A holder whose renewals fail stops sweeping before its lease expires.
        assert first.holds_lease(MONDAY_10 + timedelta(seconds=LEASE_SECS - LEASE_MARGIN_SECS)) is False
        expired = MONDAY_10 + timedelta(seconds=LEASE_SECS)
        assert second.renew_lease(expired) is True
        assert second.holds_lease(expired) is True
        assert first.renew_lease(expired + timedelta(seconds=1)) is False
        assert first.holds_lease(expired + timedelta(seconds=1)) is False


def test_lease_renewed_during_long_sweep(site, monkeypatch):
    app = site.server.app
    sweeping, release = threading.Event(), threading.Event()

    def long_sweep(**_options):
        sweeping.set()
        release.wait(WAIT_SECS)
        return []

    monkeypatch.setattr(sweeper, "sweep", long_sweep)
    monkeypatch.setattr(sweeper, "LEASE_RENEW_SECS", 0.05)
    holder = Sweeper(app, owner="long-sweep")
    holder.start()
    try:
        assert sweeping.wait(WAIT_SECS)
        holder.lease_renewed.clear()

        # The lease job renews the lease while the sweep is still running.
        assert holder.lease_renewed.wait(WAIT_SECS)
        assert not release.is_set()
        assert lease_row(app).owner == "long-sweep"
    finally:
        release.set()
        holder.stop()


class BlockedEscalation:
    """Stands in for addon.sla.escalation: each attempt waits for `release`, then marks the event done."""

    def __init__(self, app):
        self.app = app
        self.calls = []
        self.running = threading.Event()
        self.release = threading.Event()

    def run_actions(self, event_id, keep_claim=None):
        self.calls.append(event_id)
        self.running.set()
        assert self.release.wait(WAIT_SECS)
        keep_claim()
        with Session(self.app.extensions["database"].engine) as session, session.begin():
            event = session.get(SlaEvent, event_id)
            event.actions_done_at = event.fired_at
            event.next_attempt_at = None


def test_running_event_not_submitted_again(site, fake_clock, monkeypatch):
    site.start_chat()
    escalation = BlockedEscalation(site.server.app)
    monkeypatch.setattr(sweeper, "_escalation", lambda: escalation)
    app = site.server.app
    fake_clock.set(paris(2026, 3, 2, 11, 30))

    with app.app_context():
        [event_id] = sweep()
        assert escalation.running.wait(WAIT_SECS)
        assert sweep() == []
        # Past the attempt's claim, the event is due again, but it still runs in this process.
        fake_clock.advance(seconds=action_pool.ACTION_CLAIM_SECS + 1)
        sweep()
        assert action_pool.action_pool().in_flight() == {event_id}
        escalation.release.set()
        assert wait_for_actions(WAIT_SECS)

    assert escalation.calls == [event_id]
    [event] = all_events(app)
    assert event.attempts == 1
    assert event.actions_done_at is not None


def test_firing_does_not_wait_for_actions(site, fake_clock, monkeypatch):
    first = site.start_chat()
    fake_clock.advance(minutes=30)
    second = site.start_chat()
    escalation = BlockedEscalation(site.server.app)
    monkeypatch.setattr(sweeper, "_escalation", lambda: escalation)
    app = site.server.app

    with app.app_context():
        fake_clock.set(paris(2026, 3, 2, 11, 30))  # the first chat's warning
        assert len(sweep()) == 1
        assert escalation.running.wait(WAIT_SECS)
        fake_clock.set(paris(2026, 3, 2, 12, 0))  # the first chat's breach, the second chat's warning
        fired = sweep()
        escalation.release.set()
        assert wait_for_actions(WAIT_SECS)

    assert len(fired) == 2
    assert event_kinds(app, first["id"]) == [(1, EventKind.WARNING), (1, EventKind.BREACH)]
    assert event_kinds(app, second["id"]) == [(1, EventKind.WARNING)]
    assert all(event.actions_done_at is not None for event in all_events(app))


# -- live updates -------------------------------------------------------------------------------

def test_sla_frame_reaches_agents_only(site, fake_clock, no_escalation):
    conversation = site.start_chat()
    agent = site.ready_socket(AGENT, "SUP")
    customer = site.ready_socket(CUSTOMER)
    for client in (agent, customer):
        client.send(type="subscribe", conversation_id=conversation["id"], after_seq=1)
    fake_clock.set(paris(2026, 3, 2, 11, 30))

    sweep_in(site)

    frames = agent.receive_until(lambda frame: frame["type"] == "sla")
    assert frames[-1]["conversation_id"] == conversation["id"]
    assert frames[-1]["sla"]["warned"] is True
    assert frames[-1]["sla"]["breached"] is False
    assert frames[-1]["sla"]["deadline"] == "2026-03-02T11:00:00+00:00"

    # The customer's next frame is the agent's reply, with no SLA frame before it.
    post(site, conversation["id"], AGENT, "Bonjour Alice.")
    frames = customer.receive_until(lambda frame: frame["type"] == "message")
    assert [frame["type"] for frame in frames if frame["type"] == "sla"] == []
    met = agent.receive_until(lambda frame: frame["type"] == "sla")[-1]
    assert met["sla"]["state"] == ClockState.MET


def test_recorded_event_unique_per_kind(site, fake_clock, no_escalation):
    site.start_chat()
    fake_clock.set(paris(2026, 3, 2, 11, 30))
    sweep_in(site)
    [event] = all_events(site.server.app)

    with site.server.app.app_context():
        with pytest.raises(IntegrityError) as raised, database().transaction() as session:
            session.add(SlaEvent(clock_id=event.clock_id, kind=EventKind.WARNING, due_at=event.due_at,
                                 fired_at=event.fired_at, actions_done=[], attempts=0))

    assert "sla_events" in str(raised.value)


def test_event_recorded_elsewhere_not_repeated(site, fake_clock, no_escalation):
    conversation = site.start_chat()
    app = site.server.app
    clock = clock_of(app, conversation["id"])
    # Another process's warning, committed while this clock row still reads as not warned.
    with Session(app.extensions["database"].engine) as session, session.begin():
        session.add(SlaEvent(clock_id=clock.id, kind=EventKind.WARNING, due_at=clock.warning_at,
                             fired_at=clock.warning_at, actions_done=[], attempts=0))
    fake_clock.set(paris(2026, 3, 2, 11, 30))

    assert sweep_in(site) == []
    assert sweep_in(site) == []

    assert event_kinds(app, conversation["id"]) == [(1, EventKind.WARNING)]
    clock = clock_of(app, conversation["id"])
    assert clock.warned is True
    assert clock.next_due_at == paris(2026, 3, 2, 12, 0)


def test_injected_clock_only_in_tests(tmp_path):
    from addon import create_app
    from addon.config import ConfigError

    with pytest.raises(ConfigError) as raised:
        create_app({"ADDON_ENV": "development", "ADDON_SECRET_KEY": "dev-secret-key-0123456789",
                    "DATABASE_URL": f"sqlite:///{tmp_path / 'addon.sqlite3'}", "INSTANCE_DIR": str(tmp_path),
                    "SLA_NOW": FakeClock(), "SLA_SWEEPER": False})

    assert "SLA_NOW" in str(raised.value)
