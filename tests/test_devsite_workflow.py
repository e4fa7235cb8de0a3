"""The local site's request workflow: JSM's service request workflow, seen through the platform
REST API (agents), the JSM customer API (portal customers) and the control API."""

import pytest
import requests

AGENT = "agent-camille"
CUSTOMER = "cust-alice"
OPEN_STATUSES = ["Waiting for support", "In Progress", "Waiting for customer", "Pending"]
# status -> the targets of the transitions that leave it, in the order Jira lists them
TARGETS_FROM = {
    "Waiting for support": ["In Progress", "Waiting for customer", "Pending", "Resolved", "Canceled"],
    "In Progress": ["Waiting for customer", "Pending", "Resolved", "Canceled"],
    "Waiting for customer": ["In Progress", "Waiting for support", "Resolved", "Canceled"],
    "Pending": ["In Progress", "Waiting for customer", "Resolved", "Canceled"],
    "Resolved": ["Waiting for support", "Closed"],
    "Canceled": [],
    "Closed": [],
}
# The transitions that bring SUP-1 (Waiting for support) to each status.
PATHS = {
    "Waiting for support": [],
    "In Progress": [("In Progress", None)],
    "Waiting for customer": [("Waiting for customer", None)],
    "Pending": [("Pending", None)],
    "Resolved": [("Resolved", "Done")],
    "Canceled": [("Canceled", None)],
    "Closed": [("Resolved", "Done"), ("Closed", None)],
}


def rest(jira_site, method, path, account_id=AGENT, **kwargs):
    return requests.request(method, jira_site.url + path, cookies={"devsite_user": account_id}, timeout=10,
                            **kwargs)


def move(jira_site, status, issue_key="SUP-1"):
    for target, resolution in PATHS[status]:
        jira_site.control("POST", "/_devsite/actions/transition", json={
            "issue_key": issue_key, "actor_account_id": AGENT, "to_status": target, "resolution": resolution})


def transitions(jira_site, issue_key="SUP-1", account_id=AGENT, expand=False):
    params = {"expand": "transitions.fields"} if expand else {}
    response = rest(jira_site, "GET", f"/rest/api/3/issue/{issue_key}/transitions", account_id, params=params)
    assert response.status_code == 200, response.text
    return response.json()["transitions"]


def status_of(jira_site, issue_key="SUP-1"):
    issue = jira_site.control("GET", f"/_devsite/issues/{issue_key}")
    return issue["status"], issue["resolution"]


def test_workflow_statuses(jira_site):
    workflow = jira_site.control("GET", "/_devsite/workflow")
    categories = {status["name"]: status["category"] for status in workflow["statuses"]}
    assert categories == {"Waiting for support": "new", "In Progress": "indeterminate",
                          "Waiting for customer": "indeterminate", "Pending": "indeterminate",
                          "Resolved": "done", "Canceled": "done", "Closed": "done"}


def test_new_request_waits_for_support(jira_site):
    created = jira_site.control("POST", "/_devsite/actions/request", json={
        "reporter_account_id": CUSTOMER, "summary": "Imprimante", "organizations": ["1"]})
    assert created["status"] == "Waiting for support"
    assert status_of(jira_site, "SUP-1") == ("Waiting for support", None)


@pytest.mark.parametrize("status", list(TARGETS_FROM))
def test_transitions_from_status(jira_site, status):
    move(jira_site, status)

    offered = transitions(jira_site)

    assert [t["to"]["name"] for t in offered] == TARGETS_FROM[status]


@pytest.mark.parametrize("status", ["Closed", "Canceled"])
def test_final_status_has_no_way_out(jira_site, status):
    move(jira_site, status)

    response = requests.post(jira_site.url + "/_devsite/actions/transition", timeout=10, json={
        "issue_key": "SUP-1", "actor_account_id": AGENT, "to_status": "Waiting for support"})
    customer = rest(jira_site, "GET", "/rest/servicedeskapi/request/SUP-1/transition", CUSTOMER)

    assert response.status_code == 400
    assert "final status" in response.json()["error"]
    assert customer.json()["values"] == []


def test_resolve_screen_requires_resolution(jira_site):
    [resolve] = [t for t in transitions(jira_site, expand=True) if t["to"]["name"] == "Resolved"]

    assert resolve["hasScreen"] is True
    assert resolve["fields"]["resolution"]["required"] is True
    assert [v["name"] for v in resolve["fields"]["resolution"]["allowedValues"]] == [
        "Done", "Won't Do", "Duplicate", "Cannot Reproduce"]
    refused = rest(jira_site, "POST", "/rest/api/3/issue/SUP-1/transitions", json={"transition": {"id": resolve["id"]}})
    assert refused.status_code == 400
    assert status_of(jira_site) == ("Waiting for support", None)
    done = rest(jira_site, "POST", "/rest/api/3/issue/SUP-1/transitions",
                json={"transition": {"id": resolve["id"]}, "fields": {"resolution": {"name": "Duplicate"}}})
    assert done.status_code == 204
    assert status_of(jira_site) == ("Resolved", "Duplicate")


def test_cancel_sets_and_reopen_clears_resolution(jira_site):
    move(jira_site, "Canceled", "SUP-2")
    move(jira_site, "Resolved")
    [reopen] = [t for t in transitions(jira_site) if t["to"]["name"] == "Waiting for support"]

    response = rest(jira_site, "POST", "/rest/api/3/issue/SUP-1/transitions", json={"transition": {"id": reopen["id"]}})

    assert response.status_code == 204
    assert status_of(jira_site, "SUP-2") == ("Canceled", "Won't Do")
    assert status_of(jira_site) == ("Waiting for support", None)


def test_close_keeps_resolution(jira_site):
    move(jira_site, "Closed")
    assert status_of(jira_site) == ("Closed", "Done")


@pytest.mark.parametrize(("status", "names"), [
    ("Waiting for support", ["Resolve this issue"]),
    ("Waiting for customer", ["Respond to support", "Resolve this issue"]),
    ("Resolved", ["Reopen"]),
    ("Closed", []),
])
def test_customer_transitions(jira_site, status, names):
    move(jira_site, status)

    response = rest(jira_site, "GET", "/rest/servicedeskapi/request/SUP-1/transition", CUSTOMER)

    assert [value["name"] for value in response.json()["values"]] == names


def test_customer_cannot_use_platform_transitions(jira_site):
    [resolve] = [t for t in transitions(jira_site) if t["to"]["name"] == "Resolved"]

    response = rest(jira_site, "POST", "/rest/api/3/issue/SUP-1/transitions", CUSTOMER,
                    json={"transition": {"id": resolve["id"]}, "fields": {"resolution": {"name": "Done"}}})

    assert response.status_code in (403, 404)
    assert status_of(jira_site) == ("Waiting for support", None)


def test_renumbered_transition_ids(jira_site):
    jira_site.control("POST", "/_devsite/workflow/transition-ids", json={"41": "941", "81": "41"})

    by_target = {t["to"]["name"]: t["id"] for t in transitions(jira_site)}
    response = rest(jira_site, "POST", "/rest/api/3/issue/SUP-1/transitions", json={"transition": {"id": "41"}})

    assert by_target["Resolved"] == "941"
    assert by_target["Canceled"] == "41"
    assert response.status_code == 204
    assert status_of(jira_site) == ("Canceled", "Won't Do")


@pytest.mark.parametrize(("body", "fragment"), [({"999": "1"}, "do not exist"), ({"41": "81"}, "used twice")])
def test_renumber_rejects_bad_ids(jira_site, body, fragment):
    response = requests.post(jira_site.url + "/_devsite/workflow/transition-ids", json=body, timeout=10)

    assert response.status_code == 400
    assert fragment in response.json()["error"]


def test_reset_restores_workflow(jira_site):
    jira_site.control("POST", "/_devsite/workflow/transition-ids", json={"41": "941"})
    jira_site.control("POST", "/_devsite/reset")

    assert "41" in [t["id"] for t in transitions(jira_site)]
