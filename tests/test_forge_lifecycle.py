"""Forge installations: lifecycle events, the encrypted system token, pre-uninstall, the
scheduled trigger, the link to a Connect installation, and the routes' absence when Forge is off."""

from datetime import datetime, timezone

import jwt
import requests

from addon import create_app
from addon.atlassian.forge import tenants

from .conftest import addon_overrides
from .forge_support import call, forge_addon, mint, raw_installation  # noqa: F401
from .support import AddonServer, free_port


def _installation_id(minted):
    return minted["claims"]["app"]["installationId"]


def _stored(server, installation_id):
    with server.app.app_context():
        installation = tenants.get_forge_installation(installation_id)
        token = tenants.system_token_of(installation) if installation else None
    return installation, token


def test_installed_event_stores_installation(forge_addon, jira_site):
    minted = mint(jira_site, kind="trigger", license_active=True, app_version="2.1.0")

    response = call(forge_addon, "/forge/lifecycle", minted, json={"id": "fff8e466", "app": {"version": "2"}})

    assert response.status_code == 200, response.text
    row = raw_installation(forge_addon, _installation_id(minted))
    assert row["cloud_id"] == "devsite-cloud-0001"
    assert row["api_base_url"] == f"{jira_site.url}/ex/jira/devsite-cloud-0001"
    assert row["status"] == "installed"
    assert row["app_version"] == "2.1.0"
    assert bool(row["license_active"]) is True
    assert row["environment_type"] == "PRODUCTION"
    assert row["site_url"] is None  # trigger tokens carry no context.siteUrl


def test_system_token_encrypted_at_rest(forge_addon, jira_site):
    minted = mint(jira_site, kind="trigger")
    system_token = minted["headers"]["x-forge-oauth-system"]

    assert call(forge_addon, "/forge/lifecycle", minted, json={}).status_code == 200

    row = raw_installation(forge_addon, _installation_id(minted))
    assert system_token not in row["system_token_encrypted"]
    assert system_token.split(".")[1] not in row["system_token_encrypted"]
    installation, token = _stored(forge_addon, _installation_id(minted))
    assert token == system_token
    expected_expiry = datetime.fromtimestamp(jwt.decode(system_token, options={"verify_signature": False})["exp"],
                                             timezone.utc)
    assert installation.system_token_expires_at == expected_expiry


def test_every_call_refreshes_system_token(forge_addon, jira_site):
    first = mint(jira_site, kind="trigger")
    assert call(forge_addon, "/forge/lifecycle", first, json={}).status_code == 200
    first_seen = raw_installation(forge_addon, _installation_id(first))["last_seen_at"]
    later = mint(jira_site, kind="ui", principal="cust-alice")
    # Tokens minted in the same second share their exp; the newer one must still live longer.
    later["headers"]["x-forge-oauth-system"] = _token_expiring_later(first["headers"]["x-forge-oauth-system"])

    assert call(forge_addon, "/forge/ui/whoami", later).status_code == 200

    _, token = _stored(forge_addon, _installation_id(first))
    assert token == later["headers"]["x-forge-oauth-system"]
    row = raw_installation(forge_addon, _installation_id(first))
    assert row["site_url"] == jira_site.url
    assert row["last_seen_at"] >= first_seen


def test_older_system_token_does_not_replace_newer(forge_addon, jira_site):
    newer = mint(jira_site, kind="trigger")
    newer["headers"]["x-forge-oauth-system"] = _token_expiring_later(newer["headers"]["x-forge-oauth-system"])
    assert call(forge_addon, "/forge/lifecycle", newer, json={}).status_code == 200

    assert call(forge_addon, "/forge/scheduled", mint(jira_site, kind="trigger"), json={}).status_code == 200

    _, token = _stored(forge_addon, _installation_id(newer))
    assert token == newer["headers"]["x-forge-oauth-system"]


def _token_expiring_later(token):
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["exp"] += 600
    return jwt.encode(claims, "another-secret-for-an-opaque-token-0123", algorithm="HS256")


def test_opaque_system_token_gets_assumed_expiry(forge_addon, jira_site):
    minted = mint(jira_site, kind="trigger")
    minted["headers"]["x-forge-oauth-system"] = "opaque-token-without-claims"

    assert call(forge_addon, "/forge/lifecycle", minted, json={}).status_code == 200

    installation, token = _stored(forge_addon, _installation_id(minted))
    assert token == "opaque-token-without-claims"
    lifetime = installation.system_token_expires_at - installation.last_seen_at
    assert abs(lifetime - tenants.ASSUMED_SYSTEM_TOKEN_LIFETIME).total_seconds() < 60


def test_pre_uninstall_marks_uninstalled(forge_addon, jira_site):
    assert call(forge_addon, "/forge/lifecycle", mint(jira_site, kind="trigger"), json={}).status_code == 200
    minted = mint(jira_site, kind="trigger", module={"type": "core:endpoint", "key": "pre-uninstall-ep"})

    response = call(forge_addon, "/forge/pre-uninstall", minted, json={})

    assert response.status_code == 200, response.text
    row = raw_installation(forge_addon, _installation_id(minted))
    assert row["status"] == "uninstalled"
    assert row["uninstalled_at"] is not None


def test_ui_call_after_uninstall_refused(forge_addon, jira_site):
    assert call(forge_addon, "/forge/pre-uninstall", mint(jira_site, kind="trigger"), json={}).status_code == 200

    response = call(forge_addon, "/forge/ui/whoami", mint(jira_site, kind="ui", principal="cust-alice"))

    assert response.status_code == 403
    assert "uninstalled" in response.json()["error"]["message"]


def test_installed_event_reinstates_installation(forge_addon, jira_site):
    assert call(forge_addon, "/forge/pre-uninstall", mint(jira_site, kind="trigger"), json={}).status_code == 200

    minted = mint(jira_site, kind="trigger")
    assert call(forge_addon, "/forge/lifecycle", minted, json={}).status_code == 200

    row = raw_installation(forge_addon, _installation_id(minted))
    assert row["status"] == "installed"
    assert row["uninstalled_at"] is None


def test_scheduled_trigger_touches_installation(forge_addon, jira_site):
    minted = mint(jira_site, kind="trigger", module={"type": "core:endpoint", "key": "hourly-ep"},
                  installation_id="ari:cloud:ecosystem::installation/1d2c3b4a-0000-4000-8000-000000000001")

    response = call(forge_addon, "/forge/scheduled", minted, json={})

    assert response.status_code == 200, response.text
    row = raw_installation(forge_addon, "ari:cloud:ecosystem::installation/1d2c3b4a-0000-4000-8000-000000000001")
    assert row["status"] == "installed"
    assert row["system_token_encrypted"]


def test_several_installations_share_a_site(forge_addon, jira_site):
    old = "ari:cloud:ecosystem::installation/1d2c3b4a-0000-4000-8000-000000000002"
    new = "ari:cloud:ecosystem::installation/1d2c3b4a-0000-4000-8000-000000000003"
    for installation_id in (old, new):
        minted = mint(jira_site, kind="trigger", installation_id=installation_id)
        assert call(forge_addon, "/forge/lifecycle", minted, json={}).status_code == 200

    assert raw_installation(forge_addon, old)["cloud_id"] == raw_installation(forge_addon, new)["cloud_id"]


def test_links_connect_installation_of_same_site(forge_addon, jira_site):
    result = jira_site.control("POST", "/_devsite/apps/install",
                               json={"descriptor_url": f"{forge_addon.url}/atlassian-connect.json"})
    assert result["status"] in (200, 204), result
    minted = mint(jira_site, kind="ui", principal="agent-camille")

    assert call(forge_addon, "/forge/ui/whoami", minted).status_code == 200

    row = raw_installation(forge_addon, _installation_id(minted))
    with forge_addon.app.app_context():
        from addon.atlassian.installations import get_installation

        connect = get_installation(result["client_key"])
    assert row["connect_installation_id"] == connect.id


def test_routes_absent_when_forge_disabled(database_url, jira_site, tmp_path):
    port = free_port()
    server = AddonServer(create_app(addon_overrides(database_url, jira_site, port, tmp_path)), port)
    try:
        minted = mint(jira_site, kind="trigger")
        for path in ("/forge/lifecycle", "/forge/pre-uninstall", "/forge/scheduled", "/forge/ui/whoami"):
            response = requests.post(server.url + path, headers=minted["headers"], json={}, timeout=30)
            assert response.status_code == 404, path
        assert "forge_key_sets" not in server.app.extensions
    finally:
        server.stop()
