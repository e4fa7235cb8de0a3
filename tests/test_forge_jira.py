"""The Forge Jira client over loopback HTTP to the local site's api.atlassian.com stand-in, the
tenant row of each Forge installation, and the choice between the Connect and Forge clients."""

from types import SimpleNamespace

import pytest
import requests
from flask import g
from sqlalchemy import func, select, update

from addon import create_app
from addon.config import ConfigError
from addon.atlassian.forge import tenants
from addon.atlassian.forge.jira import ForgeJiraClient, ForgeTokenUnavailable, ForgeUnavailable
from addon.atlassian.forge.tenancy import forge_client_key, forge_installation_of, installation_for
from addon.atlassian.installations import get_installation
from addon.atlassian.jira_client import JiraClient, jira_client_for
from addon.atlassian.jira_errors import ImpersonationRefused, JiraPermissionDenied
from addon.models import Installation

from .conftest import addon_overrides
from .signing import context_token
from .forge_support import call, forge_addon, forge_overrides, mint  # noqa: F401
from .subscriptions import grant_defaults
from .support import AddonServer, free_port
from .test_outbox import FAST_SETTINGS, Chat

CLOUD_ID = "devsite-cloud-0001"
ISSUE_KEY = "SUP-1"  # reported by cust-alice


def _open(server, jira_site, **body):
    """Send one UI call (principal cust-alice by default) so the add-on stores the installation."""
    body.setdefault("principal", "cust-alice")
    minted = mint(jira_site, **body)
    response = call(server, "/forge/ui/whoami", minted)
    assert response.status_code == 200, response.text
    return minted


def _installation_id(minted):
    return minted["claims"]["app"]["installationId"]


def _tenant(server):
    with server.app.app_context():
        return get_installation(forge_client_key(CLOUD_ID))


def _comments(jira_site, key=ISSUE_KEY):
    return jira_site.control("GET", f"/_devsite/issues/{key}")["comments"]


def _gateway_calls(jira_site):
    return [entry for entry in jira_site.control("GET", "/_devsite/requests")
            if entry["raw_path"].startswith("/ex/jira/") or entry["path"] == "/graphql"]


def _drop_system_token(server, installation_id):
    database = server.app.extensions["database"]
    with database.transaction() as session:
        session.execute(update(tenants.ForgeInstallation)
                        .where(tenants.ForgeInstallation.installation_id == installation_id)
                        .values(system_token_encrypted=None, system_token_expires_at=None))


def _install_connect(server, jira_site):
    result = jira_site.control("POST", "/_devsite/apps/install",
                               json={"descriptor_url": f"{server.url}/atlassian-connect.json"})
    assert result["status"] in (200, 204), result
    return result["client_key"]


# -- writing as the app, as a customer --------------------------------------------------------

def test_system_token_comment_by_app_user(forge_addon, jira_site):
    minted = _open(forge_addon, jira_site)
    app_user = jira_site.control("GET", f"/_devsite/forge/app-user/{_installation_id(minted)}")["account_id"]

    with forge_addon.app.app_context():
        with jira_client_for(_tenant(forge_addon)) as jira:
            assert isinstance(jira, ForgeJiraClient)
            created = jira.add_request_comment(ISSUE_KEY, "Réponse de l'application", public=True)

    comment = next(c for c in _comments(jira_site) if c["id"] == str(created["id"]))
    assert comment["author"] == app_user
    assert comment["body"] == "Réponse de l'application"
    [entry] = _gateway_calls(jira_site)
    assert entry["raw_path"] == f"/ex/jira/{CLOUD_ID}/rest/servicedeskapi/request/{ISSUE_KEY}/comment"
    assert entry["auth"] == "forge-system"
    assert entry["status"] == 201


def test_offline_token_comment_by_customer(forge_addon, jira_site):
    _open(forge_addon, jira_site)

    with forge_addon.app.app_context():
        with jira_client_for(_tenant(forge_addon)).as_user("cust-alice") as customer:
            created = customer.add_request_comment(ISSUE_KEY, "Merci, c'est réglé", public=True)

    comment = next(c for c in _comments(jira_site) if c["id"] == str(created["id"]))
    assert comment["author"] == "cust-alice"
    assert comment["public"] is True
    calls = _gateway_calls(jira_site)
    assert [entry["path"] for entry in calls] == ["/graphql", f"/rest/servicedeskapi/request/{ISSUE_KEY}/comment"]
    assert calls[1]["auth"] == "forge-offline"
    assert calls[1]["as_account_id"] == "cust-alice"


def test_call_user_token_used_first(forge_addon, jira_site):
    minted = _open(forge_addon, jira_site)
    user_token = minted["headers"]["x-forge-oauth-user"]

    with forge_addon.app.test_request_context():
        g.forge = SimpleNamespace(user_token=user_token, principal="cust-alice",
                                  installation_id=_installation_id(minted))
        with jira_client_for(_tenant(forge_addon)).as_user("cust-alice") as customer:
            created = customer.add_request_comment(ISSUE_KEY, "Écrit pendant l'appel", public=True)

    comment = next(c for c in _comments(jira_site) if c["id"] == str(created["id"]))
    assert comment["author"] == "cust-alice"
    calls = _gateway_calls(jira_site)
    assert [entry["auth"] for entry in calls] == ["forge-user"]


def test_customer_attachment_through_gateway(forge_addon, jira_site):
    _open(forge_addon, jira_site)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32

    with forge_addon.app.app_context():
        with jira_client_for(_tenant(forge_addon)).as_user("cust-alice") as customer:
            temporary_ids = customer.attach_temporary_file("1", "ecran.png", png, "image/png")
            result = customer.attach_to_request(ISSUE_KEY, temporary_ids, public=True, comment="Voici l'écran")

    assert len(temporary_ids) == 1
    assert result["attachments"]["values"][0]["author"]["accountId"] == "cust-alice"
    stored = jira_site.control("GET", f"/_devsite/issues/{ISSUE_KEY}")["attachments"]
    assert [(a["filename"], a["author"], a["public"]) for a in stored] == [("ecran.png", "cust-alice", True)]
    assert {entry["auth"] for entry in _gateway_calls(jira_site) if entry["path"] != "/graphql"} == {"forge-offline"}


def test_customer_internal_comment_rejected(forge_addon, jira_site):
    _open(forge_addon, jira_site)
    before = _comments(jira_site)

    with forge_addon.app.app_context():
        with jira_client_for(_tenant(forge_addon)).as_user("cust-alice") as customer:
            with pytest.raises(JiraPermissionDenied) as raised:
                customer.add_request_comment(ISSUE_KEY, "Note interne", public=False)

    assert raised.value.status == 403
    assert "public" in str(raised.value)
    assert _comments(jira_site) == before


def test_unknown_user_impersonation_rejected(forge_addon, jira_site):
    _open(forge_addon, jira_site)

    with forge_addon.app.app_context():
        with jira_client_for(_tenant(forge_addon)).as_user("nobody-here") as stranger:
            with pytest.raises(ImpersonationRefused) as raised:
                stranger.add_request_comment(ISSUE_KEY, "Bonjour", public=True)

    assert raised.value.account_id == "nobody-here"
    assert "nobody-here" in str(raised.value)


def test_expired_offline_token_replaced(forge_addon, jira_site):
    _open(forge_addon, jira_site)
    with forge_addon.app.app_context():
        with jira_client_for(_tenant(forge_addon)).as_user("cust-alice") as customer:
            customer.add_request_comment(ISSUE_KEY, "Premier message", public=True)
    jira_site.control("POST", "/_devsite/forge/offline-tokens/expire")

    with forge_addon.app.app_context():
        with jira_client_for(_tenant(forge_addon)).as_user("cust-alice") as customer:
            created = customer.add_request_comment(ISSUE_KEY, "Second message", public=True)

    comment = next(c for c in _comments(jira_site) if c["id"] == str(created["id"]))
    assert comment["author"] == "cust-alice"
    statuses = [(entry["path"], entry["status"]) for entry in _gateway_calls(jira_site)]
    comment_path = f"/rest/servicedeskapi/request/{ISSUE_KEY}/comment"
    assert statuses == [("/graphql", 200), (comment_path, 201),
                        (comment_path, 401), ("/graphql", 200), (comment_path, 201)]


def test_rate_limited_call_retried(forge_addon, jira_site):
    _open(forge_addon, jira_site)
    jira_site.control("PUT", "/_devsite/faults", json={
        "mode": "rate_limit", "method": "POST", "path": r"^/ex/jira/.*/comment$", "times": 1, "retry_after": 0,
    })

    with forge_addon.app.app_context():
        with jira_client_for(_tenant(forge_addon)) as jira:
            created = jira.add_request_comment(ISSUE_KEY, "Après la limite", public=True)

    assert any(c["id"] == str(created["id"]) for c in _comments(jira_site))
    assert jira_site.control("GET", "/_devsite/faults") == []
    bodies = [c["body"] for c in _comments(jira_site)]
    assert bodies.count("Après la limite") == 1


def test_no_system_token_fails_closed(forge_addon, jira_site):
    minted = _open(forge_addon, jira_site, system_token=False)
    before = _comments(jira_site)

    with forge_addon.app.app_context():
        with pytest.raises(ForgeTokenUnavailable) as raised:
            jira_client_for(_tenant(forge_addon))

    message = str(raised.value)
    assert "no valid Forge system token" in message
    assert _installation_id(minted) in message
    assert "next Forge invocation" in message
    assert raised.value.kind == "unavailable"
    assert _comments(jira_site) == before
    assert _gateway_calls(jira_site) == []


# -- the local site's gateway ---------------------------------------------------------------

def test_gateway_rejects_bad_tokens(forge_addon, jira_site):
    minted = _open(forge_addon, jira_site)
    system_token = minted["headers"]["x-forge-oauth-system"]
    comment_url = f"{jira_site.url}/ex/jira/{CLOUD_ID}/rest/servicedeskapi/request/{ISSUE_KEY}/comment"
    body = {"body": "Bonjour", "public": True}

    unknown = requests.post(comment_url, json=body, headers={"Authorization": "Bearer not-a-token"}, timeout=30)
    wrong_cloud = requests.post(comment_url.replace(CLOUD_ID, "other-cloud"), json=body,
                                headers={"Authorization": f"Bearer {system_token}"}, timeout=30)
    at_site_url = requests.post(f"{jira_site.url}/rest/servicedeskapi/request/{ISSUE_KEY}/comment", json=body,
                                headers={"Authorization": f"Bearer {system_token}"}, timeout=30)
    user_token_graphql = requests.post(f"{jira_site.url}/graphql", json={"query": "offlineUserAuthToken"},
                                       headers={"Authorization": f"Bearer {minted['headers']['x-forge-oauth-user']}"},
                                       timeout=30)

    assert unknown.status_code == 401
    assert wrong_cloud.status_code == 404
    assert at_site_url.status_code == 401
    assert user_token_graphql.status_code == 401


# -- choosing the client --------------------------------------------------------------------

def test_dispatch_by_mode(forge_addon, jira_site):
    client_key = _install_connect(forge_addon, jira_site)
    minted = _open(forge_addon, jira_site)
    app = forge_addon.app

    with app.app_context():
        connect_row = get_installation(client_key)
        assert isinstance(jira_client_for(connect_row), ForgeJiraClient)

        app.config["JIRA_API_PREFERENCE"] = "connect"
        assert type(jira_client_for(connect_row)) is JiraClient

        app.config["JIRA_API_PREFERENCE"] = "forge"
        _drop_system_token(forge_addon, _installation_id(minted))
        assert type(jira_client_for(connect_row)) is JiraClient  # no valid token: Connect still works

        app.config["CONNECT_ENABLED"] = False
        with pytest.raises(ForgeTokenUnavailable):
            jira_client_for(connect_row)

        app.config["FORGE_ENABLED"] = False
        with pytest.raises(ForgeUnavailable) as raised:
            jira_client_for(connect_row)
        assert "CONNECT_ENABLED is false" in str(raised.value)


def test_forge_tenant_needs_forge_enabled(forge_addon, jira_site):
    _open(forge_addon, jira_site)

    with forge_addon.app.app_context():
        forge_addon.app.config["FORGE_ENABLED"] = False
        with pytest.raises(ForgeUnavailable) as raised:
            jira_client_for(_tenant(forge_addon))

    assert "FORGE_ENABLED is false" in str(raised.value)


def test_connect_routes_off_when_disabled(database_url, jira_site, tmp_path):
    port = free_port()
    overrides = addon_overrides(database_url, jira_site, port, tmp_path, CONNECT_ENABLED=False,
                                **forge_overrides(jira_site))
    server = AddonServer(create_app(overrides), port)
    try:
        descriptor = requests.get(f"{server.url}/atlassian-connect.json", timeout=30)
        installed = requests.post(f"{server.url}/lifecycle/installed", json={}, timeout=30)
        webhook = requests.post(f"{server.url}/webhooks/comment-created", json={}, timeout=30)
        forge = call(server, "/forge/ui/whoami", mint(jira_site, principal="cust-alice"))
    finally:
        server.stop()

    assert descriptor.status_code == 404
    assert installed.status_code == 404
    assert webhook.status_code == 404
    assert forge.status_code == 200


# -- tenant mapping -------------------------------------------------------------------------

def test_forge_only_site_gets_one_tenant(forge_addon, jira_site):
    _open(forge_addon, jira_site)
    _open(forge_addon, jira_site, principal="cust-bruno")

    with forge_addon.app.app_context():
        session = forge_addon.app.extensions["database"].session
        rows = session.scalars(select(Installation)).all()

    assert len(rows) == 1
    [tenant] = rows
    assert tenant.client_key == f"forge:{CLOUD_ID}"
    assert tenant.platform == "forge"
    assert tenant.base_url == jira_site.url
    assert tenant.shared_secret_encrypted is None
    assert tenant.is_active


def test_reinstall_keeps_tenant(forge_addon, jira_site):
    first = _open(forge_addon, jira_site)
    tenant_id = _tenant(forge_addon).id
    with forge_addon.app.app_context():
        installation = tenants.get_forge_installation(_installation_id(first))
        tenants.mark_uninstalled(SimpleNamespace(installation_id=installation.installation_id))
    assert not _tenant(forge_addon).is_active

    second = _open(forge_addon, jira_site, installation_id="ari:cloud:ecosystem::installation/reinstalled-0002")

    tenant = _tenant(forge_addon)
    assert tenant.id == tenant_id
    assert tenant.is_active
    with forge_addon.app.app_context():
        assert forge_installation_of(tenant).installation_id == _installation_id(second)
        count = forge_addon.app.extensions["database"].session.scalar(select(func.count()).select_from(Installation))
    assert count == 1


def test_trigger_call_creates_no_tenant(forge_addon, jira_site):
    minted = mint(jira_site, kind="trigger")
    assert call(forge_addon, "/forge/lifecycle", minted, json={}).status_code == 200

    with forge_addon.app.app_context():
        installation = tenants.get_forge_installation(_installation_id(minted))
        assert installation_for(installation) is None
    assert _tenant(forge_addon) is None


def test_linked_connect_site_reuses_row(forge_addon, jira_site):
    client_key = _install_connect(forge_addon, jira_site)
    minted = _open(forge_addon, jira_site)

    with forge_addon.app.app_context():
        installation = tenants.get_forge_installation(_installation_id(minted))
        tenant = installation_for(installation)
        assert tenant.client_key == client_key
        assert tenant.platform == "connect"
        assert forge_installation_of(tenant).installation_id == _installation_id(minted)
    assert _tenant(forge_addon) is None


def test_config_rejects_bad_preference(database_url, jira_site, tmp_path):
    overrides = addon_overrides(database_url, jira_site, free_port(), tmp_path, JIRA_API_PREFERENCE="both",
                                **forge_overrides(jira_site))

    with pytest.raises(ConfigError) as raised:
        create_app(overrides)

    assert "JIRA_API_PREFERENCE='both'" in str(raised.value)


# -- the outbox through Forge ---------------------------------------------------------------

@pytest.fixture
def forge_chat(database_url, jira_site, tmp_path):
    """A Forge-only site with its tenant, the add-on's outbox (not started) and the chat helpers."""
    port = free_port()
    overrides = addon_overrides(database_url, jira_site, port, tmp_path, **FAST_SETTINGS, **forge_overrides(jira_site))
    server = AddonServer(create_app(overrides), port)
    try:
        _open(server, jira_site)
        grant_defaults(server.app, forge_client_key(CLOUD_ID))
        chat = Chat(server, jira_site, forge_client_key(CLOUD_ID))
        yield chat
        chat.outbox.stop()
    finally:
        server.stop()


def test_outbox_writes_as_authors(forge_chat, jira_site):
    conversation = forge_chat.conversation(ISSUE_KEY, "cust-alice")
    before = forge_chat.comments(ISSUE_KEY)
    ids = [forge_chat.post(forge_chat.customer(), conversation, "Ma facture reste bloquée."),
           forge_chat.post(forge_chat.agent(), conversation, "Je regarde tout de suite.")]

    forge_chat.outbox.start()
    forge_chat.wait_synced(ids)

    comments = forge_chat.new_comments(ISSUE_KEY, before)
    assert [comment["author"] for comment in comments] == ["cust-alice", "agent-camille"]
    assert "Ma facture reste bloquée." in comments[0]["body"]
    assert "Je regarde tout de suite." in comments[1]["body"]
    writes = [entry for entry in _gateway_calls(jira_site) if entry["method"] == "POST" and entry["path"] != "/graphql"]
    assert {entry["auth"] for entry in writes} == {"forge-offline"}


def test_connect_jwt_for_forge_tenant_refused(forge_addon, jira_site):
    # A Forge tenant has no shared secret: a Connect JWT naming it is refused, never a server error.
    _open(forge_addon, jira_site)
    token = context_token(client_key=forge_client_key(CLOUD_ID), secret="a-secret-guessed-by-the-caller-0123456789")
    response = requests.get(f"{forge_addon.url}/api/me", headers={"Authorization": f"JWT {token}"}, timeout=10)
    assert response.status_code == 401
    assert "Forge site" in response.json()["error"]["message"]
