"""REST calls from an app to the local Jira site: JWT verification as Jira does it, and a few
endpoints seen from agents, customers and the app."""

import time

import pytest
import requests

from .support import DevSite
from .test_devsite_appstub import APP_KEY, StubApp, installed_stub, stub_app  # noqa: F401 (fixtures)


def _last_log(jira_site):
    return jira_site.control("GET", "/_devsite/requests")[-1]


def test_rest_verified_call(installed_stub, jira_site):
    response = installed_stub.call(jira_site, "GET", "/rest/api/3/user/bulk?accountId=cust-bruno&accountId=agent-hugo")
    entry = _last_log(jira_site)
    assert response.status_code == 200
    assert [u["accountId"] for u in response.json()["values"]] == ["cust-bruno", "agent-hugo"]
    assert entry["verified"] is True
    assert entry["auth"] == "jwt"
    assert entry["as_account_id"] == f"addon-{APP_KEY}"


@pytest.mark.parametrize("case, reason", [
    ("wrong_qsh", "wrong_qsh"),
    ("expired", "expired"),
    ("unknown_issuer", "unknown_issuer"),
    ("bad_signature", "bad_signature"),
    ("context_qsh", "wrong_qsh"),
])
def test_rest_rejection(installed_stub, jira_site, case, reason):
    path = "/rest/api/3/myself"
    tokens = {
        "wrong_qsh": lambda: installed_stub.token("GET", "/rest/api/3/serverInfo"),
        "expired": lambda: installed_stub.token("GET", path, iat=int(time.time()) - 600, exp=int(time.time()) - 300),
        "unknown_issuer": lambda: installed_stub.token("GET", path, iss="com.example.other"),
        "bad_signature": lambda: installed_stub.token("GET", path, secret="not-the-shared-secret-" * 3),
        "context_qsh": lambda: installed_stub.token("GET", path, qsh="context-qsh"),
    }
    response = installed_stub.call(jira_site, "GET", path, token=tokens[case]())
    entry = _last_log(jira_site)
    assert response.status_code == 401
    assert response.json()["errorMessages"]
    assert entry["reason"] == reason
    assert entry["verified"] is False


def test_rest_rejects_uninstalled_app(installed_stub, jira_site):
    token = installed_stub.token("GET", "/rest/api/3/myself")
    jira_site.control("POST", f"/_devsite/apps/{APP_KEY}/uninstall")
    response = installed_stub.call(jira_site, "GET", "/rest/api/3/myself", token=token)
    assert response.status_code == 401
    assert _last_log(jira_site)["reason"] == "app_uninstalled"


def test_rest_jsm_error_shape(installed_stub, jira_site):
    response = installed_stub.call(jira_site, "GET", "/rest/servicedeskapi/request/SUP-99")
    assert response.status_code == 404
    assert "errorMessage" in response.json()


def test_rest_v3_comment_string_rejected(installed_stub, jira_site):
    response = installed_stub.call(jira_site, "POST", "/rest/api/3/issue/SUP-1/comment", json={"body": "texte"})
    assert response.status_code == 400
    assert response.json()["errorMessages"] == ["Comment body is not valid!"]


def test_rest_internal_comment_via_property(installed_stub, jira_site):
    body = {"body": "note interne", "properties": [{"key": "sd.public.comment", "value": {"internal": True}}]}
    response = installed_stub.call(jira_site, "POST", "/rest/api/2/issue/SUP-1/comment", json=body)
    issue = jira_site.control("GET", "/_devsite/issues/SUP-1")
    assert response.status_code == 201
    assert response.json()["jsdPublic"] is False
    assert issue["comments"][-1]["public"] is False


def test_rest_customer_sees_public_only(jira_site):
    jira_site.control("POST", "/_devsite/actions/comment", json={
        "issue_key": "SUP-1", "author_account_id": "agent-camille", "body": "interne", "public": False})
    jira_site.control("POST", "/_devsite/actions/comment", json={
        "issue_key": "SUP-1", "author_account_id": "agent-camille", "body": "publique", "public": True})
    response = requests.get(f"{jira_site.url}/rest/servicedeskapi/request/SUP-1/comment",
                            cookies={"devsite_user": "cust-bruno"}, timeout=10)
    assert [c["body"] for c in response.json()["values"]] == ["publique"]


def test_rest_customer_other_org_hidden(jira_site):
    response = requests.get(f"{jira_site.url}/rest/servicedeskapi/request/SUP-2",
                            cookies={"devsite_user": "cust-alice"}, timeout=10)
    assert response.status_code == 404


def test_rest_customer_raise_on_behalf_refused(jira_site):
    body = {"serviceDeskId": "1", "requestTypeId": "10", "raiseOnBehalfOf": "cust-bruno",
            "requestFieldValues": {"summary": "Chat"}}
    response = requests.post(f"{jira_site.url}/rest/servicedeskapi/request", json=body,
                             cookies={"devsite_user": "cust-alice"}, timeout=10)
    assert response.status_code == 403


def test_rest_resolve_requires_resolution(installed_stub, jira_site):
    response = installed_stub.call(jira_site, "POST", "/rest/api/3/issue/SUP-1/transitions",
                                   json={"transition": {"id": "41"}})
    assert response.status_code == 400
    assert jira_site.control("GET", "/_devsite/issues/SUP-1")["status"] == "Waiting for support"


def test_rest_jql_issue_property(installed_stub, jira_site):
    installed_stub.call(jira_site, "PUT", "/rest/api/3/issue/SUP-2/properties/supportchat", json={"state": "waiting"})
    response = installed_stub.call(jira_site, "POST", "/rest/api/3/search/jql",
                                   json={"jql": "issue.property[supportchat].state = waiting"})
    assert [i["key"] for i in response.json()["issues"]] == ["SUP-2"]


@pytest.fixture(scope="module")
def jira_site_under_jira():
    site = DevSite(base_path="/jira")
    yield site
    site.stop()


def test_rest_base_path_qsh(jira_site_under_jira):
    jira_site_under_jira.control("POST", "/_devsite/reset")
    stub = StubApp()
    try:
        jira_site_under_jira.control("POST", "/_devsite/apps/install", json={"descriptor_url": stub.descriptor_url})
        response = stub.call(jira_site_under_jira, "GET", "/rest/api/3/myself")
        assert response.status_code == 200
        assert stub.installed_payload["baseUrl"].endswith("/jira")
    finally:
        stub.stop()


def _attach_as_customer(jira_site, filename, data, content_type):
    """Attach a file to SUP-1 through JSM as the customer cust-alice, as the chat does."""
    customer = {"devsite_user": "cust-alice"}
    uploaded = requests.post(f"{jira_site.url}/rest/servicedeskapi/servicedesk/1/attachTemporaryFile",
                             files={"file": (filename, data, content_type)},
                             headers={"X-Atlassian-Token": "no-check"}, cookies=customer, timeout=10)
    assert uploaded.status_code == 201, uploaded.text
    temporary_id = uploaded.json()["temporaryAttachments"][0]["temporaryAttachmentId"]
    attached = requests.post(f"{jira_site.url}/rest/servicedeskapi/request/SUP-1/attachment",
                             json={"temporaryAttachmentIds": [temporary_id], "public": True},
                             cookies=customer, timeout=10)
    assert attached.status_code == 201, attached.text


def test_rest_issue_lists_jsm_attachments(jira_site):
    agent = {"devsite_user": "agent-camille"}
    _attach_as_customer(jira_site, "facture.pdf", b"%PDF-1.4 facture", "application/pdf")

    issue = requests.get(f"{jira_site.url}/rest/api/3/issue/SUP-1?fields=attachment", cookies=agent, timeout=10)
    assert issue.status_code == 200, issue.text
    [attachment] = issue.json()["fields"]["attachment"]
    assert attachment["filename"] == "facture.pdf"
    assert attachment["author"]["accountId"] == "cust-alice"
    assert attachment["size"] == len(b"%PDF-1.4 facture")
    assert attachment["mimeType"] == "application/pdf"
    assert attachment["id"].isdigit()
    assert attachment["created"]
    assert attachment["content"] == f"{jira_site.url}/rest/api/3/attachment/content/{attachment['id']}"
    assert "thumbnail" not in attachment

    metadata = requests.get(attachment["self"], cookies=agent, timeout=10)
    assert metadata.status_code == 200, metadata.text
    assert metadata.json() == attachment
    content = requests.get(attachment["content"], cookies=agent, timeout=10)
    assert content.content == b"%PDF-1.4 facture"

    page = requests.get(f"{jira_site.url}/browse/SUP-1", cookies=agent, timeout=10)
    assert page.status_code == 200
    assert f'id="attachment-{attachment["id"]}"' in page.text
    assert f'href="/rest/api/3/attachment/content/{attachment["id"]}">facture.pdf</a>' in page.text


def test_rest_attachment_metadata_hidden_from_customer(jira_site):
    _attach_as_customer(jira_site, "ecran.png", b"\x89PNG\r\n\x1a\n", "image/png")
    agent_view = requests.get(f"{jira_site.url}/rest/api/3/issue/SUP-1?fields=attachment",
                              cookies={"devsite_user": "agent-camille"}, timeout=10)
    [attachment] = agent_view.json()["fields"]["attachment"]
    assert attachment["thumbnail"].endswith(f"/rest/api/3/attachment/thumbnail/{attachment['id']}")

    response = requests.get(attachment["self"], cookies={"devsite_user": "cust-alice"}, timeout=10)

    assert response.status_code == 404
