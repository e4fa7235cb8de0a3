"""Webhooks from the local Jira site, fault injection and the impersonation token endpoint."""

import json
import time

import jwt
import pytest
import requests
from atlassian_jwt.url_utils import hash_url

from .support import wait_until
from .test_devsite_appstub import APP_KEY, installed_stub, stub_app  # noqa: F401 (fixtures)

TOKEN_AUDIENCE = "https://oauth-2-authorization-server.services.atlassian.com"


def _comment(jira_site, body="Bonjour", public=True, author="agent-camille"):
    return jira_site.control("POST", "/_devsite/actions/comment", json={
        "issue_key": "SUP-1", "author_account_id": author, "body": body, "public": public})


# -- webhooks ------------------------------------------------------------------------------

def test_webhook_comment_payload(installed_stub, jira_site):
    comment = _comment(jira_site, public=False)
    call = wait_until(lambda: installed_stub.received("/webhooks/comment-created"), message="comment_created")[0]
    payload = json.loads(call["body"])
    assert payload["webhookEvent"] == "comment_created"
    assert payload["comment"]["id"] == comment["id"]
    assert payload["comment"]["body"] == "Bonjour"
    assert payload["comment"]["jsdPublic"] is False
    assert payload["issue"]["key"] == "SUP-1"
    assert call["query"] == "issue=SUP-1"


def test_webhook_signed_hs256(installed_stub, jira_site):
    _comment(jira_site)
    call = wait_until(lambda: installed_stub.received("/webhooks/comment-created"), message="comment_created")[0]
    token = call["headers"]["Authorization"].removeprefix("JWT ")
    claims = jwt.decode(token, installed_stub.shared_secret, algorithms=["HS256"])
    assert claims["iss"] == installed_stub.installed_payload["clientKey"]
    assert claims["qsh"] == hash_url("POST", "/webhooks/comment-created?issue=SUP-1")


def test_webhook_issue_commented(installed_stub, jira_site):
    jira_site.control("PUT", "/_devsite/switches", json={"webhook_comment_body": "adf"})
    installed_stub.call(jira_site, "PUT", "/rest/api/3/issue/SUP-1/properties/supportchat", json={"enabled": True})
    _comment(jira_site)
    call = wait_until(lambda: installed_stub.received("/webhooks/issue-updated"), message="issue_updated")[0]
    payload = json.loads(call["body"])
    assert payload["issue_event_type_name"] == "issue_commented"
    assert payload["comment"]["body"]["type"] == "doc"
    assert payload["issue"]["properties"] == [{"key": "supportchat", "value": {"enabled": True}}]


def test_webhook_transition_changelog(installed_stub, jira_site):
    jira_site.control("POST", "/_devsite/actions/transition", json={
        "issue_key": "SUP-1", "actor_account_id": "agent-hugo", "to_status": "In Progress"})
    call = wait_until(lambda: installed_stub.received("/webhooks/issue-updated"), message="issue_updated")[0]
    items = json.loads(call["body"])["changelog"]["items"]
    assert items[0]["field"] == "status"
    assert items[0]["toString"] == "In Progress"


def test_webhook_retry_header_on_5xx(installed_stub, jira_site, monkeypatch):
    installed_stub.webhook_statuses = [503, 500]
    _comment(jira_site)
    calls = wait_until(lambda: len(installed_stub.received("/webhooks/comment-created")) >= 3 and
                       installed_stub.received("/webhooks/comment-created"), message="three attempts")
    headers = [c["headers"].get("X-Atlassian-Webhook-Retry") for c in calls]
    log = wait_until(lambda: [e for e in jira_site.control("GET", "/_devsite/webhooks")
                              if e["event"] == "comment_created" and e["status"] == 204], message="logged")
    assert headers == [None, "1", "2"]
    assert log[0]["attempt"] == 3


def test_webhook_app_user_comment_fires(installed_stub, jira_site):
    installed_stub.call(jira_site, "POST", "/rest/servicedeskapi/request/SUP-1/comment",
                        json={"body": "Depuis l'app", "public": True})
    call = wait_until(lambda: installed_stub.received("/webhooks/comment-created"), message="comment_created")[0]
    assert json.loads(call["body"])["comment"]["author"]["accountId"] == f"addon-{APP_KEY}"


# -- faults --------------------------------------------------------------------------------

def _fault(jira_site, **rule):
    jira_site.control("PUT", "/_devsite/faults", json=dict({"method": "POST", "path": "/comment$"}, **rule))


def _post_comment(stub, jira_site):
    return stub.call(jira_site, "POST", "/rest/servicedeskapi/request/SUP-1/comment",
                     json={"body": "Un message", "public": True})


def _comment_count(jira_site):
    return len(jira_site.control("GET", "/_devsite/issues/SUP-1")["comments"])


def test_fault_error(installed_stub, jira_site):
    _fault(jira_site, mode="error", status=502)
    response = _post_comment(installed_stub, jira_site)
    assert response.status_code == 502
    assert _comment_count(jira_site) == 0


def test_fault_rate_limit(installed_stub, jira_site):
    _fault(jira_site, mode="rate_limit", retry_after=7)
    response = _post_comment(installed_stub, jira_site)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert _comment_count(jira_site) == 0


def test_fault_latency(installed_stub, jira_site):
    _fault(jira_site, mode="latency", latency_ms=50)
    response = _post_comment(installed_stub, jira_site)
    assert response.status_code == 201
    assert jira_site.control("GET", "/_devsite/faults") == []


def test_fault_drop_before(installed_stub, jira_site):
    _fault(jira_site, mode="drop_before")
    with pytest.raises(requests.ConnectionError):
        _post_comment(installed_stub, jira_site)
    assert _comment_count(jira_site) == 0


def test_fault_drop_after(installed_stub, jira_site):
    _fault(jira_site, mode="drop_after")
    with pytest.raises(requests.ConnectionError):
        _post_comment(installed_stub, jira_site)
    assert _comment_count(jira_site) == 1


def test_fault_times_counts_down(installed_stub, jira_site):
    _fault(jira_site, mode="error", status=500, times=2)
    statuses = [_post_comment(installed_stub, jira_site).status_code for _ in range(3)]
    assert statuses == [500, 500, 201]


# -- impersonation -------------------------------------------------------------------------

def _assertion(stub, jira_site, account_id, **overrides):
    issued_at = int(time.time())
    claims = {"iss": f"urn:atlassian:connect:clientid:{stub.installed_payload['oauthClientId']}",
              "sub": f"urn:atlassian:connect:useraccountid:{account_id}",
              "tnt": jira_site.url, "aud": TOKEN_AUDIENCE, "iat": issued_at, "exp": issued_at + 60}
    claims.update(overrides)
    return jwt.encode(claims, stub.shared_secret, algorithm="HS256")


def _token(jira_site, assertion):
    return requests.post(f"{jira_site.url}/oauth2/token", timeout=10, data={
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion})


def test_impersonation_acts_as_user(installed_stub, jira_site):
    response = _token(jira_site, _assertion(installed_stub, jira_site, "cust-alice"))
    access_token = response.json()["access_token"]
    myself = requests.get(f"{jira_site.url}/rest/api/3/myself", timeout=10,
                          headers={"Authorization": f"Bearer {access_token}"})
    assert response.json()["token_type"] == "Bearer"
    assert myself.json()["accountId"] == "cust-alice"
    assert _last_request(jira_site)["auth"] == "bearer"


def _last_request(jira_site):
    return jira_site.control("GET", "/_devsite/requests")[-1]


def test_impersonation_customer_refused(installed_stub, jira_site):
    jira_site.control("PUT", "/_devsite/switches", json={"impersonate_customers": False})
    response = _token(jira_site, _assertion(installed_stub, jira_site, "cust-alice"))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert "customer" in response.json()["error_description"]


def test_impersonation_agent_allowed_when_customers_refused(installed_stub, jira_site):
    jira_site.control("PUT", "/_devsite/switches", json={"impersonate_customers": False})
    response = _token(jira_site, _assertion(installed_stub, jira_site, "agent-hugo"))
    assert response.status_code == 200


def test_impersonation_long_assertion_refused(installed_stub, jira_site):
    assertion = _assertion(installed_stub, jira_site, "agent-hugo", exp=int(time.time()) + 600)
    response = _token(jira_site, assertion)
    assert response.json()["error"] == "invalid_grant"
