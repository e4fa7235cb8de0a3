"""The lifecycle callbacks over real HTTP: signed installs checked against a key server of our own.

Every rejected callback is checked twice: the 401 (or 400) and an unchanged installations table.
The key server (tests/keyserver.py) runs on loopback beside the add-on.
"""

import logging
import time
from collections import defaultdict

import jwt
import pytest
import requests
from sqlalchemy import select

from addon import create_app
from addon.atlassian import webhooks
from addon.atlassian.installations import get_active_installation, get_installation, shared_secret_of
from addon.models import Installation

from .conftest import addon_overrides
from .keyserver import KeyServer, install_claims, rsa_key, sign_install
from .signing import CLIENT_KEY, SHARED_SECRET, hs256_token, install_payload
from .support import AddonServer, free_port

KID = "kid-1"
NEW_SECRET = "rotated-shared-secret-0123456789abcdef-0002"


@pytest.fixture
def key_server():
    server = KeyServer()
    server.add(KID, rsa_key("atlassian"))
    yield server
    server.stop()


@pytest.fixture
def addon(database_url, key_server, tmp_path, monkeypatch):
    port = free_port()
    app = create_app(addon_overrides(database_url, key_server, port, tmp_path, INSTALL_KEY_TIMEOUT_SECS=0.5))
    # The webhooks posted here only prove which secret is accepted; no handler needs to run.
    monkeypatch.setattr(webhooks, "_handlers", defaultdict(list))
    server = AddonServer(app, port)
    yield server
    webhooks.shutdown(app)
    server.stop()


def table(addon):
    """Every column of every installations row, to compare before and after a callback."""
    with addon.app.extensions["database"].engine.connect() as connection:
        return [tuple(row) for row in connection.execute(select(Installation.__table__)).all()]


def lifecycle(addon, event, payload, token=None, **token_options):
    """POST `payload` to /lifecycle/<event>, signed like Jira unless `token` is given."""
    if token is None:
        claims = install_claims(payload.get("clientKey"), addon.url, f"/lifecycle/{event}")
        token = sign_install(claims, rsa_key("atlassian"), KID, **token_options)
    headers = {"Authorization": f"JWT {token}"} if token else {}
    return requests.post(f"{addon.url}/lifecycle/{event}", json=payload, headers=headers, timeout=10)


def signed(addon, claims_changes=(), drop=(), kid=KID, key_name="atlassian", event="installed"):
    """An install token with `claims_changes` applied and `drop` left out."""
    claims = install_claims(CLIENT_KEY, addon.url, f"/lifecycle/{event}")
    claims.update(dict(claims_changes))
    return sign_install(claims, rsa_key(key_name), kid, drop=drop)


def webhook(addon, secret):
    token = hs256_token("POST", "/webhooks/comment-created", secret=secret)
    payload = {"webhookEvent": "comment_created", "timestamp": time.time_ns(),
               "comment": {"id": "10001", "body": "Bonjour"}, "issue": {"id": "10000", "key": "SUP-1"}}
    return requests.post(f"{addon.url}/webhooks/comment-created", json=payload,
                         headers={"Authorization": f"JWT {token}"}, timeout=10)


@pytest.fixture
def installed(addon):
    """The add-on with the test site installed by a good signed install; returns the add-on."""
    response = lifecycle(addon, "installed", install_payload())
    assert response.status_code == 204, response.text
    return addon


def message_of(response):
    return response.json()["error"]["message"]


# Accepted callbacks

def test_install_stores_tenant(addon):
    assert lifecycle(addon, "installed", install_payload()).status_code == 204
    rows = table(addon)
    assert len(rows) == 1
    with addon.app.app_context():
        installation = get_active_installation(CLIENT_KEY)
        assert installation.base_url == "http://127.0.0.1:2990"
        assert installation.oauth_client_id == "oauth-client-0001"
        assert shared_secret_of(installation) == SHARED_SECRET


def test_install_secret_encrypted(installed):
    [row] = table(installed)
    assert SHARED_SECRET not in " ".join(str(value) for value in row)


def test_install_keeps_token_iat(addon):
    claims = install_claims(CLIENT_KEY, addon.url, "/lifecycle/installed", issued_at=int(time.time()) - 5)
    response = lifecycle(addon, "installed", install_payload(), token=sign_install(claims, rsa_key("atlassian")))
    assert response.status_code == 204
    with addon.app.app_context():
        assert get_installation(CLIENT_KEY).install_token_iat == claims["iat"]


def test_install_audience_trailing_slash(addon):
    token = signed(addon, {"aud": [addon.url + "/"]})
    assert lifecycle(addon, "installed", install_payload(), token=token).status_code == 204


def test_install_key_fetched_once(addon, key_server):
    lifecycle(addon, "installed", install_payload())
    lifecycle(addon, "installed", install_payload(secret=NEW_SECRET))
    assert key_server.requested.count(f"/_devsite/install-keys/{KID}") == 1


def test_reinstall_rotates_secret(installed):
    assert webhook(installed, SHARED_SECRET).status_code == 204
    assert lifecycle(installed, "installed", install_payload(secret=NEW_SECRET)).status_code == 204
    assert webhook(installed, SHARED_SECRET).status_code == 401
    assert webhook(installed, NEW_SECRET).status_code == 204


def test_uninstall_marks_uninstalled(installed):
    assert lifecycle(installed, "uninstalled", install_payload(eventType="uninstalled")).status_code == 204
    assert webhook(installed, SHARED_SECRET).status_code == 401
    with installed.app.app_context():
        assert get_installation(CLIENT_KEY).status == "uninstalled"


def test_uninstall_stale_ignored(installed, caplog):
    caplog.set_level(logging.INFO, logger="addon.atlassian.installations")
    claims = install_claims(CLIENT_KEY, installed.url, "/lifecycle/uninstalled", issued_at=int(time.time()) - 60)
    response = lifecycle(installed, "uninstalled", install_payload(eventType="uninstalled"),
                         token=sign_install(claims, rsa_key("atlassian")))
    assert response.status_code == 204
    assert webhook(installed, SHARED_SECRET).status_code == 204
    assert any("stale uninstall" in record.getMessage() for record in caplog.records)


def test_reinstall_after_uninstall(installed):
    lifecycle(installed, "uninstalled", install_payload(eventType="uninstalled"))
    assert lifecycle(installed, "installed", install_payload(secret=NEW_SECRET)).status_code == 204
    assert webhook(installed, NEW_SECRET).status_code == 204


def test_enabled_and_disabled(installed):
    for event, expected in (("disabled", False), ("enabled", True)):
        token = hs256_token("POST", f"/lifecycle/{event}")
        response = requests.post(f"{installed.url}/lifecycle/{event}", json=install_payload(eventType=event),
                                 headers={"Authorization": f"JWT {token}"}, timeout=10)
        assert response.status_code == 204
        with installed.app.app_context():
            assert get_installation(CLIENT_KEY).enabled is expected


def test_disabled_unsigned_after_uninstall(installed):
    lifecycle(installed, "uninstalled", install_payload(eventType="uninstalled"))
    before = table(installed)
    response = requests.post(f"{installed.url}/lifecycle/disabled",
                             json=install_payload(eventType="disabled"), timeout=10)
    assert response.status_code == 204
    assert table(installed) == before


def test_disabled_unsigned_unknown_site(addon):
    response = requests.post(f"{addon.url}/lifecycle/disabled",
                             json=install_payload(clientKey="jira:unknown"), timeout=10)
    assert response.status_code == 204


def test_disabled_unsigned_active_site(installed):
    before = table(installed)
    response = requests.post(f"{installed.url}/lifecycle/disabled",
                             json=install_payload(eventType="disabled"), timeout=10)
    assert response.status_code == 401
    assert table(installed) == before


def test_disabled_bad_token(installed):
    before = table(installed)
    token = hs256_token("POST", "/lifecycle/disabled", secret=NEW_SECRET)
    response = requests.post(f"{installed.url}/lifecycle/disabled", json=install_payload(eventType="disabled"),
                             headers={"Authorization": f"JWT {token}"}, timeout=10)
    assert response.status_code == 401
    assert table(installed) == before


def test_disabled_token_for_enabled(installed):
    # A token signed for /lifecycle/enabled does not disable the app.
    token = hs256_token("POST", "/lifecycle/enabled")
    response = requests.post(f"{installed.url}/lifecycle/disabled", json=install_payload(eventType="disabled"),
                             headers={"Authorization": f"JWT {token}"}, timeout=10)
    assert response.status_code == 401


def test_secret_never_logged(addon, caplog):
    caplog.set_level(logging.DEBUG)
    lifecycle(addon, "installed", install_payload())
    webhook(addon, SHARED_SECRET)
    # A qsh mismatch logs its canonical request at DEBUG: still no secret.
    requests.post(f"{addon.url}/webhooks/comment-updated", json={},
                  headers={"Authorization": f"JWT {hs256_token('POST', '/elsewhere')}"}, timeout=10)
    logged = "\n".join(f"{record.getMessage()} {record.exc_text or ''}" for record in caplog.records)
    assert "qsh mismatch" in logged
    assert SHARED_SECRET not in logged


# Rejected installs: 401 and nothing changed. Each starts from an installed site, so that a
# wrongly accepted install would overwrite its secret.

REJECTIONS = {
    "no_token": (lambda addon: "", "No JWT found"),
    "hs256": (lambda addon: hs256_token("POST", "/lifecycle/installed"), "algorithm 'HS256'"),
    "alg_none": (lambda addon: _unsigned(addon), "algorithm 'none'"),
    "missing_kid": (lambda addon: signed(addon, kid=None), "missing the kid header"),
    "bad_kid": (lambda addon: signed(addon, kid="../../evil"), "kid header is invalid"),
    "unknown_kid": (lambda addon: signed(addon, kid="kid-unknown"), "HTTP 404"),
    "failing_key_server": (lambda addon: signed(addon, kid="kid-failing"), "HTTP 500"),
    "other_key": (lambda addon: signed(addon, key_name="attacker"), "signature does not verify"),
    "wrong_aud": (lambda addon: signed(addon, {"aud": "https://other-app.example.com"}), "aud claim"),
    "missing_aud": (lambda addon: signed(addon, drop=("aud",)), "aud claim"),
    "wrong_iss": (lambda addon: signed(addon, {"iss": "jira:other-site"}), "clientKey differs"),
    "missing_iss": (lambda addon: signed(addon, drop=("iss",)), "missing the iss claim"),
    "missing_qsh": (lambda addon: signed(addon, drop=("qsh",)), "qsh claim is missing"),
    "wrong_qsh": (lambda addon: signed(addon, event="uninstalled"), "qsh claim does not match"),
    "context_qsh": (lambda addon: signed(addon, {"qsh": "context-qsh"}), "context token"),
    "expired": (lambda addon: signed(addon, {"exp": int(time.time()) - 600}), "expired"),
    "missing_exp": (lambda addon: signed(addon, drop=("exp",)), "exp claim is missing"),
    "missing_iat": (lambda addon: signed(addon, drop=("iat",)), "iat claim is missing"),
}


def _unsigned(addon):
    claims = install_claims(CLIENT_KEY, addon.url, "/lifecycle/installed")
    return jwt.encode(claims, None, algorithm="none", headers={"kid": KID})


@pytest.mark.parametrize("case", sorted(REJECTIONS))
def test_install_rejected(installed, key_server, case):
    key_server.failing.add("kid-failing")
    make_token, words = REJECTIONS[case]
    before = table(installed)
    response = lifecycle(installed, "installed", install_payload(secret=NEW_SECRET), token=make_token(installed))
    assert response.status_code == 401
    assert words in message_of(response)
    assert table(installed) == before


def test_install_bad_kid_not_fetched(installed, key_server):
    requested_before = list(key_server.requested)
    lifecycle(installed, "installed", install_payload(secret=NEW_SECRET), token=signed(installed, kid="a/../b"))
    assert key_server.requested == requested_before


def test_install_key_timeout(installed, key_server):
    key_server.stall.set()
    before = table(installed)
    response = lifecycle(installed, "installed", install_payload(secret=NEW_SECRET),
                         token=signed(installed, kid="kid-new"))
    assert response.status_code == 401
    assert "timed out" in message_of(response)
    assert table(installed) == before


def test_install_key_server_down(database_url, tmp_path):
    closed_port = free_port()
    closed = type("Closed", (), {"url": f"http://127.0.0.1:{closed_port}"})
    port = free_port()
    while port == closed_port:  # the kernel may hand out the just-released port again
        port = free_port()
    server = AddonServer(create_app(addon_overrides(database_url, closed, port, tmp_path)), port)
    try:
        response = lifecycle(server, "installed", install_payload())
        assert response.status_code == 401
        assert "failed" in message_of(response)
        assert table(server) == []
    finally:
        server.stop()


@pytest.mark.parametrize("payload_change, words", [
    ({"key": "com.example.other-app"}, "not this app's key"),
    ({"baseUrl": "https://evil.example.com"}, "not in CONNECT_ALLOWED_HOSTS"),
    ({"baseUrl": "http://user@127.0.0.1:2990"}, "plain site URL"),
], ids=["wrong_key", "host_not_allowed", "base_url_userinfo"])
def test_install_payload_rejected(installed, payload_change, words):
    before = table(installed)
    response = lifecycle(installed, "installed", install_payload(secret=NEW_SECRET, **payload_change))
    assert response.status_code == 401
    assert words in message_of(response)
    assert table(installed) == before


@pytest.mark.parametrize("field", ["clientKey", "baseUrl", "sharedSecret"])
def test_install_missing_field(installed, field):
    before = table(installed)
    payload = install_payload(secret=NEW_SECRET)
    del payload[field]
    claims = install_claims(CLIENT_KEY, installed.url, "/lifecycle/installed")
    response = lifecycle(installed, "installed", payload, token=sign_install(claims, rsa_key("atlassian"), KID))
    assert response.status_code == 400
    assert f"missing {field}" in message_of(response)
    assert table(installed) == before


def test_install_body_not_json(installed):
    token = signed(installed)
    response = requests.post(f"{installed.url}/lifecycle/installed", data="not json",
                             headers={"Authorization": f"JWT {token}", "Content-Type": "application/json"},
                             timeout=10)
    assert response.status_code == 400
    assert "JSON object" in message_of(response)


def test_uninstall_rejects_hs256(installed):
    before = table(installed)
    token = hs256_token("POST", "/lifecycle/uninstalled")
    response = lifecycle(installed, "uninstalled", install_payload(eventType="uninstalled"), token=token)
    assert response.status_code == 401
    assert table(installed) == before


def test_uninstall_rejects_other_key(installed):
    before = table(installed)
    token = signed(installed, key_name="attacker", event="uninstalled")
    response = lifecycle(installed, "uninstalled", install_payload(eventType="uninstalled"), token=token)
    assert response.status_code == 401
    assert table(installed) == before


# Through the local Jira site

def test_install_through_local_site(installed_addon, addon_server):
    with addon_server.app.app_context():
        assert get_active_installation(installed_addon) is not None
