"""The local site's small JQL: issue property clauses with comparison operators, and the aliases that
an app's jiraEntityProperties module declares, compared by the extraction's type."""

import pytest
import requests

from .test_devsite_appstub import StubApp

INDEX_MODULE = {
    "key": "stub-index",
    "name": {"value": "Stub index"},
    "entityType": "issue",
    "keyConfigurations": [{
        "propertyKey": "stub.sla",
        "extractions": [
            {"objectName": "breached", "type": "string", "alias": "stubBreached"},
            {"objectName": "deadline", "type": "date", "alias": "stubDeadline"},
            {"objectName": "minutes", "type": "number", "alias": "stubMinutes"},
        ],
    }],
}


@pytest.fixture
def indexing_app(jira_site):
    app = StubApp()
    app.descriptor["modules"]["jiraEntityProperties"] = [INDEX_MODULE]
    jira_site.control("POST", "/_devsite/apps/install", json={"descriptor_url": app.descriptor_url})
    yield app
    app.stop()


def set_property(app, jira_site, key, value):
    response = app.call(jira_site, "PUT", f"/rest/api/3/issue/{key}/properties/stub.sla", json=value)
    assert response.status_code in (200, 201), response.text


def search(app, jira_site, jql):
    response = app.call(jira_site, "POST", "/rest/api/3/search/jql", json={"jql": jql})
    assert response.status_code == 200, response.text
    return [issue["key"] for issue in response.json()["issues"]]


@pytest.fixture
def two_issues(indexing_app, jira_site):
    set_property(indexing_app, jira_site, "SUP-1",
                 {"breached": True, "deadline": "2026-09-07T11:00:00+02:00", "minutes": 120})
    set_property(indexing_app, jira_site, "SUP-2",
                 {"breached": False, "deadline": "2026-09-08T11:00:00+02:00", "minutes": 480})
    return indexing_app


@pytest.mark.parametrize(("jql", "keys"), [
    ("stubBreached = true", ["SUP-1"]),
    ("stubBreached != true", ["SUP-2"]),
    ('stubDeadline < "2026-09-08"', ["SUP-1"]),
    ('stubDeadline >= "2026-09-07 09:00"', ["SUP-1", "SUP-2"]),
    ("stubDeadline < now()", ["SUP-1", "SUP-2"]),
    ("stubMinutes > 200", ["SUP-2"]),
    ("stubMinutes <= 120 and stubBreached = true", ["SUP-1"]),
    ("issue.property[stub.sla].minutes >= 480", ["SUP-2"]),
    ("issue.property[stub.sla].breached = true", ["SUP-1"]),
])
def test_jql_indexed_aliases(two_issues, jira_site, jql, keys):
    assert search(two_issues, jira_site, jql) == keys


def test_jql_unknown_alias_rejected(indexing_app, jira_site):
    response = indexing_app.call(jira_site, "POST", "/rest/api/3/search/jql", json={"jql": "noSuchAlias = 1"})

    assert response.status_code == 400
    assert "noSuchAlias" in response.json()["errorMessages"][0]


def test_jql_alias_of_disabled_app(two_issues, jira_site):
    # The local site reads aliases from installed, enabled apps only.
    jira_site.control("POST", "/_devsite/apps/com.example.devsite-stub/disable")

    response = requests.post(f"{jira_site.url}/rest/api/3/search/jql", json={"jql": "stubBreached = true"},
                             cookies={"devsite_user": "agent-camille"}, timeout=10)

    assert response.status_code == 400
