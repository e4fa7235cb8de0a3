"""SLA escalation actions against the local Jira site: the internal comment, the notify, the raised
priority, the `supportchat.sla` issue property and the agent panel alert, each done once, also when
a retry follows a Jira failure. The SLA clock is injected and the sweep is called directly."""

from datetime import datetime, timedelta, timezone

import pytest
import requests
from sqlalchemy import func, select

from addon.atlassian.installations import get_installation
from addon.settings import DEFAULTS, set_setting
from addon.sla import sweeper
from addon.sla.escalation import ESCALATION_PROPERTY_KEY
from addon.sla.issue_property import SLA_PROPERTY_KEY, sync_pending_properties
from addon.sla.models import SlaClock, SlaEvent

from .wsclient import serve_chat_site

# Monday 7 September 2026, 09:00 in Paris: support opens. An impact "blocking" maps to High, whose
# standard window is 120 business minutes: warning at 10:30 (75 %), deadline at 11:00.
STARTED_AT = datetime(2026, 9, 7, 7, 0, tzinfo=timezone.utc)
WARNING_AT = STARTED_AT + timedelta(minutes=90)
DEADLINE = STARTED_AT + timedelta(minutes=120)
# The chat start gives the request the priority of its impact; escalation may only raise it.
START_PRIORITY = "High"
AFTER_DEADLINE = DEADLINE + timedelta(minutes=1)
AGENT = "agent-camille"
CUSTOMER = "cust-alice"
# Upper bound of the waits for worker threads and slow Jira calls; a healthy run needs far less.
WAIT_SECS = 60

FULL_ESCALATION = {
    "internal_comment": True,
    "notify_account_ids": ["agent-hugo"],
    "notify_groups": ["support-production"],
    "raise_priority_to": "Highest",
    "breached_property": True,
    "panel_alert": True,
}
NO_ESCALATION = {
    "internal_comment": False,
    "notify_account_ids": [],
    "notify_groups": [],
    "raise_priority_to": None,
    "breached_property": False,
    "panel_alert": False,
}


class InjectedClock:
    """The add-on's SLA clock, moved by the test."""

    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def sla_clock():
    return InjectedClock(STARTED_AT)


@pytest.fixture
def site(database_url, jira_site, tmp_path, sla_clock):
    """The add-on with its SLA sweeper off (tests sweep themselves) and the injected clock."""
    yield from serve_chat_site(database_url, jira_site, tmp_path, SLA_SWEEPER=False, SLA_NOW=sla_clock)


def set_escalation(site, escalation):
    policies = {"standard": dict(DEFAULTS["sla_policies"]["standard"], escalation=escalation)}
    app = site.server.app
    with app.app_context():
        set_setting(get_installation(site.client_key).id, "sla_policies", policies)


def sweep(site, sla_clock, now):
    """Sweep at `now` and wait for the actions handed to the pool."""
    sla_clock.now = now
    with site.server.app.app_context():
        fired = sweeper.sweep()
        assert sweeper.wait_for_actions(WAIT_SECS)
        return fired


def events(site):
    app = site.server.app
    with app.app_context():
        session = app.extensions["database"].session
        rows = session.execute(select(SlaEvent).order_by(SlaEvent.id)).scalars().all()
        session.rollback()
        return {row.kind: row for row in rows}


def issue(jira_site, key):
    return jira_site.control("GET", f"/_devsite/issues/{key}")


def escalation_comments(jira_site, key):
    return [comment for comment in issue(jira_site, key)["comments"]
            if ESCALATION_PROPERTY_KEY in comment["properties"]]


def notifications(jira_site, key):
    return [entry for entry in jira_site.control("GET", "/_devsite/notifications") if entry["issue_key"] == key]


def search_as_agent(jira_site, jql):
    response = requests.post(f"{jira_site.url}/rest/api/3/search/jql", json={"jql": jql},
                             cookies={"devsite_user": AGENT}, timeout=10)
    assert response.status_code == 200, response.text
    return [found["key"] for found in response.json()["issues"]]


def start_chat_with_agent(site):
    """Start a chat as the customer and open the agent's socket on it; return (conversation, agent socket)."""
    conversation = site.start_chat(CUSTOMER)
    agent = site.ready_socket(AGENT, "SUP")
    agent.send(type="subscribe", conversation_id=conversation["id"], after_seq=0)
    assert agent.receive_messages(1)[0]["seq"] == 1
    return conversation, agent


def alerts_received(agent, count):
    """Return the next `count` panel alerts of the agent's socket, in the order they arrive."""
    received = []
    while len(received) < count:
        frame = agent.receive()
        if frame["type"] == "sla" and "alert" in frame:
            received.append(frame["alert"])
    return received


def alerts(frames):
    return [frame["alert"] for frame in frames if frame["type"] == "sla" and "alert" in frame]


def test_breach_runs_each_action_once(site, jira_site, sla_clock):
    set_escalation(site, FULL_ESCALATION)
    conversation, agent = start_chat_with_agent(site)
    key = conversation["issue_key"]

    fired = sweep(site, sla_clock, AFTER_DEADLINE)
    # The warning's and the breach's actions run on two threads of the pool, in either order.
    received = alerts_received(agent, 2)

    assert len(fired) == 2
    comments = escalation_comments(jira_site, key)
    assert len(comments) == 1
    assert comments[0]["public"] is False
    assert comments[0]["author"].startswith("addon-")
    assert "Délai de première réponse dépassé" in comments[0]["body"]
    assert "lundi 7 septembre 2026 à 11:00" in comments[0]["body"]
    assert "First response SLA breached" in comments[0]["body"]
    assert "Monday 7 September 2026 at 11:00" in comments[0]["body"]
    assert "priorité : High" in comments[0]["body"]
    [sent] = notifications(jira_site, key)
    assert sent["recipients"] == ["agent-camille", "agent-hugo"]
    assert issue(jira_site, key)["priority"] == "Highest"
    assert sorted(received) == ["breach", "warning"]


def test_breach_property_written(site, jira_site, sla_clock):
    set_escalation(site, FULL_ESCALATION)
    key = site.start_chat(CUSTOMER)["issue_key"]

    sweep(site, sla_clock, AFTER_DEADLINE)

    value = issue(jira_site, key)["properties"][SLA_PROPERTY_KEY]
    assert value["state"] == "running"
    assert value["breached"] is True
    assert value["warned"] is True
    assert value["deadline"] == "2026-09-07T11:00:00+02:00"
    assert value["warningAt"] == "2026-09-07T10:30:00+02:00"
    assert value["priority"] == "High"
    assert value["tier"] == "standard"


def test_breached_request_found_by_jql(site, jira_site, sla_clock):
    set_escalation(site, FULL_ESCALATION)
    key = site.start_chat(CUSTOMER)["issue_key"]
    assert search_as_agent(jira_site, "chatSlaBreached = true") == []

    sweep(site, sla_clock, AFTER_DEADLINE)

    assert search_as_agent(jira_site, "chatSlaBreached = true") == [key]
    assert search_as_agent(jira_site, 'chatSlaDeadline <= "2026-09-07 09:00" and chatSlaTier = standard') == [key]


def test_breach_events_done(site, jira_site, sla_clock):
    set_escalation(site, FULL_ESCALATION)
    site.start_chat(CUSTOMER)

    sweep(site, sla_clock, AFTER_DEADLINE)

    recorded = events(site)
    assert recorded["warning"].actions_done == ["property", "panel_alert"]
    assert recorded["breach"].actions_done == ["property", "panel_alert", "internal_comment", "notify",
                                               "raise_priority"]
    assert recorded["breach"].actions_done_at is not None
    assert recorded["breach"].last_error is None


def test_second_sweep_repeats_nothing(site, jira_site, sla_clock):
    set_escalation(site, FULL_ESCALATION)
    key = site.start_chat(CUSTOMER)["issue_key"]
    sweep(site, sla_clock, AFTER_DEADLINE)

    assert sweep(site, sla_clock, AFTER_DEADLINE + timedelta(hours=1)) == []

    assert len(escalation_comments(jira_site, key)) == 1
    assert len(notifications(jira_site, key)) == 1


def test_warning_alerts_only(site, jira_site, sla_clock):
    set_escalation(site, FULL_ESCALATION)
    conversation, agent = start_chat_with_agent(site)
    key = conversation["issue_key"]

    sweep(site, sla_clock, WARNING_AT + timedelta(minutes=1))
    frames = agent.receive_until(lambda frame: frame.get("alert") == "warning")

    value = issue(jira_site, key)["properties"][SLA_PROPERTY_KEY]
    assert (value["warned"], value["breached"]) == (True, False)
    assert alerts(frames) == ["warning"]
    assert escalation_comments(jira_site, key) == []
    assert notifications(jira_site, key) == []
    assert issue(jira_site, key)["priority"] == START_PRIORITY


def test_alert_hidden_from_customer(site, sla_clock):
    set_escalation(site, FULL_ESCALATION)
    conversation, agent = start_chat_with_agent(site)
    customer = site.ready_socket(CUSTOMER)
    customer.send(type="subscribe", conversation_id=conversation["id"], after_seq=0)
    assert customer.receive_messages(1)[0]["seq"] == 1

    sweep(site, sla_clock, AFTER_DEADLINE)
    agent.receive_until(lambda frame: frame.get("alert") == "breach")
    # A message published after the alerts reaches the customer after anything published before it.
    agent.send(type="send", conversation_id=conversation["id"], body="Je prends votre demande.",
               client_message_id="after-alerts")
    frames = customer.receive_until(lambda frame: frame.get("client_message_id") == "after-alerts")

    assert [frame for frame in frames if frame["type"] == "sla"] == []


def test_retry_after_notify_failure(site, jira_site, sla_clock):
    set_escalation(site, FULL_ESCALATION)
    key = site.start_chat(CUSTOMER)["issue_key"]
    jira_site.control("PUT", "/_devsite/faults", json={
        "method": "POST", "path": r"/rest/api/3/issue/[^/]+/notify$", "mode": "error", "status": 500, "times": 1,
    })

    sweep(site, sla_clock, AFTER_DEADLINE)
    failed = events(site)["breach"]

    assert failed.actions_done == ["property", "panel_alert", "internal_comment", "raise_priority"]
    assert failed.actions_done_at is None
    assert "notify" in failed.last_error
    assert notifications(jira_site, key) == []

    sweep(site, sla_clock, failed.next_attempt_at)
    retried = events(site)["breach"]

    assert retried.actions_done_at is not None
    assert sorted(retried.actions_done) == ["internal_comment", "notify", "panel_alert", "property",
                                            "raise_priority"]
    assert len(notifications(jira_site, key)) == 1
    assert len(escalation_comments(jira_site, key)) == 1


def test_comment_lost_answer_not_reposted(site, jira_site, sla_clock):
    set_escalation(site, FULL_ESCALATION)
    key = site.start_chat(CUSTOMER)["issue_key"]
    # Jira stores the comment, but the connection drops before the response arrives.
    jira_site.control("PUT", "/_devsite/faults", json={
        "method": "POST", "path": r"/rest/api/3/issue/[^/]+/comment$", "mode": "drop_after", "times": 1,
    })

    sweep(site, sla_clock, AFTER_DEADLINE)
    failed = events(site)["breach"]
    assert "internal_comment" not in failed.actions_done

    sweep(site, sla_clock, failed.next_attempt_at)

    assert "internal_comment" in events(site)["breach"].actions_done
    assert len(escalation_comments(jira_site, key)) == 1


def test_unknown_group_skipped(site, jira_site, sla_clock):
    set_escalation(site, dict(FULL_ESCALATION, notify_account_ids=[], notify_groups=["no-such-group"]))
    key = site.start_chat(CUSTOMER)["issue_key"]

    sweep(site, sla_clock, AFTER_DEADLINE)
    breach = events(site)["breach"]

    assert breach.actions_done_at is not None
    assert "notify" in breach.actions_done
    assert "no-such-group" in breach.last_error
    assert notifications(jira_site, key) == []


def test_policy_without_actions(site, jira_site, sla_clock):
    set_escalation(site, NO_ESCALATION)
    conversation = site.start_chat(CUSTOMER)
    key = conversation["issue_key"]

    sweep(site, sla_clock, AFTER_DEADLINE)

    value = issue(jira_site, key)["properties"][SLA_PROPERTY_KEY]
    assert value["warned"] is True
    assert value["breached"] is False  # breached_property is off
    assert events(site)["breach"].actions_done == ["property"]
    assert escalation_comments(jira_site, key) == []
    assert notifications(jira_site, key) == []
    assert issue(jira_site, key)["priority"] == START_PRIORITY


def test_priority_never_lowered(site, jira_site, sla_clock):
    set_escalation(site, dict(FULL_ESCALATION, raise_priority_to="Low"))
    key = site.start_chat(CUSTOMER)["issue_key"]

    sweep(site, sla_clock, AFTER_DEADLINE)

    assert issue(jira_site, key)["priority"] == START_PRIORITY
    assert "raise_priority" in events(site)["breach"].actions_done


def sync_properties(site):
    with site.server.app.app_context():
        return sync_pending_properties()


def pending_clocks(site):
    app = site.server.app
    with app.app_context():
        session = app.extensions["database"].session
        count = session.execute(select(func.count(SlaClock.id)).where(
            SlaClock.property_version < SlaClock.version)).scalar_one()
        session.rollback()
        return count


def test_sync_writes_started_clock(site, jira_site):
    key = site.start_chat(CUSTOMER)["issue_key"]
    assert pending_clocks(site) == 1

    assert sync_properties(site) == 1

    value = issue(jira_site, key)["properties"][SLA_PROPERTY_KEY]
    assert value["state"] == "running"
    assert value["breached"] is False
    assert value["deadline"] == "2026-09-07T11:00:00+02:00"
    assert pending_clocks(site) == 0


def test_sync_writes_met_clock(site, jira_site, sla_clock):
    conversation = site.start_chat(CUSTOMER)
    sync_properties(site)
    sla_clock.now = STARTED_AT + timedelta(minutes=10)
    response = site.api("POST", f"/chats/{conversation['id']}/messages", AGENT,
                        json={"body": "Bonjour, je regarde.", "client_message_id": "agent-answer"})
    assert response.status_code == 201, response.text

    assert sync_properties(site) == 1

    assert issue(jira_site, conversation["issue_key"])["properties"][SLA_PROPERTY_KEY]["state"] == "met"


def test_sync_gives_up_uninstalled_site(site, jira_site):
    key = site.start_chat(CUSTOMER)["issue_key"]
    jira_site.control("POST", f"/_devsite/apps/{site.server.app.config['ADDON_KEY']}/uninstall")

    assert sync_properties(site) == 0

    assert pending_clocks(site) == 0
    assert SLA_PROPERTY_KEY not in issue(jira_site, key)["properties"]
