"""The add-on's Jira client against the local Jira site: signing, retries, errors, JSM methods."""

import dataclasses
import logging
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import jwt
import pytest
from flask import current_app

from addon import create_app
from addon.atlassian.installations import get_installation, shared_secret_of
from addon.atlassian.jira_auth import encode_app_token
from addon.atlassian.jira_client import JiraClient, JiraSettings, jira_client_for
from addon.atlassian.jira_errors import (
    JiraError,
    JiraNotFound,
    JiraTimeout,
    JiraUnavailable,
    scrub,
)
from addon.atlassian.qsh import qsh_of_url
from addon.atlassian.retry import RetryPolicy, is_retryable_status, parse_retry_after

from .conftest import addon_overrides
from .support import AddonServer, DevSite, free_port, wait_until

ADDON_KEY = "com.example.support-chat"
# Short delays keep retried tests fast; Retry-After from the site is still honoured as sent.
FAST_RETRIES = {"JIRA_RETRY_BASE_SECS": 0.05, "JIRA_RETRY_MAX_SECS": 0.2, "JIRA_MAX_RETRIES": 4}


@pytest.fixture
def fast_addon(database_url, jira_site, tmp_path):
    """The add-on with short retry delays, served on loopback against the local Jira site."""
    port = free_port()
    app = create_app(addon_overrides(database_url, jira_site, port, tmp_path, **FAST_RETRIES))
    server = AddonServer(app, port)
    yield server
    server.stop()


def install(site, server):
    result = site.control(
        "POST", "/_devsite/apps/install",
        json={"descriptor_url": f"{server.url}/atlassian-connect.json"},
    )
    assert result["status"] in (200, 204), result
    return result["client_key"]


@pytest.fixture
def jira(fast_addon, jira_site):
    """A Jira client of the add-on installed on the local site, inside the app context."""
    client_key = install(jira_site, fast_addon)
    with fast_addon.app.app_context():
        client = jira_client_for(get_installation(client_key))
        yield client
        client.close()


def calls(site, path, method=None):
    """The site's log entries of REST calls to `path` (below any base path), oldest first."""
    return [
        entry for entry in site.control("GET", "/_devsite/requests")
        if entry["path"].endswith(path) and (method is None or entry["method"] == method)
    ]


def statuses(site, path, method=None):
    return [entry["status"] for entry in calls(site, path, method)]


def set_fault(site, **fault):
    site.control("PUT", "/_devsite/faults", json=fault)


# Signing.


def test_signed_call_verified(jira, jira_site):
    jira.server_info()

    entries = calls(jira_site, "/rest/api/3/serverInfo")
    assert len(entries) == 1
    assert entries[0]["auth"] == "jwt"
    assert entries[0]["verified"] is True


def test_signed_call_repeated_param_verified(jira, jira_site):
    users = jira.get_users_bulk(["cust-bruno", "cust-alice"])

    assert {user["accountId"] for user in users} == {"cust-alice", "cust-bruno"}
    entries = calls(jira_site, "/rest/api/3/user/bulk")
    assert entries[-1]["query"].count("accountId=") == 2
    assert entries[-1]["verified"] is True


def test_signed_call_under_base_path(database_url, tmp_path):
    try:
        site = DevSite(base_path="/jira")
    except (AssertionError, RuntimeError) as error:
        pytest.skip(f"the local Jira site did not start with --base-path: {error}")
    server = None
    try:
        port = free_port()
        server = AddonServer(create_app(addon_overrides(database_url, site, port, tmp_path)), port)
        client_key = install(site, server)
        with server.app.app_context():
            installation = get_installation(client_key)
            assert installation.base_url.endswith("/jira")
            with jira_client_for(installation) as client:
                client.get_issue("SUP-1", fields=["summary"])

        entries = calls(site, "/rest/api/3/issue/SUP-1")
        assert entries[-1]["verified"] is True
    finally:
        if server is not None:
            server.stop()
        site.stop()


def test_app_token_claims():
    url = "https://acme.atlassian.net/rest/api/3/issue/SUP-1?fields=summary"
    token = encode_app_token("GET", url, addon_key=ADDON_KEY, shared_secret="s" * 32,
                             base_url="https://acme.atlassian.net", now=1_700_000_000)

    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, "s" * 32, algorithms=["HS256"], options={"verify_exp": False})
    assert header == {"alg": "HS256", "typ": "JWT"}
    assert claims["iss"] == ADDON_KEY
    assert claims["iat"] == 1_700_000_000
    assert claims["exp"] - claims["iat"] <= 180
    assert claims["qsh"] == qsh_of_url("GET", url, "https://acme.atlassian.net")


def test_generic_request_signed(jira, jira_site):
    info = jira.request("GET", "rest/api/3/serverInfo")

    assert info["baseUrl"] == jira.site
    assert calls(jira_site, "/rest/api/3/serverInfo")[-1]["verified"] is True


def test_session_user_agent_names_app(jira):
    assert ADDON_KEY in jira.session.headers["User-Agent"]


def test_get_body_dropped(jira):
    sent_bodies = []
    jira.session.hooks["response"].append(lambda response, **_: sent_bodies.append(response.request.body))

    jira.jira.get("rest/api/3/serverInfo", data={"unexpected": "body"})

    assert sent_bodies == [None]


# Retries.


def test_rate_limit_retry_after_honoured(jira, jira_site):
    set_fault(jira_site, method="GET", path="^/rest/api/3/issue/SUP-1$", mode="rate_limit",
              retry_after=1, times=1)

    issue = jira.get_issue("SUP-1", fields=["summary"])

    assert issue["key"] == "SUP-1"
    assert statuses(jira_site, "/rest/api/3/issue/SUP-1") == [429, 200]


def test_unavailable_503_retried(jira, jira_site):
    set_fault(jira_site, method="GET", path="^/rest/api/3/issue/SUP-1$", mode="error",
              status=503, retry_after=1, times=1)

    jira.get_issue("SUP-1", fields=["summary"])

    assert statuses(jira_site, "/rest/api/3/issue/SUP-1") == [503, 200]


def test_rate_limit_post_retried(jira, jira_site):
    path = "/rest/servicedeskapi/request/SUP-1/comment"
    set_fault(jira_site, method="POST", path=f"^{path}$", mode="rate_limit", retry_after=1, times=1)

    jira.add_request_comment("SUP-1", "Bonjour", public=True)

    assert statuses(jira_site, path, "POST") == [429, 201]


def test_server_error_get_retried(jira, jira_site):
    set_fault(jira_site, method="GET", path="^/rest/api/3/issue/SUP-1$", mode="error",
              status=500, times=2)

    jira.get_issue("SUP-1", fields=["summary"])

    assert statuses(jira_site, "/rest/api/3/issue/SUP-1") == [500, 500, 200]


def test_server_error_post_not_retried(jira, jira_site):
    path = "/rest/servicedeskapi/request/SUP-1/comment"
    set_fault(jira_site, method="POST", path=f"^{path}$", mode="error", status=500, times=1)

    with pytest.raises(JiraUnavailable) as raised:
        jira.add_request_comment("SUP-1", "Bonjour", public=True)

    assert raised.value.status == 500
    assert statuses(jira_site, path, "POST") == [500]


def test_server_error_idempotent_post_retried(jira, jira_site):
    path = "/rest/servicedeskapi/request/SUP-1/comment"
    set_fault(jira_site, method="POST", path=f"^{path}$", mode="error", status=500, times=1)

    jira.add_request_comment("SUP-1", "Bonjour", public=True, idempotent=True)

    assert statuses(jira_site, path, "POST") == [500, 201]


def test_retries_bounded(jira, jira_site):
    set_fault(jira_site, method="GET", path="^/rest/api/3/issue/SUP-1$", mode="error",
              status=502, times=0)

    with pytest.raises(JiraUnavailable) as raised:
        jira.get_issue("SUP-1", fields=["summary"])

    assert raised.value.attempts == FAST_RETRIES["JIRA_MAX_RETRIES"] + 1
    assert statuses(jira_site, "/rest/api/3/issue/SUP-1") == [502] * (FAST_RETRIES["JIRA_MAX_RETRIES"] + 1)


def test_drop_before_get_retried(jira, jira_site):
    set_fault(jira_site, method="GET", path="^/rest/api/3/issue/SUP-1$", mode="drop_before", times=1)

    issue = jira.get_issue("SUP-1", fields=["summary"])

    assert issue["key"] == "SUP-1"
    # The site logs a dropped request without a status.
    assert statuses(jira_site, "/rest/api/3/issue/SUP-1") == [None, 200]


def test_drop_after_post_not_retried(jira, jira_site):
    path = "/rest/servicedeskapi/request/SUP-1/comment"
    set_fault(jira_site, method="POST", path=f"^{path}$", mode="drop_after", times=1)

    with pytest.raises(JiraUnavailable):
        jira.add_request_comment("SUP-1", "Message unique", public=True)

    comments = jira_site.control("GET", "/_devsite/issues/SUP-1")["comments"]
    assert [comment["body"] for comment in comments].count("Message unique") == 1
    assert len(calls(jira_site, path, "POST")) == 1


def test_retry_logged_without_token(jira, jira_site, caplog):
    set_fault(jira_site, method="GET", path="^/rest/api/3/issue/SUP-1$", mode="rate_limit",
              retry_after=0, times=1)

    with caplog.at_level(logging.DEBUG):
        jira.get_issue("SUP-1", fields=["summary"])

    retries = [record for record in caplog.records
               if record.levelno == logging.INFO and record.getMessage().startswith("Retrying")]
    assert len(retries) == 1
    assert jira.site in retries[0].getMessage()
    assert "/rest/api/3/issue/SUP-1" in retries[0].getMessage()
    assert any("X-RateLimit-Remaining" in record.getMessage() for record in caplog.records)
    assert not any("eyJ" in record.getMessage() for record in caplog.records)


def test_latency_beyond_timeout_raises(jira, jira_site):
    set_fault(jira_site, method="GET", path="^/rest/api/3/issue/SUP-1$", mode="latency",
              latency_ms=1500, times=0)
    settings = dataclasses.replace(
        JiraSettings.from_app(current_app), timeout_secs=0.3,
        policy=RetryPolicy(max_retries=1, base_delay_secs=0.01, max_delay_secs=0.01),
    )
    client = JiraClient(jira.installation, shared_secret_of(jira.installation), settings)

    with pytest.raises(JiraTimeout) as raised:
        client.get_issue("SUP-1", fields=["summary"])
    client.close()

    assert raised.value.attempts == 2
    wait_until(lambda: len(calls(jira_site, "/rest/api/3/issue/SUP-1")) == 2,
               message="both timed-out attempts in the site's request log")


# Errors.


def test_not_found_names_site_and_url(jira):
    with pytest.raises(JiraNotFound) as raised:
        jira.get_issue("SUP-999")

    text = str(raised.value)
    assert raised.value.status == 404
    assert jira.site in text
    assert "/rest/api/3/issue/SUP-999" in text


def test_error_text_has_no_credentials(jira):
    secret = shared_secret_of(jira.installation)

    with pytest.raises(JiraError) as raised:
        jira.get_issue("SUP-999")

    text = str(raised.value)
    assert secret not in text
    assert "eyJ" not in text
    assert "JWT " not in text


def test_scrub_removes_tokens():
    token = encode_app_token("GET", "https://x/rest", addon_key=ADDON_KEY, shared_secret="s" * 32,
                             base_url="https://x")

    assert token not in scrub(f"rejected Authorization: JWT {token}")
    assert "abc.def" not in scrub("Bearer abc.def")


# Retry policy.


def test_policy_backoff_within_cap():
    policy = RetryPolicy(max_retries=4, base_delay_secs=5, max_delay_secs=30)

    delays = [policy.delay_secs(retry) for retry in range(1, 5)]

    assert 3.5 <= delays[0] <= 6.5
    assert 7.0 <= delays[1] <= 13.0
    assert all(delay <= 30 for delay in delays)


def test_policy_retry_after_capped():
    policy = RetryPolicy(max_retry_after_secs=60)

    assert policy.delay_secs(1, retry_after_secs=600) == 60
    assert policy.delay_secs(1, retry_after_secs=2) == 2


def test_retry_after_http_date():
    now = datetime(2026, 1, 5, 10, 0, 0, tzinfo=timezone.utc)

    assert parse_retry_after(format_datetime(now + timedelta(seconds=7), usegmt=True), now=now) == 7
    assert parse_retry_after("3") == 3
    assert parse_retry_after("soon") is None


def test_retryable_statuses():
    assert is_retryable_status(429, idempotent=False)
    assert is_retryable_status(503, idempotent=False)
    assert is_retryable_status(500, idempotent=True)
    assert not is_retryable_status(500, idempotent=False)
    assert not is_retryable_status(404, idempotent=True)


# Convenience methods.


def test_issue_property_roundtrip(jira):
    assert jira.get_issue_property("SUP-1", "supportchat") is None

    jira.set_issue_property("SUP-1", "supportchat", {"enabled": True, "state": "open"})

    assert jira.get_issue_property("SUP-1", "supportchat") == {"enabled": True, "state": "open"}


def test_issue_properties_in_get_issue(jira):
    jira.set_issue_property("SUP-1", "supportchat", {"enabled": True})

    issue = jira.get_issue("SUP-1", fields=["summary"], properties=["supportchat"])

    assert issue["properties"]["supportchat"] == {"enabled": True}


def test_comment_v3_with_property(jira):
    adf = {"type": "doc", "version": 1,
           "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Bonjour"}]}]}

    comment = jira.add_comment_v3("SUP-1", adf, properties={"supportchat.message": {"id": "m-1"}})

    assert jira.get_comment_property(comment["id"], "supportchat.message") == {"id": "m-1"}


def test_comment_property_roundtrip(jira):
    comment = jira.add_request_comment("SUP-1", "Note interne", public=False)

    assert jira.get_comment_property(comment["id"], "supportchat.message") is None
    jira.set_comment_property(comment["id"], "supportchat.message", {"id": "m-2"})
    assert jira.get_comment_property(comment["id"], "supportchat.message") == {"id": "m-2"}


def test_request_comments_page(jira):
    jira.add_request_comment("SUP-1", "Réponse publique", public=True)
    jira.add_request_comment("SUP-1", "Note interne", public=False)

    public_only = jira.get_request_comments("SUP-1", internal=False)
    everything = jira.get_request_comments("SUP-1")

    assert all(comment["public"] for comment in public_only["values"])
    assert any(not comment["public"] for comment in everything["values"])


def test_create_request(jira):
    created = jira.create_request("1", "10", "Chat avec Alice", "Question sur une facture",
                                  raise_on_behalf_of="cust-alice")

    assert created["issueKey"].startswith("SUP-")
    assert created["reporter"]["accountId"] == "cust-alice"


def test_transition_by_id(jira, jira_site):
    transitions = jira.get_transitions("SUP-1")
    progress = next(t for t in transitions if t["to"]["name"] == "In Progress")

    jira.transition("SUP-1", progress["id"])

    issue = jira_site.control("GET", "/_devsite/issues/SUP-1")
    assert issue["status"] == "In Progress"


def test_get_user(jira):
    user = jira.get_user("agent-camille")

    assert user["displayName"] == "Camille Martin"


def test_my_permissions(jira):
    permissions = jira.my_permissions("SUP", ["BROWSE_PROJECTS"])

    assert permissions == {"BROWSE_PROJECTS": True}


def test_check_permissions_customer(jira):
    project_id = jira.get_issue("SUP-1", fields=["project"])["fields"]["project"]["id"]

    granted = jira.check_permissions("cust-alice", project_id, ["ADD_COMMENTS", "ADMINISTER_PROJECTS"])

    assert granted["ADMINISTER_PROJECTS"] is False


def test_check_permissions_agent(jira):
    project_id = jira.get_issue("SUP-1", fields=["project"])["fields"]["project"]["id"]

    granted = jira.check_permissions("agent-camille", project_id, ["BROWSE_PROJECTS"])

    assert granted == {"BROWSE_PROJECTS": True}


def test_notify_accepted(jira, jira_site):
    jira.notify("SUP-1", "Chat sans réponse", "Texte", "<p>Texte</p>",
                {"users": [{"accountId": "agent-camille"}]})

    assert statuses(jira_site, "/rest/api/3/issue/SUP-1/notify") == [204]


def test_knowledge_base_search(jira):
    articles = jira.search_knowledge_base("facture", service_desk_id="1")

    assert any("facture" in article["title"].lower() for article in articles)


def test_organizations_and_members(jira):
    organizations = jira.get_organizations(service_desk_id="1")
    durand = next(org for org in organizations if org["name"] == "Fromagerie Durand")

    members = jira.get_organization_users(durand["id"])

    assert {member["accountId"] for member in members} == {"cust-alice", "cust-bruno"}
