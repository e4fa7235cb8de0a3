"""The first-response clock over real HTTP with the local Jira site: what starts, meets, pauses,
resumes, stops and recomputes it, and the SLA settings' validation.

The add-on's SLA clock is injected, so deadlines are exact and nothing waits for real time. The
sweeper is off, and tests sweep by hand."""

import copy
import uuid
from types import SimpleNamespace

import pytest

from addon.atlassian.installations import get_installation
from addon.chat.actions import Viewer, database
from addon.chat.models import AuthorRole, Conversation, Message, Origin, SyncState
from addon.settings import DEFAULTS, set_setting
from addon.sla.clock import recompute_site
from addon.sla.live import answer_by_preview, sla_view
from addon.sla.models import ClockKind, ClockState, EventKind
from addon.sla.policy import (
    SlaSettingsError,
    policy_from_settings,
    validate_impact_priorities,
    validate_policies,
    validate_waiting_statuses,
)
from addon.sla.sweeper import sweep

from .sla_support import (
    MONDAY_10,
    FakeClock,
    clock_of,
    clocks_of,
    event_kinds,
    paris,
    webhooks_processed,
)
from .subscriptions import change_subscription
from .test_jira_to_chat import deliver, fixture
from .support import wait_until
from .wsclient import serve_chat_site

CUSTOMER = "cust-alice"
AGENT = "agent-camille"


@pytest.fixture
def fake_clock():
    return FakeClock(MONDAY_10)


@pytest.fixture
def site(database_url, jira_site, tmp_path, fake_clock):
    """The add-on installed into the local site, on an injected SLA clock, without its sweeper."""
    yield from serve_chat_site(database_url, jira_site, tmp_path, SLA_SWEEPER=False, SLA_NOW=fake_clock)


def post(site, conversation_id, account_id, body, visibility="public"):
    response = site.api("POST", f"/chats/{conversation_id}/messages", account_id, json={
        "body": body, "visibility": visibility, "client_message_id": str(uuid.uuid4()),
    })
    assert response.status_code == 201, response.text
    return response.json()["message"]


def comment_in_jira(jira_site, issue_key, author=AGENT, body="Bonjour Alice", public=True):
    comment = jira_site.control("POST", "/_devsite/actions/comment", json={
        "issue_key": issue_key, "author_account_id": author, "body": body, "public": public})
    return str(comment["id"])


def transition(jira_site, issue_key, to_status, resolution=None):
    jira_site.control("POST", "/_devsite/actions/transition", json={
        "issue_key": issue_key, "actor_account_id": AGENT, "to_status": to_status, "resolution": resolution})


def jira_message_stored(site, conversation_id, comment_id):
    with site.server.app.app_context():
        return database().session.query(Message).filter_by(
            conversation_id=conversation_id, origin=Origin.JIRA, jira_comment_id=comment_id).first() is not None


def sweep_at(site):
    with site.server.app.app_context():
        return sweep()


# -- start --------------------------------------------------------------------------------------

def test_clock_starts_with_chat(site):
    conversation = site.start_chat()

    clock = clock_of(site.server.app, conversation["id"])
    assert clock.kind == ClockKind.FIRST_RESPONSE
    assert clock.round == 1
    assert clock.tier == "standard"
    assert clock.priority == "High"  # impact "blocking"
    assert clock.window_minutes == 120
    assert clock.state == ClockState.RUNNING
    assert clock.started_at == MONDAY_10
    assert clock.warning_at == paris(2026, 3, 2, 11, 30)
    assert clock.deadline_at == paris(2026, 3, 2, 12, 0)
    assert clock.next_due_at == clock.warning_at


def test_start_answer_by_for_key_user(site):
    conversation = site.start_chat()

    clock = clock_of(site.server.app, conversation["id"])
    assert conversation["sla"] == {
        "answer_by": "2026-03-02T11:00:00+00:00",
        "overdue": False,
        "support_opens_at": None,
        "timezone": "Europe/Paris",
        "answered": False,
        "version": f"{clock.id}.1",
    }


def test_start_outside_hours_opens(site, fake_clock):
    fake_clock.set(paris(2026, 3, 6, 19, 0))  # Friday evening

    conversation = site.start_chat()

    assert conversation["sla"]["support_opens_at"] == "2026-03-09T08:00:00+00:00"
    assert conversation["sla"]["answer_by"] == "2026-03-09T10:00:00+00:00"  # Monday 11:00 in Paris
    assert clock_of(site.server.app, conversation["id"]).state == ClockState.RUNNING


def test_agent_view_by_issue(site):
    conversation = site.start_chat()

    response = site.api("GET", f"/chats/by-issue/{conversation['issue_key']}?project_key=SUP", AGENT)

    assert response.status_code == 200, response.text
    view = response.json()["conversation"]["sla"]
    assert view["state"] == ClockState.RUNNING
    assert view["deadline"] == "2026-03-02T11:00:00+00:00"
    assert view["warning_at"] == "2026-03-02T10:30:00+00:00"
    assert view["breached"] is False
    assert view["paused"] is False
    assert view["met_at"] is None
    assert view["tier"] == "standard"
    assert view["priority"] == "High"
    assert view["timezone"] == "Europe/Paris"


def test_answer_by_preview(site, fake_clock):
    with site.server.app.app_context():
        preview = answer_by_preview(get_installation(site.client_key).id, "premium", "question")

    assert preview["priority"] == "Low"
    assert preview["answer_by"] == "2026-03-02T15:00:00+00:00"  # 240 minutes: 16:00 in Paris
    assert preview["support_opens_at"] is None


# -- what meets the clock, and what does not ----------------------------------------------------

def test_customer_message_keeps_running(site, fake_clock):
    conversation = site.start_chat()
    fake_clock.advance(minutes=5)

    post(site, conversation["id"], CUSTOMER, "Toujours bloqué.")

    assert clock_of(site.server.app, conversation["id"]).state == ClockState.RUNNING


def test_internal_note_keeps_running(site):
    conversation = site.start_chat()

    post(site, conversation["id"], AGENT, "Voir avec la finance.", visibility="internal")

    assert clock_of(site.server.app, conversation["id"]).state == ClockState.RUNNING


def test_agent_chat_reply_meets(site, fake_clock):
    conversation = site.start_chat()
    fake_clock.advance(minutes=20)

    post(site, conversation["id"], AGENT, "Bonjour Alice, je regarde.")

    clock = clock_of(site.server.app, conversation["id"])
    assert clock.state == ClockState.MET
    assert clock.met_at == paris(2026, 3, 2, 10, 20)
    assert clock.met_by_account_id == AGENT
    assert clock.next_due_at is None
    assert clock.version == 2


def test_met_clock_answered_for_key_user(site):
    conversation = site.start_chat()
    post(site, conversation["id"], AGENT, "Bonjour Alice.")

    response = site.api("GET", f"/chats/by-issue/{conversation['issue_key']}", CUSTOMER)

    assert response.json()["conversation"]["sla"]["answered"] is True
    assert response.json()["conversation"]["sla"]["answer_by"] is None


def test_jira_public_comment_meets(site, jira_site, fake_clock):
    conversation = site.start_chat()
    fake_clock.advance(minutes=10)

    comment_in_jira(jira_site, conversation["issue_key"])

    clock = wait_until(lambda: (lambda c: c if c.state == ClockState.MET else None)(
        clock_of(site.server.app, conversation["id"])), message="the clock to be met")
    assert clock.met_by_account_id == AGENT
    assert clock.met_at == paris(2026, 3, 2, 10, 10)


def test_jira_internal_comment_keeps_running(site, jira_site):
    conversation = site.start_chat()

    comment_id = comment_in_jira(jira_site, conversation["issue_key"], public=False)
    wait_until(lambda: jira_message_stored(site, conversation["id"], comment_id), message="the comment's message")
    wait_until(lambda: webhooks_processed(site.server.app), message="every delivery processed")

    assert clock_of(site.server.app, conversation["id"]).state == ClockState.RUNNING


def test_internal_note_shared_meets(site, fake_clock):
    conversation = site.start_chat()
    app = site.server.app
    with app.app_context():
        chat = database().session.get(Conversation, conversation["id"])
    hook_target = SimpleNamespace(app=app, client_key=site.client_key, url=site.url)
    fake_clock.advance(minutes=3)

    deliver(hook_target, fixture("comment_created_v2.json", chat, comment_id="20100", jsdPublic=False))
    assert clock_of(app, conversation["id"]).state == ClockState.RUNNING

    deliver(hook_target, fixture("comment_updated.json", chat, comment_id="20100", jsdPublic=True))
    clock = clock_of(app, conversation["id"])
    assert clock.state == ClockState.MET
    assert clock.met_by_account_id == AGENT


def test_other_app_comment_keeps_running(site):
    conversation = site.start_chat()
    app = site.server.app
    with app.app_context():
        chat = database().session.get(Conversation, conversation["id"])
    hook_target = SimpleNamespace(app=app, client_key=site.client_key, url=site.url)
    automation = {"accountId": "557058:automation-app", "accountType": "app", "displayName": "Automation for Jira"}

    deliver(hook_target, fixture("comment_created_v2.json", chat, comment_id="20200", author=automation,
                                 updateAuthor=automation, jsdPublic=True))

    assert jira_message_stored(site, conversation["id"], "20200")
    assert clock_of(app, conversation["id"]).state == ClockState.RUNNING


def test_jira_customer_comment_keeps_running(site, jira_site):
    conversation = site.start_chat()

    comment_id = comment_in_jira(jira_site, conversation["issue_key"], author="cust-bruno", body="Même souci")
    wait_until(lambda: jira_message_stored(site, conversation["id"], comment_id), message="the comment's message")
    wait_until(lambda: webhooks_processed(site.server.app), message="every delivery processed")

    assert clock_of(site.server.app, conversation["id"]).state == ClockState.RUNNING


def test_customer_only_chat_breaches_once(site, jira_site, fake_clock):
    jira_site.control("PUT", "/_devsite/switches", json={"impersonate_customers": False})
    conversation = site.start_chat()
    app = site.server.app
    sent = [post(site, conversation["id"], CUSTOMER, text)["id"]
            for text in ("Toujours bloqué.", "Quelqu'un peut regarder ?")]

    def synced():
        with app.app_context():
            states = [database().session.get(Message, message_id).sync_state for message_id in sent]
            database().remove_session()
        return all(state == SyncState.SYNCED for state in states)

    # The outbox writes both messages as the app user, and their webhooks come back.
    wait_until(synced, timeout=30, message="the customer's messages written to Jira")
    wait_until(lambda: webhooks_processed(app), message="every delivery processed")
    assert clock_of(app, conversation["id"]).state == ClockState.RUNNING

    fake_clock.set(paris(2026, 3, 2, 12, 1))
    sweep_at(site)
    sweep_at(site)

    assert event_kinds(app, conversation["id"]) == [(1, EventKind.WARNING), (1, EventKind.BREACH)]
    clock = clock_of(app, conversation["id"])
    assert clock.breached is True
    assert clock.state == ClockState.RUNNING
    assert clock.next_due_at is None


# -- pause, resume, stop ------------------------------------------------------------------------

def test_waiting_status_pauses(site, jira_site, fake_clock):
    conversation = site.start_chat()
    fake_clock.advance(minutes=30)

    transition(jira_site, conversation["issue_key"], "Waiting for customer")

    clock = wait_until(lambda: (lambda c: c if c.state == ClockState.PAUSED else None)(
        clock_of(site.server.app, conversation["id"])), message="the clock to pause")
    assert clock.pauses == [["2026-03-02T09:30:00+00:00", None]]
    assert clock.deadline_at is None
    assert clock.next_due_at is None


def test_leaving_waiting_status_resumes(site, jira_site, fake_clock):
    conversation = site.start_chat()
    fake_clock.advance(minutes=30)
    transition(jira_site, conversation["issue_key"], "Waiting for customer")
    wait_until(lambda: clock_of(site.server.app, conversation["id"]).state == ClockState.PAUSED,
               message="the clock to pause")
    fake_clock.set(paris(2026, 3, 2, 14, 30))

    transition(jira_site, conversation["issue_key"], "Waiting for support")

    clock = wait_until(lambda: (lambda c: c if c.state == ClockState.RUNNING else None)(
        clock_of(site.server.app, conversation["id"])), message="the clock to resume")
    # 30 minutes counted before the pause; 90 remain from 14:30, and the warning is 60 minutes in.
    assert clock.deadline_at == paris(2026, 3, 2, 16, 0)
    assert clock.warning_at == paris(2026, 3, 2, 15, 30)
    assert clock.pauses == [["2026-03-02T09:30:00+00:00", "2026-03-02T13:30:00+00:00"]]


def test_pause_off_in_policy_keeps_running(site, jira_site):
    conversation = site.start_chat()
    with site.server.app.app_context():
        installation_id = database().session.get(Conversation, conversation["id"]).installation_id
        policies = dict(DEFAULTS["sla_policies"])
        policies["standard"] = dict(policies["standard"], pause_while_waiting_for_customer=False)
        set_setting(installation_id, "sla_policies", policies)

    transition(jira_site, conversation["issue_key"], "Waiting for customer")
    wait_until(lambda: webhooks_processed(site.server.app), message="every delivery processed")

    assert clock_of(site.server.app, conversation["id"]).state == ClockState.RUNNING


def test_resolution_stops(site, jira_site, fake_clock):
    conversation = site.start_chat()
    fake_clock.advance(minutes=15)

    transition(jira_site, conversation["issue_key"], "Resolved", "Done")

    clock = wait_until(lambda: (lambda c: c if c.state == ClockState.STOPPED else None)(
        clock_of(site.server.app, conversation["id"])), message="the clock to stop")
    assert clock.stopped_at == paris(2026, 3, 2, 10, 15)
    assert clock.next_due_at is None


# -- recompute ----------------------------------------------------------------------------------

def test_recompute_after_policy_edit(site, fake_clock):
    conversation = site.start_chat()
    app = site.server.app
    with app.app_context():
        installation_id = database().session.get(Conversation, conversation["id"]).installation_id
        policies = dict(DEFAULTS["sla_policies"])
        windows = dict(policies["standard"]["first_response_minutes"], High=60)
        policies["standard"] = dict(policies["standard"], first_response_minutes=windows, warning_percent=50)
        set_setting(installation_id, "sla_policies", policies)
        recomputed = recompute_site(installation_id)

    clock = clock_of(app, conversation["id"])
    assert recomputed == 1
    assert clock.window_minutes == 60
    assert clock.deadline_at == paris(2026, 3, 2, 11, 0)
    assert clock.warning_at == paris(2026, 3, 2, 10, 30)
    assert clock.next_due_at == clock.warning_at


def test_recompute_after_calendar_edit(site):
    conversation = site.start_chat()
    app = site.server.app
    calendar = {"timezone": "Europe/Paris",
                "hours": {"mon": [["09:00", "11:00"], ["15:00", "18:00"]], "tue": [["09:00", "18:00"]],
                          "wed": [], "thu": [], "fri": [], "sat": [], "sun": []},
                "holidays": {"country": "FR", "subdivision": None}}
    with app.app_context():
        installation_id = database().session.get(Conversation, conversation["id"]).installation_id
        set_setting(installation_id, "sla_calendar", calendar)
        recompute_site(installation_id)

    clock = clock_of(app, conversation["id"])
    # 60 minutes until 11:00, then 60 more from 15:00.
    assert clock.deadline_at == paris(2026, 3, 2, 16, 0)


# -- next response ------------------------------------------------------------------------------

def test_next_response_rounds(site, fake_clock):
    change_subscription(site.server.app, site.client_key, "1", sla_tier="premium")
    conversation = site.start_chat()
    app = site.server.app
    fake_clock.advance(minutes=10)
    post(site, conversation["id"], AGENT, "Bonjour Alice.")
    fake_clock.advance(minutes=10)

    post(site, conversation["id"], CUSTOMER, "Voici la capture.")

    first, second = clocks_of(app, conversation["id"])
    assert first.state == ClockState.MET
    assert second.kind == ClockKind.NEXT_RESPONSE
    assert second.round == 1
    assert second.tier == "premium"
    assert second.window_minutes == 120
    # 100 minutes until noon, 20 more from 14:00.
    assert second.deadline_at == paris(2026, 3, 2, 14, 20)

    post(site, conversation["id"], CUSTOMER, "Et une autre.")
    assert len(clocks_of(app, conversation["id"])) == 2

    post(site, conversation["id"], AGENT, "Merci, je regarde.")
    post(site, conversation["id"], CUSTOMER, "Merci !")

    rounds = [(c.kind, c.round, c.state) for c in clocks_of(app, conversation["id"])]
    assert rounds == [(ClockKind.FIRST_RESPONSE, 1, ClockState.MET), (ClockKind.NEXT_RESPONSE, 1, ClockState.MET),
                      (ClockKind.NEXT_RESPONSE, 2, ClockState.RUNNING)]


def test_standard_has_no_next_response(site):
    conversation = site.start_chat()
    post(site, conversation["id"], AGENT, "Bonjour Alice.")

    post(site, conversation["id"], CUSTOMER, "Voici la capture.")

    assert len(clocks_of(site.server.app, conversation["id"])) == 1


# -- views --------------------------------------------------------------------------------------

def test_sla_view_none_without_clock(site):
    conversation = site.start_chat()
    app = site.server.app
    with app.app_context():
        with database().transaction() as session:
            for clock in clocks_of(app, conversation["id"]):
                session.delete(session.merge(clock))
        found = database().session.get(Conversation, conversation["id"])
        agent = Viewer(installation_id=found.installation_id, client_key=site.client_key, account_id=AGENT,
                       role=AuthorRole.AGENT, project_key="SUP")

        assert sla_view(found, agent) is None


# -- policy settings ----------------------------------------------------------------------------

def test_default_policies_valid():
    assert validate_policies(DEFAULTS["sla_policies"]) == DEFAULTS["sla_policies"]
    assert validate_impact_priorities(DEFAULTS["impact_priorities"], DEFAULTS["sla_policies"]) == \
        DEFAULTS["impact_priorities"]


@pytest.mark.parametrize(("change", "expected"), [
    (lambda p: p.pop("standard"), "must contain tier 'standard'"),
    (lambda p: p["premium"]["first_response_minutes"].update(High="60"), "first_response_minutes['High']"),
    (lambda p: p["premium"]["first_response_minutes"].update(High=0), "from 1 to"),
    (lambda p: p["standard"].update(warning_percent=100), "warning_percent must be a whole number from 1 to 99"),
    (lambda p: p["standard"].update(pause=True), "unknown keys ['pause']"),
    (lambda p: p["standard"].update(next_response_minutes={}), "next_response_minutes must map"),
    (lambda p: p["standard"]["escalation"].update(notify_groups="support"), "escalation.notify_groups"),
    (lambda p: p["standard"]["escalation"].update(raise_priority_to=3), "raise_priority_to"),
])
def test_invalid_policy_named(change, expected):
    policies = copy.deepcopy(DEFAULTS["sla_policies"])
    change(policies)

    with pytest.raises(SlaSettingsError) as raised:
        validate_policies(policies)

    assert expected in str(raised.value)


def test_impact_priority_needs_window():
    with pytest.raises(SlaSettingsError) as raised:
        validate_impact_priorities({"blocking": "Critique", "degraded": "Medium", "question": "Low"},
                                   DEFAULTS["sla_policies"])

    assert "no first-response window for priority 'Critique'" in str(raised.value)


def test_impact_priorities_exact_impacts():
    with pytest.raises(SlaSettingsError) as raised:
        validate_impact_priorities({"blocking": "High", "urgent": "Highest"})

    assert "missing: ['degraded', 'question']" in str(raised.value)
    assert "unknown: ['urgent']" in str(raised.value)


def test_waiting_statuses_deduplicated():
    assert validate_waiting_statuses([" Waiting for customer", "waiting for CUSTOMER", "En attente"]) == \
        ["Waiting for customer", "En attente"]


def test_unknown_tier_gets_standard():
    policy = policy_from_settings(DEFAULTS, "gold")

    assert policy.tier == "gold"
    assert policy.first_response_minutes == DEFAULTS["sla_policies"]["standard"]["first_response_minutes"]
    assert policy.window_minutes(ClockKind.NEXT_RESPONSE, "High") is None
