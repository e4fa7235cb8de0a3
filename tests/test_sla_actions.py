"""Escalation actions on the action pool while Jira is slow. Firing goes on meanwhile. A running
attempt keeps its claim when the sweeper lease passes to another process. An attempt that another
process took over repeats no action, so each action happens once.

Jira is slowed by a latency fault of the local site on one call. The tests wait until that call
is under way (the site has taken its one-time fault rule) and move the injected SLA clock and the
lease's wall clock by hand."""

from datetime import datetime, timedelta, timezone

import pytest

from addon.sla import sweeper
from addon.sla.action_pool import ACTION_CLAIM_SECS, action_pool
from addon.sla.sweeper import LEASE_RENEW_SECS, LEASE_SECS, Sweeper

from .support import free_port, stop_background, wait_until
from .test_sla_escalation import (
    AFTER_DEADLINE,
    CUSTOMER,
    DEADLINE,
    FULL_ESCALATION,
    STARTED_AT,
    WAIT_SECS,
    WARNING_AT,
    InjectedClock,
    escalation_comments,
    events,
    issue,
    notifications,
    set_escalation,
)
from .wsclient import build_app, serve_chat_site

# Long enough for the steps a test takes while the call waits, short enough to keep tests quick.
SLOW_JIRA_MS = 4000
WALL_START = datetime(2026, 9, 7, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def sla_clock():
    return InjectedClock(STARTED_AT)


@pytest.fixture
def site(database_url, jira_site, tmp_path, sla_clock):
    """The add-on with its SLA sweeper off (tests sweep themselves) and the injected clock."""
    yield from serve_chat_site(database_url, jira_site, tmp_path, SLA_SWEEPER=False, SLA_NOW=sla_clock)


@pytest.fixture
def other_process(database_url, jira_site, tmp_path, sla_clock):
    """A second add-on app on the same database and SLA clock, with its own action pool."""
    app = build_app(database_url, jira_site, free_port(), tmp_path, SLA_SWEEPER=False, SLA_NOW=sla_clock,
                    OUTBOX_AUTOSTART=False, SUBSCRIPTION_EXPIRY_JOB=False)
    yield app
    stop_background(app)
    app.extensions["database"].dispose()


def slow_jira(jira_site, method, path):
    """Make the next call to `path` wait SLOW_JIRA_MS in the local Jira site before it is handled."""
    jira_site.control("PUT", "/_devsite/faults", json={
        "method": method, "path": path, "mode": "latency", "latency_ms": SLOW_JIRA_MS, "times": 1})


def wait_for_slow_call(jira_site):
    """Return once the local site has taken the latency rule, so the slow call is under way."""
    wait_until(lambda: jira_site.control("GET", "/_devsite/faults") == [], timeout=WAIT_SECS,
               message="the slow Jira call to start")


def sweep_at(app, sla_clock, now):
    sla_clock.now = now
    with app.app_context():
        return sweeper.sweep()


def wait_for_actions(app):
    with app.app_context():
        assert sweeper.wait_for_actions(WAIT_SECS)


def test_slow_jira_does_not_delay_firing(site, jira_site, sla_clock):
    set_escalation(site, FULL_ESCALATION)
    first = site.start_chat(CUSTOMER)["issue_key"]
    sla_clock.now = STARTED_AT + timedelta(minutes=30)
    second = site.start_chat(CUSTOMER)["issue_key"]
    app = site.server.app
    slow_jira(jira_site, "POST", rf"/rest/api/3/issue/{first}/notify$")

    # The first chat's warning and breach, and the second chat's warning (at 11:00).
    assert len(sweep_at(app, sla_clock, AFTER_DEADLINE)) == 3
    wait_for_slow_call(jira_site)
    fired = sweep_at(app, sla_clock, DEADLINE + timedelta(minutes=31))
    first_notified = notifications(jira_site, first)
    wait_for_actions(app)

    # The second chat's breach fired while Jira still held the first chat's notify.
    assert len(fired) == 1
    assert first_notified == []
    assert len(notifications(jira_site, first)) == 1
    assert len(notifications(jira_site, second)) == 1
    assert len(escalation_comments(jira_site, second)) == 1


def test_lease_passes_claim_kept(site, jira_site, sla_clock, other_process):
    set_escalation(site, FULL_ESCALATION)
    key = site.start_chat(CUSTOMER)["issue_key"]
    app = site.server.app
    sweep_at(app, sla_clock, WARNING_AT + timedelta(minutes=1))
    wait_for_actions(app)
    wall = {"now": WALL_START}
    first = Sweeper(app, owner="first", wall_clock=lambda: wall["now"])
    second = Sweeper(other_process, owner="second", wall_clock=lambda: wall["now"])
    with app.app_context():
        assert first.renew_lease(wall["now"]) is True
    slow_jira(jira_site, "POST", rf"/rest/api/3/issue/{key}/notify$")

    sweep_at(app, sla_clock, AFTER_DEADLINE)
    wait_for_slow_call(jira_site)
    # The lease job of the first process renews the lease and the claim of the running attempt.
    sla_clock.now = AFTER_DEADLINE + timedelta(seconds=ACTION_CLAIM_SECS - 1)
    wall["now"] += timedelta(seconds=LEASE_RENEW_SECS)
    first.keep_lease()
    # Then it stops renewing, and the lease passes to the second process once it expired.
    wall["now"] += timedelta(seconds=LEASE_SECS)
    with other_process.app_context():
        assert second.renew_lease(wall["now"]) is True
    fired = sweep_at(other_process, sla_clock, AFTER_DEADLINE + timedelta(seconds=ACTION_CLAIM_SECS + 10))
    second_in_flight = action_pool(other_process).in_flight()
    wait_for_actions(other_process)
    wait_for_actions(app)

    assert fired == []
    assert second_in_flight == set()
    breach = events(site)["breach"]
    assert breach.attempts == 1
    assert breach.actions_done_at is not None
    assert len(notifications(jira_site, key)) == 1
    assert len(escalation_comments(jira_site, key)) == 1


def test_taken_over_attempt_repeats_nothing(site, jira_site, sla_clock, other_process):
    set_escalation(site, FULL_ESCALATION)
    key = site.start_chat(CUSTOMER)["issue_key"]
    app = site.server.app
    sweep_at(app, sla_clock, WARNING_AT + timedelta(minutes=1))
    wait_for_actions(app)
    # The first action of the breach, the issue property, is slow.
    slow_jira(jira_site, "PUT", rf"/rest/api/3/issue/{key}/properties/supportchat\.sla$")

    sweep_at(app, sla_clock, AFTER_DEADLINE)
    wait_for_slow_call(jira_site)
    # The first process renews nothing (frozen): past its claim, the second process takes the attempt over.
    sweep_at(other_process, sla_clock, AFTER_DEADLINE + timedelta(seconds=ACTION_CLAIM_SECS + 1))
    wait_for_actions(other_process)
    wait_for_actions(app)

    breach = events(site)["breach"]
    assert breach.attempts == 2
    assert breach.actions_done_at is not None
    assert sorted(breach.actions_done) == ["internal_comment", "notify", "panel_alert", "property", "raise_priority"]
    assert len(notifications(jira_site, key)) == 1
    assert len(escalation_comments(jira_site, key)) == 1
    assert issue(jira_site, key)["priority"] == "Highest"
