"""The SLA state live. The key user gets an "sla_customer" frame, with the customer view and
nothing else, when a clock starts, is met or is recomputed. The agent view names the calendar's
time zone. The long-poll carries the same frames to clients that cannot keep a websocket."""

import copy
import threading
import uuid

import pytest

from addon.atlassian.installations import get_installation
from addon.settings import DEFAULTS, set_setting
from addon.sla.clock import recompute_site
from addon.sla.models import ClockState

from .sla_support import MONDAY_10, FakeClock, clock_of
from .subscriptions import change_subscription
from .support import wait_until
from .wsclient import serve_chat_site

CUSTOMER = "cust-alice"
AGENT = "agent-camille"
CUSTOMER_VIEW_KEYS = {"answer_by", "overdue", "support_opens_at", "timezone", "answered", "version"}
FRAME_KEYS = {"type", "conversation_id", "issue_key", "sla"}
POLL_TIMEOUT_SECS = 30


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


def following(site, account_id, conversation_id, project_key=None):
    """Return a socket of `account_id` subscribed to the conversation after its first message."""
    client = site.ready_socket(account_id, project_key)
    client.send(type="subscribe", conversation_id=conversation_id, after_seq=1)
    return client


def customer_frame(frame):
    return frame["type"] == "sla_customer"


def set_high_window(site, minutes):
    """Give priority High `minutes` of first response in the standard tier, and recompute open clocks."""
    app = site.server.app
    policies = copy.deepcopy(DEFAULTS["sla_policies"])
    policies["standard"]["first_response_minutes"]["High"] = minutes
    with app.app_context():
        installation_id = get_installation(site.client_key).id
        set_setting(installation_id, "sla_policies", policies)
        recompute_site(installation_id)


def poll(site, account_id, conversation_id, query):
    response = site.api("GET", f"/chats/{conversation_id}/poll?{query}", account_id)
    assert response.status_code == 200, response.text
    return response.json()


# -- the key user's frames ----------------------------------------------------------------------

def test_next_round_reaches_key_user(site, fake_clock):
    change_subscription(site.server.app, site.client_key, "1", sla_tier="premium")
    conversation = site.start_chat()
    customer = following(site, CUSTOMER, conversation["id"])

    fake_clock.advance(minutes=10)
    post(site, conversation["id"], AGENT, "Bonjour Alice.")
    frames = customer.receive_until(customer_frame)
    answered = frames[-1]
    fake_clock.advance(minutes=10)
    post(site, conversation["id"], CUSTOMER, "Voici la capture.")
    frames += customer.receive_until(customer_frame)
    next_round = frames[-1]
    # The customer's own next message comes after any frame published before it.
    post(site, conversation["id"], CUSTOMER, "Marqueur.")
    frames += customer.receive_until(lambda frame: frame.get("body") == "Marqueur.")

    assert answered["sla"]["answered"] is True
    assert answered["sla"]["answer_by"] is None
    assert next_round["sla"]["answered"] is False
    assert next_round["sla"]["answer_by"] == "2026-03-02T13:20:00+00:00"  # 14:20 in Paris
    assert next_round["sla"]["version"] == f"{clock_of(site.server.app, conversation['id']).id}.1"
    assert set(next_round) == FRAME_KEYS
    assert set(next_round["sla"]) == CUSTOMER_VIEW_KEYS
    assert [frame for frame in frames if frame["type"] == "sla"] == []


def test_recompute_moves_answer_by(site):
    conversation = site.start_chat()
    customer = following(site, CUSTOMER, conversation["id"])

    set_high_window(site, 60)
    frame = customer.receive_until(customer_frame)[-1]

    assert frame["conversation_id"] == conversation["id"]
    assert frame["sla"]["answer_by"] == "2026-03-02T10:00:00+00:00"  # 11:00 in Paris
    assert set(frame["sla"]) == CUSTOMER_VIEW_KEYS


def test_agent_frame_names_timezone(site):
    conversation = site.start_chat()
    agent = following(site, AGENT, conversation["id"], "SUP")
    calendar = {"timezone": "America/Montreal",
                "hours": {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
                "holidays": None, "closed_days": []}

    with site.server.app.app_context():
        installation_id = get_installation(site.client_key).id
        set_setting(installation_id, "sla_calendar", calendar)
        recompute_site(installation_id)
    frame = agent.receive_until(lambda frame: frame["type"] == "sla")[-1]

    assert frame["sla"]["timezone"] == "America/Montreal"
    assert frame["sla"]["tier"] == "standard"
    # 10:00 in Paris is 04:00 in Montreal, before opening: 120 minutes from 09:00.
    assert frame["sla"]["deadline"] == "2026-03-02T16:00:00+00:00"


# -- the long-poll ------------------------------------------------------------------------------

def test_poll_sends_current_sla_at_once(site):
    conversation = site.start_chat()

    customer = poll(site, CUSTOMER, conversation["id"], "after=1&sla=")
    agent = poll(site, AGENT, conversation["id"], "after=1&sla=&project_key=SUP")

    [customer_sla] = customer["frames"]
    assert customer["messages"] == []
    assert customer_sla["type"] == "sla_customer"
    assert set(customer_sla["sla"]) == CUSTOMER_VIEW_KEYS
    [agent_sla] = agent["frames"]
    assert agent_sla["type"] == "sla"
    assert agent_sla["sla"]["timezone"] == "Europe/Paris"
    assert agent_sla["sla"]["version"] == customer_sla["sla"]["version"]


def test_poll_without_sla_gets_no_frame(site):
    conversation = site.start_chat()
    post(site, conversation["id"], AGENT, "Bonjour Alice.")

    body = poll(site, CUSTOMER, conversation["id"], "after=1")

    assert [message["body"] for message in body["messages"]] == ["Bonjour Alice."]
    assert body["frames"] == []


def test_poll_wakes_on_sla_change(site):
    conversation = site.start_chat()
    version = poll(site, CUSTOMER, conversation["id"], "after=1&sla=")["frames"][0]["sla"]["version"]
    hub = site.server.app.extensions["hub"]
    result = {}
    poller = threading.Thread(target=lambda: result.update(
        body=poll(site, CUSTOMER, conversation["id"], f"after=1&sla={version}")), daemon=True)
    poller.start()
    wait_until(lambda: hub.waiter_count() == 1, message="the long-poll to wait")

    set_high_window(site, 60)
    poller.join(POLL_TIMEOUT_SECS)

    assert not poller.is_alive()
    assert result["body"]["messages"] == []
    [frame] = result["body"]["frames"]
    assert frame["type"] == "sla_customer"
    assert frame["sla"]["answer_by"] == "2026-03-02T10:00:00+00:00"
    assert frame["sla"]["version"] != version


def test_poll_agent_gets_met_clock(site):
    conversation = site.start_chat()
    version = poll(site, AGENT, conversation["id"], "after=1&sla=&project_key=SUP")["frames"][0]["sla"]["version"]

    post(site, conversation["id"], AGENT, "Bonjour Alice.")
    body = poll(site, AGENT, conversation["id"], f"after=1&sla={version}&project_key=SUP")

    assert [message["body"] for message in body["messages"]] == ["Bonjour Alice."]
    [frame] = body["frames"]
    assert frame["type"] == "sla"
    assert frame["sla"]["state"] == ClockState.MET
