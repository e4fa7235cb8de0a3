"""POST /rest/api/3/issue/{issueIdOrKey}/notify on the local Jira site, as Atlassian documents it:
recipients, restrictions, the 400 cases, the WRITE scope and Browse Projects, and the record that
GET /_devsite/notifications returns."""

import pytest
import requests

from .test_devsite_appstub import APP_KEY, StubApp, installed_stub, stub_app  # noqa: F401 (fixtures)

NOTIFY = "/rest/api/3/issue/SUP-1/notify"
APP_ACCOUNT_ID = f"addon-{APP_KEY}"


def notify(app, jira_site, to, path=NOTIFY, **fields):
    body = {"subject": "Délai dépassé", "textBody": "Texte", "htmlBody": "<p>Texte</p>", "to": to}
    body.update(fields)
    return app.call(jira_site, "POST", path, json=body)


def recorded(jira_site):
    return jira_site.control("GET", "/_devsite/notifications")


def test_notify_users_recorded(installed_stub, jira_site):
    response = notify(installed_stub, jira_site, {"users": [{"accountId": "agent-hugo"}]})

    assert response.status_code == 204
    [entry] = recorded(jira_site)
    assert entry["issue_key"] == "SUP-1"
    assert entry["by"] == APP_ACCOUNT_ID
    assert entry["recipients"] == ["agent-hugo"]
    assert entry["subject"] == "Délai dépassé"
    assert entry["htmlBody"] == "<p>Texte</p>"


def test_notify_v2_path(installed_stub, jira_site):
    response = notify(installed_stub, jira_site, {"users": [{"accountId": "agent-hugo"}]},
                      path="/rest/api/2/issue/SUP-1/notify")

    assert response.status_code == 204
    assert len(recorded(jira_site)) == 1


def test_notify_default_subject(installed_stub, jira_site):
    notify(installed_stub, jira_site, {"users": [{"accountId": "agent-hugo"}]}, subject=None)

    assert recorded(jira_site)[0]["subject"] == "SUP-1: Facture bloquée à la validation"


@pytest.mark.parametrize("group", [{"name": "support-production"}, {"groupId": "group-support-production"}])
def test_notify_group_members(installed_stub, jira_site, group):
    response = notify(installed_stub, jira_site, {"groups": [group]})

    assert response.status_code == 204
    assert recorded(jira_site)[0]["recipients"] == ["agent-camille"]


def test_notify_reporter(installed_stub, jira_site):
    notify(installed_stub, jira_site, {"reporter": True})

    assert recorded(jira_site)[0]["recipients"] == ["cust-alice"]


def test_notify_restrict_groups(installed_stub, jira_site):
    notify(installed_stub, jira_site, {"groups": [{"name": "jira-servicedesk-users"}]},
           restrict={"groups": [{"name": "support-finance"}]})

    assert recorded(jira_site)[0]["recipients"] == ["agent-hugo"]


def test_notify_restrict_permissions(installed_stub, jira_site):
    notify(installed_stub, jira_site, {"reporter": True, "users": [{"accountId": "agent-camille"}]},
           restrict={"permissions": [{"key": "BROWSE"}]})

    assert recorded(jira_site)[0]["recipients"] == ["agent-camille"]


@pytest.mark.parametrize(("to", "fragment"), [
    ({}, "No recipients were defined for notification."),
    ({"assignee": True}, "unassigned"),
    ({"groups": [{"name": "no-such-group"}]}, "'no-such-group'"),
    ({"users": [{"accountId": "nobody"}]}, "'nobody'"),
    ({"users": [{"accountId": APP_ACCOUNT_ID}]}, "same as the calling user"),
    ({"reporter": "yes"}, "to.reporter"),
])
def test_notify_bad_recipients(installed_stub, jira_site, to, fragment):
    response = notify(installed_stub, jira_site, to)

    assert response.status_code == 400
    assert response.json()["errors"] == {}
    [message] = response.json()["errorMessages"]
    assert fragment in message
    assert recorded(jira_site) == []


def test_notify_needs_a_body(installed_stub, jira_site):
    response = installed_stub.call(jira_site, "POST", NOTIFY, json={"to": {"reporter": True}})

    assert response.status_code == 400
    assert "textBody or an htmlBody" in response.json()["errorMessages"][0]


def test_notify_unknown_issue(installed_stub, jira_site):
    response = notify(installed_stub, jira_site, {"reporter": True}, path="/rest/api/3/issue/SUP-99/notify")

    assert response.status_code == 404


def test_notify_customer_cannot_see(jira_site):
    # Portal customers hold no Browse Projects permission, so the issue does not exist for them.
    response = requests.post(f"{jira_site.url}{NOTIFY}", json={"textBody": "x", "to": {"reporter": True}},
                             cookies={"devsite_user": "cust-alice"}, timeout=10)

    assert response.status_code == 404


def test_notify_needs_write_scope(jira_site):
    app = StubApp()
    app.descriptor["scopes"] = ["READ"]
    try:
        jira_site.control("POST", "/_devsite/apps/install", json={"descriptor_url": app.descriptor_url})
        response = notify(app, jira_site, {"users": [{"accountId": "agent-hugo"}]})
    finally:
        app.stop()

    assert response.status_code == 403
    assert "WRITE scope" in response.json()["errorMessages"][0]
    assert recorded(jira_site) == []


def test_notify_agent_session(jira_site):
    # A person logged in to the site calls with their own permissions and no app scope applies.
    response = requests.post(f"{jira_site.url}{NOTIFY}",
                             json={"textBody": "x", "to": {"users": [{"accountId": "agent-hugo"}]}},
                             cookies={"devsite_user": "agent-camille"}, timeout=10)

    assert response.status_code == 204
    assert recorded(jira_site)[0]["by"] == "agent-camille"
