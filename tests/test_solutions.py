"""Proposed solutions over the JSON API and the websocket, against the local Jira site: who may
propose and answer, what validation and "the problem persists" do to the request, the SLA
clock, the satisfaction question, and the comments traced on the request."""

import uuid

import pytest

from addon import french
from addon.chat.models import SolutionOutcome, SolutionState
from addon.sla.models import ClockState

from .sla_support import clock_of, webhooks_processed
from .solution_support import (
    AGENT,
    CUSTOMER,
    PLAIN_CUSTOMER,
    REPLY,
    agent_reply,
    chat_with_proposal,
    comment_with,
    events_of,
    issue_of,
    move_to,
    persists,
    propose,
    stored_solution,
    stored_survey,
    transition_calls,
    validate,
)
from .subscriptions import change_subscription
from .support import wait_until
from .wsclient import chat_site  # noqa: F401  (fixture)


def by_issue(site, issue_key, account_id):
    response = site.api("GET", f"/chats/by-issue/{issue_key}", account_id)
    assert response.status_code == 200, response.text
    return response.json()["conversation"]


def answer_satisfaction(site, conversation_id, account_id=CUSTOMER, **body):
    return site.api("POST", f"/chats/{conversation_id}/satisfaction", account_id, json=body)


# -- proposing ----------------------------------------------------------------------------------

def test_propose_records_and_traces(chat_site, jira_site):
    conversation, solution = chat_with_proposal(chat_site)

    assert solution["state"] == SolutionState.PROPOSED
    assert solution["proposed_by"] == {"account_id": AGENT, "name": "Camille Martin"}
    assert solution["proposed_at"]
    seen = by_issue(chat_site, conversation["issue_key"], CUSTOMER)["solution"]
    assert seen["id"] == solution["id"]
    assert seen["message_id"] == solution["message_id"]
    [event] = events_of(chat_site.server.app, conversation["id"], "solution_proposed")
    assert event.visibility == "public"
    assert event.author_account_id == AGENT
    comment = comment_with(jira_site, conversation["issue_key"], "propose comme solution")
    assert comment["public"] is True
    assert comment["author"] not in (AGENT, CUSTOMER)  # the app user writes the trace
    assert "Camille Martin propose comme solution" in comment["body"]
    assert REPLY in comment["body"]


def test_propose_again_returns_same(chat_site):
    conversation, solution = chat_with_proposal(chat_site)

    response = propose(chat_site, conversation["id"], solution["message_id"])

    assert response.status_code == 200
    assert response.json()["solution"]["id"] == solution["id"]
    assert len(events_of(chat_site.server.app, conversation["id"], "solution_proposed")) == 1


def test_new_proposal_supersedes(chat_site):
    conversation, first = chat_with_proposal(chat_site)
    other = agent_reply(chat_site, conversation["id"], "Autre piste : réinstallez le pilote d'impression.")

    response = propose(chat_site, conversation["id"], other["id"])

    assert response.status_code == 201
    assert response.json()["solution"]["message_id"] == other["id"]
    assert stored_solution(chat_site.server.app, first["id"]).state == SolutionState.SUPERSEDED
    assert validate(chat_site, conversation["id"], first["id"]).status_code == 409


def test_customer_cannot_propose(chat_site):
    conversation = chat_site.start_chat(CUSTOMER)
    reply = agent_reply(chat_site, conversation["id"])

    response = propose(chat_site, conversation["id"], reply["id"], account_id=CUSTOMER)

    assert response.status_code == 403
    assert events_of(chat_site.server.app, conversation["id"], "solution") == []


@pytest.mark.parametrize("case", ["customer_message", "internal_note", "unknown", "not_a_number"])
def test_propose_rejects_bad_message(chat_site, case):
    conversation = chat_site.start_chat(CUSTOMER)
    if case == "customer_message":
        message_id = by_messages(chat_site, conversation["id"])[0]["id"]
    elif case == "internal_note":
        message_id = agent_reply(chat_site, conversation["id"], "Note : vérifier la TVA.", "internal")["id"]
    elif case == "unknown":
        message_id = 999999
    else:
        message_id = "12"

    response = propose(chat_site, conversation["id"], message_id)

    assert response.status_code == {"unknown": 404}.get(case, 400), response.text
    assert str(message_id) in response.json()["error"]["message"]


def by_messages(site, conversation_id):
    response = site.api("GET", f"/chats/{conversation_id}/messages", CUSTOMER)
    return response.json()["messages"]


def test_propose_rejected_on_closed_request(chat_site, jira_site):
    conversation = chat_site.start_chat(CUSTOMER)
    reply = agent_reply(chat_site, conversation["id"])
    move_to(jira_site, conversation["issue_key"], "Closed")
    wait_until(lambda: by_issue(chat_site, conversation["issue_key"], AGENT)["state"] == "closed",
               message="the conversation to show the closed request")

    response = propose(chat_site, conversation["id"], reply["id"])

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "request_closed"


# -- validating ---------------------------------------------------------------------------------

def test_validate_resolves_request(chat_site, jira_site):
    conversation, solution = chat_with_proposal(chat_site)

    response = validate(chat_site, conversation["id"], solution["id"])

    assert response.status_code == 200, response.text
    answered = response.json()["solution"]
    assert answered["state"] == SolutionState.VALIDATED
    assert answered["outcome"] == SolutionOutcome.RESOLVED
    assert answered["answered_by"] == {"account_id": CUSTOMER, "name": "Alice Durand"}
    assert (answered["status_before"], answered["status_after"]) == ("Waiting for support", "Resolved")
    # A portal customer has no transition permission on the platform API, so the app user acts.
    assert answered["transitioned_by"] == "app"
    request = issue_of(jira_site, conversation["issue_key"])
    assert request["status"] == "Resolved"
    assert request["resolution"] == "Done"
    comment = comment_with(jira_site, conversation["issue_key"], "a validé")
    assert comment["public"] is True
    assert "Alice Durand a validé dans la discussion la solution proposée par Camille Martin" in comment["body"]
    assert "« Resolved » (résolution « Done »)" in comment["body"]
    assert "l'application l'a faite en son nom" in comment["body"]


def test_validate_twice_records_once(chat_site, jira_site):
    conversation, solution = chat_with_proposal(chat_site)

    first = validate(chat_site, conversation["id"], solution["id"])
    again = validate(chat_site, conversation["id"], solution["id"])

    assert (first.status_code, again.status_code) == (200, 200)
    assert len(events_of(chat_site.server.app, conversation["id"], "solution_validated")) == 1
    successful = [call for call in transition_calls(jira_site, conversation["issue_key"]) if call[2] == 204]
    assert len(successful) == 1


def test_agent_cannot_validate(chat_site, jira_site):
    conversation, solution = chat_with_proposal(chat_site)

    response = validate(chat_site, conversation["id"], solution["id"], account_id=AGENT)

    assert response.status_code == 403
    assert "Seul l'utilisateur clé" in response.json()["error"]["message"]
    assert stored_solution(chat_site.server.app, solution["id"]).state == SolutionState.PROPOSED
    assert issue_of(jira_site, conversation["issue_key"])["status"] == "Waiting for support"


def test_agent_cannot_answer_persists(chat_site):
    conversation, solution = chat_with_proposal(chat_site)

    response = persists(chat_site, conversation["id"], solution["id"], account_id=AGENT)

    assert response.status_code == 403
    assert stored_solution(chat_site.server.app, solution["id"]).state == SolutionState.PROPOSED


@pytest.mark.parametrize("answer", [validate, persists])
def test_non_key_user_cannot_answer(chat_site, jira_site, answer):
    conversation, solution = chat_with_proposal(chat_site)
    # Bruno belongs to the organisation the request is shared with, so he reads the chat.
    assert by_issue(chat_site, conversation["issue_key"], PLAIN_CUSTOMER)["can_write"] is False

    response = answer(chat_site, conversation["id"], solution["id"], account_id=PLAIN_CUSTOMER)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_key_user"
    assert stored_solution(chat_site.server.app, solution["id"]).state == SolutionState.PROPOSED
    assert issue_of(jira_site, conversation["issue_key"])["status"] == "Waiting for support"


def test_other_organisation_cannot_see(chat_site):
    conversation, solution = chat_with_proposal(chat_site)

    response = validate(chat_site, conversation["id"], solution["id"], account_id="cust-chloe")

    assert response.status_code == 404


def test_validation_stops_sla_clock(chat_site, jira_site):
    # With the premium tier a customer message after the first answer starts a next-response clock.
    change_subscription(chat_site.server.app, chat_site.client_key, "1", sla_tier="premium")
    conversation, solution = chat_with_proposal(chat_site)
    response = chat_site.api("POST", f"/chats/{conversation['id']}/messages", CUSTOMER,
                             json={"body": "Je teste tout de suite.", "client_message_id": str(uuid.uuid4())})
    assert response.status_code == 201
    running = clock_of(chat_site.server.app, conversation["id"])
    assert (running.kind, running.state) == ("next_response", ClockState.RUNNING)

    assert validate(chat_site, conversation["id"], solution["id"]).status_code == 200

    stopped = clock_of(chat_site.server.app, conversation["id"])
    assert stopped.id == running.id
    assert stopped.state == ClockState.STOPPED
    assert stopped.stopped_at is not None
    assert stopped.next_due_at is None
    wait_until(lambda: webhooks_processed(chat_site.server.app), message="the resolve webhook")
    assert clock_of(chat_site.server.app, conversation["id"]).state == ClockState.STOPPED


# -- the problem persists -----------------------------------------------------------------------

def test_persists_reopens_and_alerts(chat_site, jira_site):
    conversation, solution = chat_with_proposal(chat_site)
    move_to(jira_site, conversation["issue_key"], "Resolved")

    response = persists(chat_site, conversation["id"], solution["id"])

    assert response.status_code == 200, response.text
    answered = response.json()["solution"]
    assert answered["state"] == SolutionState.PERSISTS
    assert answered["outcome"] == SolutionOutcome.REOPENED
    assert issue_of(jira_site, conversation["issue_key"])["status"] == "Waiting for support"
    assert issue_of(jira_site, conversation["issue_key"])["resolution"] is None
    [alert] = events_of(chat_site.server.app, conversation["id"], "solution_alert")
    assert alert.visibility == "internal"
    note = comment_with(jira_site, conversation["issue_key"], "À traiter")
    assert note["public"] is False
    assert "Alice Durand indique dans la discussion que le problème persiste" in note["body"]
    assert "« Resolved » → « Waiting for support »" in note["body"]
    public = comment_with(jira_site, conversation["issue_key"], "malgré la solution")
    assert public["public"] is True


def test_persists_on_closed_points_to_portal(chat_site, jira_site):
    conversation, solution = chat_with_proposal(chat_site)
    move_to(jira_site, conversation["issue_key"], "Closed")

    answered = persists(chat_site, conversation["id"], solution["id"]).json()["solution"]

    assert answered["outcome"] == SolutionOutcome.NEW_REQUEST
    assert answered["portal_url"] == f"{jira_site.url}/servicedesk/customer/portal/1"
    assert issue_of(jira_site, conversation["issue_key"])["status"] == "Closed"
    comment = comment_with(jira_site, conversation["issue_key"], "nouvelle demande")
    assert f"{jira_site.url}/servicedesk/customer/portal/1" in comment["body"]


# -- satisfaction -------------------------------------------------------------------------------

def test_satisfaction_asked_once(chat_site):
    conversation, solution = chat_with_proposal(chat_site)
    validate(chat_site, conversation["id"], solution["id"])

    [asked] = events_of(chat_site.server.app, conversation["id"], "satisfaction_asked")
    assert asked.visibility == "public"
    assert asked.body.startswith("Êtes-vous satisfait de l'aide reçue ?")
    assert asked.sync_state == "not_applicable"
    survey = stored_survey(chat_site.server.app, solution["id"])
    assert (survey.account_id, survey.language, survey.rating) == (CUSTOMER, "fr", None)


def test_satisfaction_in_key_user_language(chat_site, jira_site):
    jira_site.control("PATCH", f"/_devsite/users/{CUSTOMER}", json={"locale": "en_US"})
    conversation, solution = chat_with_proposal(chat_site)

    validate(chat_site, conversation["id"], solution["id"])

    [asked] = events_of(chat_site.server.app, conversation["id"], "satisfaction_asked")
    assert asked.body.startswith("How satisfied are you with the help you received?")
    assert stored_survey(chat_site.server.app, solution["id"]).language == "en"


def test_satisfaction_stored_and_traced(chat_site, jira_site):
    conversation, solution = chat_with_proposal(chat_site)
    validate(chat_site, conversation["id"], solution["id"])

    response = answer_satisfaction(chat_site, conversation["id"], rating=4, comment="Très rapide <b>merci</b>")

    assert response.status_code == 200, response.text
    assert response.json()["solution"]["satisfaction"]["rating"] == 4
    survey = stored_survey(chat_site.server.app, solution["id"])
    assert (survey.rating, survey.comment) == (4, "Très rapide <b>merci</b>")
    assert survey.answered_at is not None
    note = comment_with(jira_site, conversation["issue_key"], "Satisfaction d'Alice Durand")
    assert note["public"] is False
    assert "4/5" in note["body"]
    # The comment's text reaches Jira literally: no markup is interpreted.
    assert "<b>merci</b>" in note["body"]
    agent_view = by_issue(chat_site, conversation["issue_key"], AGENT)["solution"]["satisfaction"]
    assert (agent_view["rating"], agent_view["comment"]) == (4, "Très rapide <b>merci</b>")
    plain_view = by_issue(chat_site, conversation["issue_key"], PLAIN_CUSTOMER)["solution"]["satisfaction"]
    assert "rating" not in plain_view
    assert plain_view["answered"] is True


def test_satisfaction_answered_once(chat_site):
    conversation, solution = chat_with_proposal(chat_site)
    validate(chat_site, conversation["id"], solution["id"])
    answer_satisfaction(chat_site, conversation["id"], rating=5)

    again = answer_satisfaction(chat_site, conversation["id"], rating=1)

    assert again.status_code == 409
    assert stored_survey(chat_site.server.app, solution["id"]).rating == 5


def test_satisfaction_declined(chat_site, jira_site):
    conversation, solution = chat_with_proposal(chat_site)
    validate(chat_site, conversation["id"], solution["id"])

    response = answer_satisfaction(chat_site, conversation["id"], declined=True)

    assert response.status_code == 200
    survey = stored_survey(chat_site.server.app, solution["id"])
    assert survey.rating is None
    assert survey.declined_at is not None
    assert comment_with(jira_site, conversation["issue_key"], "ne pas répondre")["public"] is False


@pytest.mark.parametrize("body", [{"rating": 0}, {"rating": 6}, {"rating": "4"}, {"rating": True}, {},
                                  {"rating": 3, "comment": 12}, {"rating": 3, "comment": "x" * 2001}])
def test_satisfaction_rejects_bad_answer(chat_site, body):
    conversation, solution = chat_with_proposal(chat_site)
    validate(chat_site, conversation["id"], solution["id"])

    response = answer_satisfaction(chat_site, conversation["id"], **body)

    assert response.status_code == 400
    assert stored_survey(chat_site.server.app, solution["id"]).answered_at is None


def test_satisfaction_only_by_asked_user(chat_site):
    conversation, solution = chat_with_proposal(chat_site)
    validate(chat_site, conversation["id"], solution["id"])

    by_agent = answer_satisfaction(chat_site, conversation["id"], account_id=AGENT, rating=5)
    by_plain = answer_satisfaction(chat_site, conversation["id"], account_id=PLAIN_CUSTOMER, rating=5)

    assert (by_agent.status_code, by_plain.status_code) == (403, 403)


def test_satisfaction_without_question(chat_site):
    conversation, _solution = chat_with_proposal(chat_site)

    response = answer_satisfaction(chat_site, conversation["id"], rating=5)

    assert response.status_code == 404


# -- websocket ----------------------------------------------------------------------------------

def frames_of_type(client, kind, count=1):
    found = []
    while len(found) < count:
        frame = client.receive()
        if frame["type"] == kind:
            found.append(frame)
    return found


def test_ws_propose_validate(chat_site, jira_site):
    conversation = chat_site.start_chat(CUSTOMER)
    reply = agent_reply(chat_site, conversation["id"])
    customer = chat_site.ready_socket(CUSTOMER)
    agent = chat_site.ready_socket(AGENT, "SUP")
    for client in (customer, agent):
        client.send(type="subscribe", conversation_id=conversation["id"], after_seq=2)

    agent.send(type="propose_solution", conversation_id=conversation["id"], message_id=reply["id"],
               client_message_id="p-1")
    [ack] = frames_of_type(agent, "solution_ack")
    assert ack["client_message_id"] == "p-1"
    solution = ack["solution"]
    [seen] = frames_of_type(customer, "solution")
    assert seen["solution"]["id"] == solution["id"]
    assert seen["solution"]["state"] == SolutionState.PROPOSED

    agent.send(type="validate_solution", conversation_id=conversation["id"], solution_id=solution["id"],
               client_message_id="v-agent")
    [refused] = frames_of_type(agent, "error")
    assert (refused["status"], refused["client_message_id"]) == (403, "v-agent")

    customer.send(type="validate_solution", conversation_id=conversation["id"], solution_id=solution["id"],
                  client_message_id="v-1")
    [validated] = frames_of_type(customer, "solution_ack")
    assert validated["solution"]["outcome"] == SolutionOutcome.RESOLVED
    assert issue_of(jira_site, conversation["issue_key"])["status"] == "Resolved"

    customer.send(type="answer_satisfaction", conversation_id=conversation["id"], rating=5, comment="Parfait",
                  client_message_id="s-1")
    [answered] = frames_of_type(customer, "solution_ack")
    assert answered["solution"]["satisfaction"]["rating"] == 5


def test_ws_persists_alerts_agents_only(chat_site, jira_site):
    conversation, solution = chat_with_proposal(chat_site)
    move_to(jira_site, conversation["issue_key"], "Waiting for customer")
    customer = chat_site.ready_socket(CUSTOMER)
    agent = chat_site.ready_socket(AGENT, "SUP")
    for client in (customer, agent):
        client.send(type="subscribe", conversation_id=conversation["id"], after_seq=4)

    customer.send(type="solution_persists", conversation_id=conversation["id"], solution_id=solution["id"],
                  client_message_id="x-1")
    [ack] = frames_of_type(customer, "solution_ack")
    [alert] = frames_of_type(agent, "solution_alert")

    assert ack["solution"]["outcome"] == SolutionOutcome.REOPENED
    assert "Alice Durand indique dans la discussion que le problème persiste" in alert["message"]
    # The customer's stream carries no internal entry: after the public "solution" frame and the
    # events, a message the agent sends next is the first thing it gets.
    agent_reply(chat_site, conversation["id"], "Je reprends la demande.")
    frames = customer.receive_until(lambda frame: frame.get("body") == "Je reprends la demande.")
    assert all(frame["type"] != "solution_alert" for frame in frames)
    assert all(frame.get("visibility") != "internal" for frame in frames)


def test_ws_rejects_bad_solution_id(chat_site):
    conversation, _solution = chat_with_proposal(chat_site)
    customer = chat_site.ready_socket(CUSTOMER)

    customer.send(type="validate_solution", conversation_id=conversation["id"], solution_id="1",
                  client_message_id="bad")
    [error] = frames_of_type(customer, "error")

    assert (error["status"], error["code"]) == (400, "invalid_input")


@pytest.mark.parametrize(("name", "expected"), [
    ("Alice Durand", "d'Alice Durand"),
    ("Émilie Roux", "d'Émilie Roux"),
    ("Hugo Bernard", "d'Hugo Bernard"),
    ("Yves Martin", "d'Yves Martin"),
    ("Bruno Leroy", "de Bruno Leroy"),
    ("cust-alice", "de cust-alice"),
])
def test_french_de_elides(name, expected):
    assert french.de(name) == expected
