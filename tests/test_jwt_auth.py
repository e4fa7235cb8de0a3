"""The HS256 ladder of addon.atlassian.auth, over real HTTP to the add-on on loopback.

The probe routes of tests/probe.py give one route per qsh kind. Every rejection has its own case,
which checks the 401 and the sentence naming the failed check.
"""

import logging
import time

import jwt
import pytest
import requests

from addon.atlassian import installations

from .keyserver import rsa_key
from .probe import ProbeAddons
from .signing import CLIENT_KEY, SHARED_SECRET, context_token, hs256_token


@pytest.fixture
def start_addon(database_url, tmp_path):
    addons = ProbeAddons(database_url, tmp_path)
    yield addons.start
    addons.stop_all()


@pytest.fixture
def addon(start_addon):
    return start_addon()


def get_page(addon, token, query="", path="/probe/page", **kwargs):
    url = f"{addon.url}{path}?{query}&jwt={token}" if query else f"{addon.url}{path}?jwt={token}"
    return requests.get(url, timeout=10, **kwargs)


def with_header(addon, token, path="/probe/page", method="GET", **kwargs):
    headers = {"Authorization": f"JWT {token}"}
    return requests.request(method, addon.url + path, headers=headers, timeout=10, **kwargs)


def message_of(response):
    return response.json()["error"]["message"]


# Accepted tokens

def test_page_token_in_query(addon):
    token = hs256_token("GET", "/probe/page", "lic=none&xdm_e=http%3A%2F%2F127.0.0.1")
    response = get_page(addon, token, query="lic=none&xdm_e=http%3A%2F%2F127.0.0.1")
    assert response.status_code == 200
    assert response.json()["client_key"] == CLIENT_KEY
    assert response.json()["installation"] == CLIENT_KEY


def test_page_account_id_from_sub(addon):
    response = get_page(addon, hs256_token("GET", "/probe/page"))
    assert response.json()["account_id"] == "agent-camille"


def test_page_account_id_from_context(addon):
    token = hs256_token("GET", "/probe/page", context={"user": {"accountId": "cust-alice"}})
    assert get_page(addon, token).json()["account_id"] == "cust-alice"


def test_page_anonymous_has_no_account(addon):
    response = get_page(addon, hs256_token("GET", "/probe/page", drop=("sub",)))
    assert response.status_code == 200
    assert response.json()["account_id"] is None


def test_page_token_in_header(addon):
    response = with_header(addon, hs256_token("GET", "/probe/page"))
    assert response.status_code == 200


def test_page_token_in_form(addon):
    response = requests.post(addon.url + "/probe/page", data={"jwt": hs256_token("POST", "/probe/page")},
                             timeout=10)
    assert response.status_code == 200


def test_page_repeated_and_encoded_params(addon):
    query = "ids=2&ids=1&name=caf%C3%A9+cr%C3%A8me&empty=&star=a*b"
    response = get_page(addon, hs256_token("GET", "/probe/page", query), query=query)
    assert response.status_code == 200


def test_page_exp_within_leeway(addon):
    token = hs256_token("GET", "/probe/page", exp=int(time.time()) - 10)
    assert get_page(addon, token).status_code == 200


def test_context_token_on_api(addon):
    response = with_header(addon, context_token(), path="/probe/api", method="POST")
    assert response.status_code == 200
    assert response.json()["account_id"] == "agent-camille"


def test_authenticate_explicit_token(addon):
    response = requests.get(addon.url + "/probe/socket", headers={"X-Test-Token": context_token()}, timeout=10)
    assert response.status_code == 200


# Rejections: one case per rung

def assert_rejected(response, words):
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert words in message_of(response)


def test_reject_no_token(addon):
    assert_rejected(requests.get(addon.url + "/probe/page", timeout=10), "No JWT found")


def test_reject_explicit_empty_token(addon):
    response = requests.get(addon.url + "/probe/socket", timeout=10)
    assert_rejected(response, "JWT is empty")


def test_reject_token_twice_query(addon):
    token = hs256_token("GET", "/probe/page")
    response = requests.get(f"{addon.url}/probe/page?jwt={token}&jwt={token}", timeout=10)
    assert_rejected(response, "more than one JWT")


def test_reject_token_query_and_header(addon):
    token = hs256_token("GET", "/probe/page")
    response = get_page(addon, token, headers={"Authorization": f"JWT {token}"})
    assert_rejected(response, "more than one JWT")


def test_reject_token_query_and_form(addon):
    token = hs256_token("POST", "/probe/page")
    response = requests.post(f"{addon.url}/probe/page?jwt={token}", data={"jwt": token}, timeout=10)
    assert_rejected(response, "more than one JWT")


def test_reject_malformed_token(addon):
    assert_rejected(get_page(addon, "not.a.jwt"), "malformed")


def test_reject_alg_none(addon):
    claims = jwt.decode(hs256_token("GET", "/probe/page"), options={"verify_signature": False})
    token = jwt.encode(claims, None, algorithm="none")
    assert_rejected(get_page(addon, token), "algorithm 'none'")


def test_reject_alg_rs256(addon):
    claims = jwt.decode(hs256_token("GET", "/probe/page"), options={"verify_signature": False})
    token = jwt.encode(claims, rsa_key("attacker"), algorithm="RS256")
    assert_rejected(get_page(addon, token), "algorithm 'RS256'")


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_reject_alg_other_hmac(addon, algorithm):
    token = hs256_token("GET", "/probe/page", algorithm=algorithm, secret=SHARED_SECRET * 2)
    assert_rejected(get_page(addon, token), f"algorithm '{algorithm}'")


def test_reject_missing_iss(addon):
    assert_rejected(get_page(addon, hs256_token("GET", "/probe/page", drop=("iss",))), "missing the iss claim")


def test_reject_unknown_iss(addon):
    token = hs256_token("GET", "/probe/page", client_key="jira:unknown-site")
    assert_rejected(get_page(addon, token), "No active installation")


def test_reject_uninstalled_site(addon):
    with addon.app.app_context():
        installations.mark_uninstalled(CLIENT_KEY, 2**40)
    assert_rejected(get_page(addon, hs256_token("GET", "/probe/page")), "No active installation")


def test_reject_bad_signature(addon):
    token = hs256_token("GET", "/probe/page", secret="another-secret-0123456789abcdef-0002")
    response = get_page(addon, token)
    assert_rejected(response, "signature does not match")
    assert "Signature verification failed" not in response.text


def test_reject_missing_exp(addon):
    assert_rejected(get_page(addon, hs256_token("GET", "/probe/page", drop=("exp",))), "exp claim is missing")


def test_reject_expired(addon):
    token = hs256_token("GET", "/probe/page", exp=int(time.time()) - 120)
    assert_rejected(get_page(addon, token), "expired")


def test_reject_iat_in_future(addon):
    token = hs256_token("GET", "/probe/page", iat=int(time.time()) + 600)
    assert_rejected(get_page(addon, token), "iat claim is in the future")


def test_reject_missing_qsh(addon):
    assert_rejected(get_page(addon, hs256_token("GET", "/probe/page", drop=("qsh",))), "qsh claim is missing")


def test_reject_qsh_other_path(addon):
    token = hs256_token("GET", "/probe/other")
    assert_rejected(get_page(addon, token), "qsh claim does not match")


def test_reject_qsh_tampered_query(addon):
    token = hs256_token("GET", "/probe/page", "issueKey=SUP-1")
    assert_rejected(get_page(addon, token, query="issueKey=SUP-2"), "qsh claim does not match")


def test_reject_qsh_other_method(addon):
    token = hs256_token("GET", "/probe/page")
    assert_rejected(with_header(addon, token, method="POST"), "qsh claim does not match")


def test_reject_context_qsh_on_page(addon):
    assert_rejected(get_page(addon, context_token()), "context token")


def test_reject_computed_qsh_on_api(addon):
    token = hs256_token("GET", "/probe/api")
    assert_rejected(with_header(addon, token, path="/probe/api"), "not 'context-qsh'")


def test_qsh_mismatch_logged_at_debug(addon, caplog):
    caplog.set_level(logging.DEBUG, logger="addon.atlassian.auth")
    get_page(addon, hs256_token("GET", "/probe/other"))
    mismatch = [record.getMessage() for record in caplog.records if "qsh mismatch" in record.getMessage()]
    assert len(mismatch) == 1
    assert "GET&/probe/page&" in mismatch[0]


def test_reject_html_page(addon):
    response = requests.get(addon.url + "/probe/page", headers={"Accept": "text/html"}, timeout=10)
    assert response.status_code == 401
    assert "No JWT found" in response.text


# Path prefix and reverse proxy

def test_prefix_mount_accepts_relative_qsh(start_addon):
    addon = start_addon(base_path="/chat", mount=True)
    response = get_page(addon, hs256_token("GET", "/probe/page", base_path="/chat"))
    assert response.status_code == 200


def test_prefix_mount_rejects_absolute_qsh(start_addon):
    addon = start_addon(base_path="/chat", mount=True)
    # A qsh over the full path (base path not stripped) is not what Jira signs.
    token = hs256_token("GET", "/chat/probe/page")
    assert_rejected(get_page(addon, token), "qsh claim does not match")


def test_proxy_prefix_accepts_relative_qsh(start_addon):
    addon = start_addon(base_path="/chat", ADDON_TRUSTED_PROXIES=1)
    # The proxy stripped /chat from the path and announced it in X-Forwarded-Prefix.
    token = hs256_token("GET", "/probe/page", "a=1", base_path="/chat")
    response = requests.get(f"{addon.root}/probe/page?a=1&jwt={token}",
                            headers={"X-Forwarded-Prefix": "/chat"}, timeout=10)
    assert response.status_code == 200


def test_proxy_prefix_rejects_other_path(start_addon):
    addon = start_addon(base_path="/chat", ADDON_TRUSTED_PROXIES=1)
    token = hs256_token("GET", "/probe/other", base_path="/chat")
    response = requests.get(f"{addon.root}/probe/page?jwt={token}",
                            headers={"X-Forwarded-Prefix": "/chat"}, timeout=10)
    assert response.status_code == 401


def test_without_raw_uri_uses_script_name(start_addon):
    # Servers that give no RAW_URI: the path is rebuilt from SCRIPT_NAME and PATH_INFO.
    addon = start_addon(base_path="/chat", ADDON_TRUSTED_PROXIES=1)
    token = hs256_token("GET", "/probe/page", base_path="/chat")
    client = addon.app.test_client()
    response = client.get(f"/probe/page?jwt={token}", headers={"X-Forwarded-Prefix": "/chat"},
                          environ_overrides={"RAW_URI": None, "REQUEST_URI": None})
    assert response.status_code == 200
