"""Helpers of the proposed-solution tests: a chat with an agent's reply, the local site's workflow
driven through its control API, and the comments traced on the request."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from addon.chat.models import Message, ProposedSolution, SatisfactionSurvey

from .support import wait_until

CUSTOMER = "cust-alice"
PLAIN_CUSTOMER = "cust-bruno"  # of the same organisation, but not a key user
AGENT = "agent-camille"
REPLY = "Videz le cache du module Ventes, puis relancez la validation."
# The transitions that bring a new request (Waiting for support) to each status of the local site.
PATHS = {
    "Waiting for support": [],
    "In Progress": [("In Progress", None)],
    "Waiting for customer": [("Waiting for customer", None)],
    "Pending": [("Pending", None)],
    "Resolved": [("Resolved", "Done")],
    "Canceled": [("Canceled", None)],
    "Closed": [("Resolved", "Done"), ("Closed", None)],
}


def agent_reply(site, conversation_id, body=REPLY, visibility="public"):
    response = site.api("POST", f"/chats/{conversation_id}/messages", AGENT,
                        json={"body": body, "visibility": visibility})
    assert response.status_code == 201, response.text
    return response.json()["message"]


def propose(site, conversation_id, message_id, account_id=AGENT):
    return site.api("POST", f"/chats/{conversation_id}/solutions", account_id, json={"message_id": message_id})


def validate(site, conversation_id, solution_id, account_id=CUSTOMER):
    return site.api("POST", f"/chats/{conversation_id}/solutions/{solution_id}/validate", account_id)


def persists(site, conversation_id, solution_id, account_id=CUSTOMER):
    return site.api("POST", f"/chats/{conversation_id}/solutions/{solution_id}/persists", account_id)


def chat_with_proposal(site):
    """Start a chat as the key user, reply as the agent and propose the reply; return (conversation, solution)."""
    conversation = site.start_chat(CUSTOMER)
    reply = agent_reply(site, conversation["id"])
    response = propose(site, conversation["id"], reply["id"])
    assert response.status_code == 201, response.text
    return conversation, response.json()["solution"]


def move_to(jira_site, issue_key, status):
    """Bring a request in Waiting for support to `status` through the site's workflow, as an agent."""
    for target, resolution in PATHS[status]:
        jira_site.control("POST", "/_devsite/actions/transition", json={
            "issue_key": issue_key, "actor_account_id": AGENT, "to_status": target, "resolution": resolution})


def issue_of(jira_site, issue_key):
    return jira_site.control("GET", f"/_devsite/issues/{issue_key}")


def comment_with(jira_site, issue_key, fragment):
    """Wait for the request's comment that contains `fragment`; return it (author, body, public, …)."""
    def find():
        comments = issue_of(jira_site, issue_key)["comments"]
        return next((comment for comment in comments if fragment in comment["body"]), None)

    return wait_until(find, timeout=20, message=f"a comment with {fragment!r} on {issue_key}")


def transition_calls(jira_site, issue_key):
    """The POST calls that transitioned `issue_key` (platform and JSM APIs): (path, as_account_id, status)."""
    calls = jira_site.control("GET", "/_devsite/requests")
    return [(call["path"], call["as_account_id"], call["status"]) for call in calls
            if call["method"] == "POST" and f"/{issue_key}/transition" in call["path"]]


def events_of(app, conversation_id, prefix=""):
    """The chat events of the conversation whose type starts with `prefix`, in seq order."""
    with Session(app.extensions["database"].engine) as session:
        statement = (select(Message).where(Message.conversation_id == conversation_id, Message.kind == "event")
                     .order_by(Message.seq))
        return [event for event in session.execute(statement).scalars() if (event.event_type or "").startswith(prefix)]


def stored_solution(app, solution_id):
    with Session(app.extensions["database"].engine) as session:
        return session.get(ProposedSolution, solution_id)


def stored_survey(app, solution_id):
    with Session(app.extensions["database"].engine) as session:
        return session.execute(select(SatisfactionSurvey).where(SatisfactionSurvey.solution_id == solution_id)
                               ).scalar_one_or_none()
