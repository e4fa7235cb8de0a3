"""The key user's answers to a proposed solution, tried from each status of the local site's
workflow, and the workflow details the add-on must not assume: transition ids, the resolution
screen, and whether Jira lets the add-on act as the customer."""

import pytest

from addon.atlassian.installations import get_installation
from addon.chat.models import SolutionOutcome, SolutionState
from addon.settings import set_setting

from .solution_support import (
    CUSTOMER,
    chat_with_proposal,
    comment_with,
    issue_of,
    move_to,
    persists,
    transition_calls,
    validate,
)
from .wsclient import chat_site, serve_chat_site  # noqa: F401  (fixture)

APP = "app"

# status the request is in -> (outcome, status afterwards, who made the transition)
VALIDATE_FROM = {
    "Waiting for support": (SolutionOutcome.RESOLVED, "Resolved", APP),
    "In Progress": (SolutionOutcome.RESOLVED, "Resolved", APP),
    "Waiting for customer": (SolutionOutcome.RESOLVED, "Resolved", APP),
    "Pending": (SolutionOutcome.RESOLVED, "Resolved", APP),
    "Resolved": (SolutionOutcome.ALREADY_RESOLVED, "Resolved", None),
    "Canceled": (SolutionOutcome.CLOSED, "Canceled", None),
    "Closed": (SolutionOutcome.CLOSED, "Closed", None),
}
# The reopen transitions (Respond to support, Reopen) are offered to portal customers, so the
# add-on makes them as the key user.
PERSISTS_FROM = {
    "Waiting for support": (SolutionOutcome.KEPT_OPEN, "Waiting for support", None),
    "In Progress": (SolutionOutcome.KEPT_OPEN, "In Progress", None),
    "Waiting for customer": (SolutionOutcome.REOPENED, "Waiting for support", "customer"),
    "Pending": (SolutionOutcome.KEPT_OPEN, "Pending", None),
    "Resolved": (SolutionOutcome.REOPENED, "Waiting for support", "customer"),
    "Canceled": (SolutionOutcome.NEW_REQUEST, "Canceled", None),
    "Closed": (SolutionOutcome.NEW_REQUEST, "Closed", None),
}


def test_tables_cover_every_status(jira_site):
    statuses = [status["name"] for status in jira_site.control("GET", "/_devsite/workflow")["statuses"]]
    assert sorted(VALIDATE_FROM) == sorted(statuses)
    assert sorted(PERSISTS_FROM) == sorted(statuses)


def settings_of(site, **values):
    with site.server.app.app_context():
        installation_id = get_installation(site.client_key).id
        for key, value in values.items():
            set_setting(installation_id, key, value)


@pytest.mark.parametrize("status", list(VALIDATE_FROM))
def test_validate_from_status(chat_site, jira_site, status):
    outcome, status_after, actor = VALIDATE_FROM[status]
    conversation, solution = chat_with_proposal(chat_site)
    move_to(jira_site, conversation["issue_key"], status)
    resolution_before = issue_of(jira_site, conversation["issue_key"])["resolution"]

    response = validate(chat_site, conversation["id"], solution["id"])

    assert response.status_code == 200, response.text
    answered = response.json()["solution"]
    assert answered["state"] == SolutionState.VALIDATED
    assert answered["outcome"] == outcome
    assert (answered["status_before"], answered["status_after"]) == (status, status_after)
    assert answered["transitioned_by"] == actor
    request = issue_of(jira_site, conversation["issue_key"])
    assert request["status"] == status_after
    if outcome == SolutionOutcome.RESOLVED:
        assert request["resolution"] == "Done"
    else:
        assert request["resolution"] == resolution_before
    assert answered["satisfaction"]["asked_to"] == CUSTOMER
    comment_with(jira_site, conversation["issue_key"], "a validé dans la discussion")


@pytest.mark.parametrize("status", list(PERSISTS_FROM))
def test_persists_from_status(chat_site, jira_site, status):
    outcome, status_after, actor = PERSISTS_FROM[status]
    conversation, solution = chat_with_proposal(chat_site)
    move_to(jira_site, conversation["issue_key"], status)

    response = persists(chat_site, conversation["id"], solution["id"])

    assert response.status_code == 200, response.text
    answered = response.json()["solution"]
    assert answered["state"] == SolutionState.PERSISTS
    assert answered["outcome"] == outcome
    assert (answered["status_before"], answered["status_after"]) == (status, status_after)
    assert answered["transitioned_by"] == actor
    assert issue_of(jira_site, conversation["issue_key"])["status"] == status_after
    if outcome == SolutionOutcome.NEW_REQUEST:
        assert answered["portal_url"].endswith("/servicedesk/customer/portal/1")
    else:
        assert answered["portal_url"] is None
    assert comment_with(jira_site, conversation["issue_key"], "À traiter")["public"] is False


def test_transition_found_by_target(chat_site, jira_site):
    jira_site.control("POST", "/_devsite/workflow/transition-ids", json={"41": "941", "81": "41", "61": "861"})
    conversation, solution = chat_with_proposal(chat_site)

    answered = validate(chat_site, conversation["id"], solution["id"]).json()["solution"]

    # Transition 41 now cancels the request: a fixed id would have canceled it.
    assert answered["outcome"] == SolutionOutcome.RESOLVED
    assert issue_of(jira_site, conversation["issue_key"])["status"] == "Resolved"
    successful = [call for call in transition_calls(jira_site, conversation["issue_key"]) if call[2] == 204]
    assert len(successful) == 1


def test_reopen_found_by_target(chat_site, jira_site):
    jira_site.control("POST", "/_devsite/workflow/transition-ids", json={"61": "51", "51": "61"})
    conversation, solution = chat_with_proposal(chat_site)
    move_to(jira_site, conversation["issue_key"], "Resolved")

    answered = persists(chat_site, conversation["id"], solution["id"]).json()["solution"]

    assert answered["outcome"] == SolutionOutcome.REOPENED
    assert issue_of(jira_site, conversation["issue_key"])["status"] == "Waiting for support"


@pytest.mark.parametrize(("setting", "expected"), [("Won't Do", "Won't Do"), ("cannot reproduce", "Cannot Reproduce"),
                                                   ("Inconnue", "Done"), (None, "Done")])
def test_required_resolution_filled(chat_site, jira_site, setting, expected):
    settings_of(chat_site, solution_resolution=setting)
    conversation, solution = chat_with_proposal(chat_site)

    validate(chat_site, conversation["id"], solution["id"])

    assert issue_of(jira_site, conversation["issue_key"])["resolution"] == expected


def test_solution_status_setting(chat_site, jira_site):
    settings_of(chat_site, solution_status="Canceled")
    conversation, solution = chat_with_proposal(chat_site)

    answered = validate(chat_site, conversation["id"], solution["id"]).json()["solution"]

    assert answered["status_after"] == "Canceled"
    request = issue_of(jira_site, conversation["issue_key"])
    assert (request["status"], request["resolution"]) == ("Canceled", "Won't Do")


def test_no_transition_to_target(chat_site, jira_site):
    settings_of(chat_site, solution_status="Closed")
    conversation, solution = chat_with_proposal(chat_site)

    answered = validate(chat_site, conversation["id"], solution["id"]).json()["solution"]

    assert answered["state"] == SolutionState.VALIDATED
    assert answered["outcome"] == SolutionOutcome.NO_TRANSITION
    assert issue_of(jira_site, conversation["issue_key"])["status"] == "Waiting for support"
    note = comment_with(jira_site, conversation["issue_key"], "Résolvez-la dans Jira")
    assert note["public"] is False


def test_reopen_as_app_when_refused(chat_site, jira_site):
    jira_site.control("PUT", "/_devsite/switches", json={"impersonate_customers": False})
    conversation, solution = chat_with_proposal(chat_site)
    move_to(jira_site, conversation["issue_key"], "Waiting for customer")

    answered = persists(chat_site, conversation["id"], solution["id"]).json()["solution"]

    assert (answered["outcome"], answered["transitioned_by"]) == (SolutionOutcome.REOPENED, APP)
    comment = comment_with(jira_site, conversation["issue_key"], "malgré la solution")
    assert "l'application l'a faite en son nom" in comment["body"]


@pytest.fixture
def site_without_retries(database_url, jira_site, tmp_path):
    """The add-on whose calls to Jira fail at the first error, so that a Jira outage shows at once."""
    yield from serve_chat_site(database_url, jira_site, tmp_path, JIRA_MAX_RETRIES=0)


def test_jira_down_changes_nothing(site_without_retries, jira_site):
    site = site_without_retries
    conversation, solution = chat_with_proposal(site)
    jira_site.control("PUT", "/_devsite/faults", json=[{
        "method": "GET", "path": f"^/rest/api/3/issue/{conversation['issue_key']}$", "mode": "error",
        "status": 503, "times": 0}])

    response = validate(site, conversation["id"], solution["id"])

    jira_site.control("DELETE", "/_devsite/faults")
    assert response.status_code == 503
    assert "réessayez" in response.json()["error"]["message"]
    assert issue_of(jira_site, conversation["issue_key"])["status"] == "Waiting for support"
    # Nothing was recorded, so the key user may answer again.
    assert persists(site, conversation["id"], solution["id"]).status_code == 200
