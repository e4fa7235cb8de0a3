"""Acting as a user through the OAuth 2.0 JWT-bearer grant of the local Jira site."""

import jwt
import pytest

from addon.atlassian.impersonation import OAUTH_AUDIENCE, TokenCache, encode_assertion
from addon.atlassian.installations import shared_secret_of
from addon.atlassian.jira_errors import ImpersonationRefused

# Fixtures shared with the client tests; importing them registers them in this module.
from .test_jira_client import calls, fast_addon, jira, set_fault  # noqa: F401

TOKEN_PATH = "/oauth2/token"


def token_requests(site):
    return [entry for entry in site.control("GET", "/_devsite/requests") if entry["path"].endswith(TOKEN_PATH)]


def test_impersonation_token_cached(jira, jira_site):
    camille = jira.as_user("agent-camille")

    camille.get_issue("SUP-1", fields=["summary"])
    camille.get_issue("SUP-1", fields=["summary"])

    assert len(token_requests(jira_site)) == 1


def test_impersonation_cache_shared_by_clients(jira, jira_site):
    jira.as_user("agent-camille").server_info()
    jira.as_user("agent-camille").server_info()

    assert len(token_requests(jira_site)) == 1


def test_impersonation_acts_as_user(jira, jira_site):
    jira.as_user("agent-hugo").get_issue("SUP-1", fields=["summary"])

    entry = calls(jira_site, "/rest/api/3/issue/SUP-1")[-1]
    assert entry["auth"] == "bearer"
    assert entry["as_account_id"] == "agent-hugo"
    assert entry["verified"] is True


def test_impersonation_token_per_user(jira, jira_site):
    jira.as_user("agent-camille").server_info()
    jira.as_user("agent-hugo").server_info()

    assert len(token_requests(jira_site)) == 2


def test_impersonation_customer_refused(jira, jira_site):
    jira_site.control("PUT", "/_devsite/switches", json={"impersonate_customers": False})

    with pytest.raises(ImpersonationRefused) as raised:
        jira.as_user("cust-alice").get_issue("SUP-1", fields=["summary"])

    text = str(raised.value)
    assert raised.value.status in (400, 401, 403)
    assert "cust-alice" in text
    assert jira.site in text


def test_impersonation_customer_allowed(jira, jira_site):
    jira_site.control("PUT", "/_devsite/switches", json={"impersonate_customers": True})

    jira.as_user("cust-alice").get_request_comments("SUP-1")

    entry = calls(jira_site, "/rest/servicedeskapi/request/SUP-1/comment")[-1]
    assert entry["as_account_id"] == "cust-alice"


def test_impersonation_401_renews_token(jira, jira_site):
    camille = jira.as_user("agent-camille")
    camille.server_info()
    set_fault(jira_site, method="GET", path="^/rest/api/3/issue/SUP-1$", mode="error",
              status=401, times=1)

    camille.get_issue("SUP-1", fields=["summary"])

    assert [entry["status"] for entry in calls(jira_site, "/rest/api/3/issue/SUP-1")] == [401, 200]
    assert len(token_requests(jira_site)) == 2


def test_impersonation_error_has_no_credentials(jira, jira_site):
    jira_site.control("PUT", "/_devsite/switches", json={"impersonate_customers": False})

    with pytest.raises(ImpersonationRefused) as raised:
        jira.as_user("cust-bruno").server_info()

    text = str(raised.value)
    assert shared_secret_of(jira.installation) not in text
    assert "eyJ" not in text


def test_assertion_claims():
    assertion = encode_assertion(oauth_client_id="client-1", account_id="agent-camille",
                                 base_url="https://acme.atlassian.net", shared_secret="s" * 32,
                                 now=1_700_000_000)

    claims = jwt.decode(assertion, "s" * 32, algorithms=["HS256"], audience=OAUTH_AUDIENCE,
                        options={"verify_exp": False})
    assert claims["iss"] == "urn:atlassian:connect:clientid:client-1"
    assert claims["sub"] == "urn:atlassian:connect:useraccountid:agent-camille"
    assert claims["tnt"] == "https://acme.atlassian.net"
    assert claims["exp"] - claims["iat"] == 60


def test_token_cache_expiry():
    cache = TokenCache()

    cache.put(("site", "user", ("READ",)), "token-a", lifetime_secs=900)
    cache.put(("site", "other", ("READ",)), "token-b", lifetime_secs=0)

    assert cache.get(("site", "user", ("READ",))) == "token-a"
    assert cache.get(("site", "other", ("READ",))) is None
