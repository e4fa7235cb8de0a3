"""Forge Invocation Token verification: forged tokens, replays, the key cache and the config."""

import logging

import pytest

from addon.config import ConfigError, load_config
from addon.logs import redact_tokens

from .forge_support import APP_ID, OTHER_APP_ID, call, forge_addon, jwks_fetches, mint, snapshot  # noqa: F401

WHOAMI = "/forge/ui/whoami"

# Each forged token, the status it gets (401 when the token fails, 403 when we refuse it) and
# a part of the error message naming the failed check.
FORGED = [
    ("wrong_key", 401, "signature does not match"),
    ("unknown_kid", 401, "is not in the Forge key set"),
    ("wrong_aud", 401, "aud"),
    ("wrong_iss", 401, "iss 'forge-sim'"),
    ("expired", 401, "expired"),
    ("not_yet_valid", 401, "not valid before"),
    ("alg_none", 401, "algorithm 'none'"),
    ("hs256_public_key", 401, "algorithm 'HS256'"),
    ("missing_jti", 401, "jti"),
    ("bad_ic_label", 401, "icLabel"),
    ("disallowed_api_base", 403, "apiBaseUrl host"),
]


def _ui(jira_site, **body):
    body.setdefault("principal", "cust-alice")
    body.setdefault("extension", {"type": "jiraServiceManagement:portalRequestDetail",
                                  "request": {"key": "SUP-1", "typeId": "10"}})
    return mint(jira_site, kind="ui", **body)


@pytest.mark.parametrize("forgery,status,reason", FORGED)
def test_forged_ui_token_rejected(forge_addon, jira_site, forgery, status, reason):
    before = snapshot(forge_addon)

    response = call(forge_addon, WHOAMI, _ui(jira_site, forgery=forgery), json={})

    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == ("forge_token_invalid" if status == 401 else "forge_refused")
    assert reason in response.json()["error"]["message"]
    assert snapshot(forge_addon) == before


@pytest.mark.parametrize("forgery,status,reason", FORGED)
def test_forged_trigger_token_rejected(forge_addon, jira_site, forgery, status, reason):
    before = snapshot(forge_addon)

    response = call(forge_addon, "/forge/lifecycle", mint(jira_site, kind="trigger", forgery=forgery), json={})

    assert response.status_code == status, response.text
    assert reason in response.json()["error"]["message"]
    assert snapshot(forge_addon) == before


def test_missing_token_rejected(forge_addon, jira_site):
    before = snapshot(forge_addon)

    response = call(forge_addon, WHOAMI, None, method="GET", headers={"Accept": "text/html"})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "forge_token_invalid"
    assert snapshot(forge_addon) == before


def test_token_for_other_app_rejected(forge_addon, jira_site):
    # Correctly signed by the site, for another app: aud and app.id name that app.
    minted = mint(jira_site, kind="ui", app_id=OTHER_APP_ID)
    before = snapshot(forge_addon)

    response = call(forge_addon, WHOAMI, minted)

    assert response.status_code == 401
    assert "aud" in response.json()["error"]["message"]
    assert snapshot(forge_addon) == before


@pytest.mark.parametrize("body", [
    {"cloudId": "another-cloud"},
    {"context": {"cloudId": "another-cloud"}},
    {"installationId": "ari:cloud:ecosystem::installation/00000000-0000-0000-0000-000000000000"},
    {"siteUrl": "https://another.atlassian.net"},
    {"accountId": "cust-chloe"},
    {"context": {"principal": "agent-hugo"}},
    {"requestKey": "SUP-2"},
])
def test_body_claiming_other_tenant_or_user_refused(forge_addon, jira_site, body):
    before = snapshot(forge_addon)

    response = call(forge_addon, WHOAMI, _ui(jira_site), json=body)

    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "forge_refused"
    assert snapshot(forge_addon) == before


def test_body_naming_the_same_identity_accepted(forge_addon, jira_site):
    body = {"accountId": "cust-alice", "requestKey": "SUP-1", "context": {"cloudId": "devsite-cloud-0001"}}

    response = call(forge_addon, WHOAMI, _ui(jira_site), json=body)

    assert response.status_code == 200, response.text


def test_good_token_returns_identity_from_token(forge_addon, jira_site):
    minted = _ui(jira_site)

    response = call(forge_addon, WHOAMI, minted, json={"note": "no identity here"})

    assert response.status_code == 200, response.text
    identity = response.json()
    assert identity["installationId"] == minted["claims"]["app"]["installationId"]
    assert identity["cloudId"] == "devsite-cloud-0001"
    assert identity["siteUrl"] == jira_site.url
    assert identity["accountId"] == "cust-alice"
    assert identity["requestKey"] == "SUP-1"
    assert identity["module"] == {"type": "jiraServiceManagement:portalRequestDetail", "key": "chat-request"}
    assert identity["appId"] == APP_ID


def test_replayed_token_rejected(forge_addon, jira_site):
    minted = _ui(jira_site)
    assert call(forge_addon, WHOAMI, minted).status_code == 200
    before = snapshot(forge_addon)

    response = call(forge_addon, WHOAMI, minted)

    assert response.status_code == 401
    assert "already used" in response.json()["error"]["message"]
    assert snapshot(forge_addon) == before


def test_ui_token_refused_on_trigger_route(forge_addon, jira_site):
    before = snapshot(forge_addon)

    response = call(forge_addon, "/forge/lifecycle", _ui(jira_site), json={})

    assert response.status_code == 403
    assert snapshot(forge_addon) == before


def test_trigger_token_refused_on_ui_route(forge_addon, jira_site):
    before = snapshot(forge_addon)

    response = call(forge_addon, WHOAMI, mint(jira_site, kind="trigger"))

    assert response.status_code == 403
    assert snapshot(forge_addon) == before


def test_key_set_fetched_once_and_cached(forge_addon, jira_site):
    start = jwks_fetches(jira_site)

    for _ in range(3):
        assert call(forge_addon, WHOAMI, _ui(jira_site)).status_code == 200

    assert jwks_fetches(jira_site) == start + 1


def test_rotated_key_causes_one_refetch(forge_addon, jira_site):
    assert call(forge_addon, WHOAMI, _ui(jira_site)).status_code == 200
    start = jwks_fetches(jira_site)
    jira_site.control("POST", "/_devsite/forge/rotate-key")

    first = call(forge_addon, WHOAMI, _ui(jira_site))
    second = call(forge_addon, WHOAMI, _ui(jira_site))

    assert first.status_code == 200, first.text
    assert second.status_code == 200, second.text
    assert jwks_fetches(jira_site) == start + 1


def test_unknown_kids_refetch_at_most_once(forge_addon, jira_site):
    assert call(forge_addon, WHOAMI, _ui(jira_site)).status_code == 200
    start = jwks_fetches(jira_site)

    for _ in range(3):
        assert call(forge_addon, WHOAMI, _ui(jira_site, forgery="unknown_kid")).status_code == 401

    assert jwks_fetches(jira_site) == start + 1


def test_unknown_kid_refetch_allowed_after_cooldown(forge_addon, jira_site):
    from addon.atlassian.forge.keys import UNKNOWN_KID_REFETCH_COOLDOWN_SECS

    key_sets = forge_addon.app.extensions["forge_key_sets"]
    now = [1000.0]
    key_sets.clock = lambda: now[0]
    assert call(forge_addon, WHOAMI, _ui(jira_site, forgery="unknown_kid")).status_code == 401
    assert call(forge_addon, WHOAMI, _ui(jira_site, forgery="unknown_kid")).status_code == 401
    start = jwks_fetches(jira_site)

    now[0] += UNKNOWN_KID_REFETCH_COOLDOWN_SECS + 1
    assert call(forge_addon, WHOAMI, _ui(jira_site, forgery="unknown_kid")).status_code == 401

    assert jwks_fetches(jira_site) == start + 1


def test_unreachable_key_set_gives_503(forge_addon, jira_site):
    forge_addon.app.config["FORGE_JWKS_URL"] = f"{jira_site.url}/forge/no-such-jwks.json"
    before = snapshot(forge_addon)

    response = call(forge_addon, WHOAMI, _ui(jira_site))

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "forge_keys_unavailable"
    assert "HTTP 404" in response.json()["error"]["message"]
    assert snapshot(forge_addon) == before


def test_isolated_cloud_label_without_template_rejected(forge_addon, jira_site):
    response = call(forge_addon, WHOAMI, _ui(jira_site, ic_label="orange"))

    assert response.status_code == 401
    assert "FORGE_IC_JWKS_URL_TEMPLATE" in response.json()["error"]["message"]


def test_isolated_cloud_label_uses_template(forge_addon, jira_site):
    forge_addon.app.config["FORGE_IC_JWKS_URL_TEMPLATE"] = f"{jira_site.url}/forge/jwks.json?ic={{IC_LABEL}}"

    response = call(forge_addon, WHOAMI, _ui(jira_site, ic_label="orange"))

    assert response.status_code == 200, response.text


def test_logs_never_contain_tokens(forge_addon, jira_site, caplog):
    good = _ui(jira_site)
    forged = _ui(jira_site, forgery="wrong_key")
    trigger = mint(jira_site, kind="trigger")
    secrets = [good["token"], good["headers"]["x-forge-oauth-system"], good["headers"]["x-forge-oauth-user"],
               forged["token"], trigger["token"], trigger["headers"]["x-forge-oauth-system"]]

    with caplog.at_level(logging.DEBUG):
        assert call(forge_addon, WHOAMI, good).status_code == 200
        assert call(forge_addon, WHOAMI, good).status_code == 401
        assert call(forge_addon, WHOAMI, forged).status_code == 401
        assert call(forge_addon, "/forge/lifecycle", trigger, json={}).status_code == 200
        logging.getLogger("addon.atlassian.forge.fit").info("Authorization: Bearer %s", good["token"])

    for secret in secrets:
        assert secret not in caplog.text
        assert secret.split(".")[2] not in caplog.text


def test_redaction_covers_bearer_and_bare_tokens():
    text = "Authorization: Bearer abc.def-ghi x-forge-oauth-system eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl"

    redacted = redact_tokens(text)

    assert redacted == "Authorization: Bearer [redacted] x-forge-oauth-system [redacted]"


PRODUCTION = {"ADDON_ENV": "production", "ADDON_BASE_URL": "https://chat.example.com",
              "ADDON_SECRET_KEY": "production-secret-key-0123456789"}


def test_forge_disabled_by_default(monkeypatch):
    monkeypatch.delenv("FORGE_ENABLED", raising=False)
    config = load_config(PRODUCTION)
    assert config["FORGE_ENABLED"] is False
    assert config["FORGE_JWKS_URL"] == "https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json"
    assert config["FORGE_API_BASE_ALLOWED"] == ["https://api.atlassian.com"]


def test_forge_enabled_requires_app_id():
    with pytest.raises(ConfigError, match="FORGE_APP_ID is missing"):
        load_config(dict(PRODUCTION, FORGE_ENABLED="true"))


def test_forge_app_id_must_be_an_ari():
    with pytest.raises(ConfigError, match="FORGE_APP_ID='my-app'"):
        load_config(dict(PRODUCTION, FORGE_ENABLED="true", FORGE_APP_ID="my-app"))


@pytest.mark.parametrize("value", ["http://api.example.com", "https://api.atlassian.com/ex/jira"])
def test_forge_api_base_allowed_checked(value):
    with pytest.raises(ConfigError, match="FORGE_API_BASE_ALLOWED"):
        load_config(dict(PRODUCTION, FORGE_API_BASE_ALLOWED=value))
