"""The chat's own API called from a Custom UI page: `Authorization: Bearer <FIT>` instead of a
Connect context token, over loopback HTTP with FITs minted by the local site's signer."""

import time
import uuid

import pytest
import requests

from addon.atlassian.forge import ui_auth
from addon.atlassian.forge.tenancy import forge_client_key
from addon.atlassian.jira_client import jira_client_for

from .forge_support import APP_ID, OTHER_APP_ID, forge_overrides, host_frame_id, mint, snapshot
from .subscriptions import grant_defaults
from .support import AddonServer, free_port
from .wsclient import build_app, stop_app

CLOUD_ID = "devsite-cloud-0001"
CUSTOMER = "cust-alice"
OTHER_CUSTOMER = "cust-chloe"
AGENT = "agent-camille"
PORTAL_MODULE = {"type": "jiraServiceManagement:portalFooter", "key": "chat-launcher"}
AGENT_MODULE = {"type": "jira:issuePanel", "key": "chat-agent"}


class ForgeChat:
    """The add-on with Forge on, its tenant made by a first UI call, and helpers for FIT calls."""

    def __init__(self, server, jira_site):
        self.server = server
        self.jira_site = jira_site
        self.client_key = forge_client_key(CLOUD_ID)

    def minted(self, account_id, module=None, **body):
        return mint(self.jira_site, principal=account_id, module=module or PORTAL_MODULE, **body)

    def api(self, method, path, account_id=None, json=None, minted=None, **mint_body):
        minted = minted or self.minted(account_id, **mint_body)
        return requests.request(method, self.server.url + "/api" + path, headers=minted["headers"],
                                json=json, timeout=40)

    def start_chat(self, account_id=CUSTOMER, extra=None, **mint_body):
        body = {"summary": "Facture bloquée", "product_area": "Ventes", "impact": "blocking",
                "message": "Bonjour, la facture 42 est bloquée.", "client_message_id": str(uuid.uuid4())}
        body.update(extra or {})
        return self.api("POST", "/chats", account_id, json=body, **mint_body)


@pytest.fixture
def forge_chat(database_url, jira_site, tmp_path):
    port = free_port()
    server = AddonServer(build_app(database_url, jira_site, port, tmp_path, **forge_overrides(jira_site)), port)
    try:
        chat = ForgeChat(server, jira_site)
        # The first UI call creates the site's tenant row; its key users are then granted.
        first = chat.api("GET", "/me", CUSTOMER)
        assert first.status_code == 200, first.text
        grant_defaults(server.app, chat.client_key)
        yield chat
    finally:
        stop_app(server)


def _gateway_writes(jira_site):
    return [entry for entry in jira_site.control("GET", "/_devsite/requests")
            if entry["raw_path"].startswith("/ex/jira/") and entry["method"] != "GET"]


def _wait_for_comment(jira_site, key, body, deadline_secs=30):
    # The outbox writes the Jira comment in the background, so the site is polled with a generous deadline.
    deadline = time.monotonic() + deadline_secs
    while time.monotonic() < deadline:
        found = [c for c in _issue(jira_site, key)["comments"] if c["body"] == body]
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"no comment {body!r} on {key} within {deadline_secs} s")


def _issue(jira_site, key):
    return jira_site.control("GET", f"/_devsite/issues/{key}")


def test_me_names_fit_principal(forge_chat):
    customer = forge_chat.api("GET", "/me", CUSTOMER)
    agent = forge_chat.api("GET", "/me?project_key=SUP", AGENT, module=AGENT_MODULE)

    assert customer.status_code == 200, customer.text
    assert customer.json() == {"account_id": CUSTOMER, "role": "customer", "project_key": None}
    assert agent.status_code == 200, agent.text
    assert agent.json()["account_id"] == AGENT
    assert agent.json()["role"] == "agent"


def test_customer_starts_chat_agent_answers(forge_chat, jira_site):
    started = forge_chat.start_chat()
    assert started.status_code == 201, started.text
    conversation = started.json()["conversation"]
    issue = _issue(jira_site, conversation["issue_key"])
    assert issue["reporter"] == CUSTOMER
    assert issue["properties"]["supportchat"]["enabled"] == "true"

    reply = forge_chat.api("POST", f"/chats/{conversation['id']}/messages", AGENT, module=AGENT_MODULE,
                           json={"body": "Je regarde la facture 42.", "client_message_id": str(uuid.uuid4())})
    assert reply.status_code == 201, reply.text
    assert reply.json()["message"]["author"]["account_id"] == AGENT

    history = forge_chat.api("GET", f"/chats/{conversation['id']}/messages", CUSTOMER)
    assert history.status_code == 200, history.text
    bodies = [(m["author"]["account_id"], m["body"]) for m in history.json()["messages"]]
    assert (AGENT, "Je regarde la facture 42.") in bodies


def test_agent_comment_authored_by_agent(forge_chat, jira_site):
    conversation = forge_chat.start_chat().json()["conversation"]

    reply = forge_chat.api("POST", f"/chats/{conversation['id']}/messages", AGENT, module=AGENT_MODULE,
                           json={"body": "Réponse de Camille", "client_message_id": str(uuid.uuid4())})
    assert reply.status_code == 201, reply.text

    comment = _wait_for_comment(jira_site, conversation["issue_key"], "Réponse de Camille")
    assert comment["author"] == AGENT


def test_call_user_token_reaches_jira_client(forge_chat, jira_site):
    minted = forge_chat.minted(CUSTOMER)
    app = forge_chat.server.app

    with app.test_request_context("/api/me", headers=minted["headers"]):
        caller = ui_auth.authenticate_ui_call()
        with jira_client_for(caller.installation).as_user(caller.account_id) as customer:
            customer.add_request_comment("SUP-1", "Écrit avec le jeton de l'appel", public=True)

    [entry] = [e for e in _gateway_writes(jira_site) if e["path"] == "/rest/servicedeskapi/request/SUP-1/comment"]
    assert entry["auth"] == "forge-user"
    assert entry["as_account_id"] == CUSTOMER


def test_body_naming_another_account_ignored(forge_chat, jira_site):
    started = forge_chat.start_chat(extra={
        "accountId": OTHER_CUSTOMER, "account_id": OTHER_CUSTOMER, "context": {"accountId": OTHER_CUSTOMER}})

    assert started.status_code == 201, started.text
    conversation = started.json()["conversation"]
    assert _issue(jira_site, conversation["issue_key"])["reporter"] == CUSTOMER


@pytest.mark.parametrize("forgery", ["expired", "wrong_aud", "wrong_key", "alg_none"])
def test_forged_fit_rejected_401(forge_chat, jira_site, forgery):
    before = snapshot(forge_chat.server)
    writes_before = _gateway_writes(jira_site)

    response = forge_chat.start_chat(forgery=forgery)

    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "forge_token_invalid"
    assert snapshot(forge_chat.server) == before
    assert _gateway_writes(jira_site) == writes_before


def test_replayed_fit_rejected_401(forge_chat, jira_site):
    minted = forge_chat.minted(CUSTOMER)
    body = {"summary": "Facture bloquée", "product_area": "Ventes", "impact": "blocking",
            "message": "Premier envoi", "client_message_id": str(uuid.uuid4())}
    first = forge_chat.api("POST", "/chats", json=body, minted=minted)
    assert first.status_code == 201, first.text
    writes_before = _gateway_writes(jira_site)

    body["client_message_id"] = str(uuid.uuid4())
    replayed = forge_chat.api("POST", "/chats", json=body, minted=minted)

    assert replayed.status_code == 401, replayed.text
    assert "already used" in replayed.json()["error"]["message"]
    assert _gateway_writes(jira_site) == writes_before


def test_trigger_token_refused_403(forge_chat):
    response = forge_chat.api("GET", "/me", minted=mint(forge_chat.jira_site, kind="trigger"))

    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "forge_refused"


def test_connect_jwt_beside_fit_rejected(forge_chat):
    minted = forge_chat.minted(CUSTOMER)
    response = requests.get(forge_chat.server.url + "/api/me?jwt=forged.token.here", headers=minted["headers"],
                            timeout=40)

    assert response.status_code == 401, response.text


def test_bearer_ignored_when_forge_off(addon_server, jira_site):
    minted = mint(jira_site, principal=CUSTOMER)
    response = requests.get(addon_server.url + "/api/me", headers=minted["headers"], timeout=40)

    assert response.status_code == 401, response.text
    assert "No JWT found" in response.json()["error"]["message"]


# -- the page settings of the Custom UI pages --------------------------------------------------

def _page(chat, surface, account_id=CUSTOMER, **mint_body):
    minted = chat.minted(account_id, **mint_body)
    return requests.get(f"{chat.server.url}/forge/ui/page", params={"surface": surface},
                        headers=minted["headers"], timeout=40)


def test_page_of_issue_panel(forge_chat):
    extension = {"type": "jira:issuePanel", "issue": {"key": "SUP-1", "id": "10001"}, "project": {"key": "SUP"}}
    response = _page(forge_chat, "issue-panel", AGENT, module=AGENT_MODULE, extension=extension)

    assert response.status_code == 200, response.text
    page = response.json()
    assert page["account_id"] == AGENT
    assert page["base_url"] == forge_chat.server.url
    assert set(page["strings"]) == {"fr", "en"}
    assert page["strings"]["fr"]["agent_title"] == "Discussion avec l'utilisateur clé"
    assert 'data-issue-key="SUP-1"' in page["html"]
    assert 'data-project-key="SUP"' in page["html"]


def test_page_of_request_panel_takes_request_from_fit(forge_chat):
    extension = {"type": "jiraServiceManagement:portalRequestDetail", "request": {"key": "SUP-1"}}
    response = _page(forge_chat, "request-panel", extension=extension,
                     module={"type": "jiraServiceManagement:portalRequestDetail", "key": "chat-request"})

    assert response.status_code == 200, response.text
    assert 'data-request-key="SUP-1"' in response.json()["html"]


def test_page_of_footer_and_unknown_surface(forge_chat):
    footer = _page(forge_chat, "footer")
    unknown = _page(forge_chat, "<script>")

    assert footer.status_code == 200, footer.text
    assert "data-launcher" in footer.json()["html"]
    assert unknown.status_code == 400, unknown.text
    assert unknown.headers["Content-Type"] == "application/json"
    assert "surface '<script>' is unknown" in unknown.json()["error"]["message"]


# -- the local site's Forge host: invokeRemote as @forge/bridge gets it -----------------------------

def _host_invoke(jira_site, account_id, frame_owner=None, **call):
    # The call names a frame of the portal page opened by `frame_owner` (by default the caller).
    if "frame" not in call:
        call["frame"] = host_frame_id(jira_site, frame_owner or account_id)
    cookies = {"devsite_user": account_id} if account_id else {}
    return requests.post(jira_site.url + "/_devsite/forge/host/invoke", json=call, cookies=cookies, timeout=40)


def _install_forge_app(forge_chat, app_id=APP_ID):
    installed = forge_chat.jira_site.control("POST", "/_devsite/forge/app/install",
                                             json={"remote_url": forge_chat.server.url, "app_id": app_id})
    return installed


def test_host_invoke_success_and_json_error(forge_chat, jira_site):
    _install_forge_app(forge_chat)

    found = _host_invoke(jira_site, CUSTOMER, path="/api/me", method="GET").json()
    missing = _host_invoke(jira_site, CUSTOMER, path="/api/chats/999999/messages", method="GET").json()

    assert found["success"] is True
    assert found["payload"]["status"] == 200
    assert found["payload"]["body"]["account_id"] == CUSTOMER
    assert missing["success"] is False
    assert missing["error"]["status"] == 404
    assert missing["error"]["body"]["error"]["code"]


def test_host_invoke_unverified_token(forge_chat, jira_site):
    # The site signs for another app than the add-on's FORGE_APP_ID, so the add-on answers 401.
    _install_forge_app(forge_chat, app_id=OTHER_APP_ID)

    answer = _host_invoke(jira_site, CUSTOMER, path="/api/me", method="GET").json()

    assert answer["success"] is False
    assert answer["error"]["status"] == 401
    assert answer["error"]["message"] == "Remote could not verify the Forge Invocation Token"


def test_host_invoke_needs_login_and_known_frame(forge_chat, jira_site):
    _install_forge_app(forge_chat)

    anonymous = _host_invoke(jira_site, None, frame_owner=CUSTOMER, path="/api/me", method="GET")
    unknown = _host_invoke(jira_site, CUSTOMER, frame="no-such-frame", path="/api/me", method="GET")

    assert anonymous.status_code == 401
    assert unknown.status_code == 400
    assert "no-such-frame" in unknown.json()["error"]


def test_host_invoke_ignores_claimed_extension(forge_chat, jira_site):
    _install_forge_app(forge_chat)
    claimed = {"type": "jira:issuePanel", "issue": {"key": "SUP-1"}, "project": {"key": "SUP"}}

    answer = _host_invoke(jira_site, CUSTOMER, path="/forge/ui/whoami", method="GET",
                          extension=claimed, module_key="chat-agent").json()
    borrowed = _host_invoke(jira_site, OTHER_CUSTOMER, frame_owner=CUSTOMER, path="/api/me", method="GET")

    assert answer["success"] is True, answer
    assert answer["payload"]["body"]["module"] == {"type": "jiraServiceManagement:portalFooter",
                                                   "key": "chat-launcher"}
    assert answer["payload"]["body"]["requestKey"] is None
    assert borrowed.status_code == 403
    assert "another user" in borrowed.json()["error"]


def test_host_resource_carries_manifest_csp(forge_chat, jira_site):
    _install_forge_app(forge_chat)
    resource_url = jira_site.url.replace("127.0.0.1", "localhost") + "/_devsite/forge/resources/portal-ui/index.html"

    response = requests.get(resource_url, timeout=40)

    if response.status_code == 404:
        pytest.skip("the Custom UI pages are not built (cd forge && npm ci --ignore-scripts && npm run build)")
    csp = response.headers["Content-Security-Policy"]
    local_socket = forge_chat.server.url.replace("http://", "ws://")
    assert f"connect-src 'self' {forge_chat.server.url} {local_socket}" in csp
    assert "script-src 'self'" in csp
    assert "frame-ancestors http://127.0.0.1:" in csp
    assert '<script src="/_devsite/forge/host-static/iframe-bridge.js"></script>' in response.text


def test_long_poll_capped_for_forge_calls(database_url, jira_site, tmp_path):
    # invokeRemote gives the remote 25 s: a long-poll it carries must answer within 20 s.
    from types import SimpleNamespace

    from flask import g

    from addon.web.api import FORGE_LONG_POLL_MAX_SECS, long_poll_secs

    from addon import create_app

    from .conftest import addon_overrides
    from .support import stop_background

    app = create_app(addon_overrides(database_url, jira_site, free_port(), tmp_path, LONG_POLL_SECS=25))
    try:
        with app.test_request_context("/api/chats/1/poll"):
            assert long_poll_secs() == 25
            g.forge = SimpleNamespace()
            assert long_poll_secs() == FORGE_LONG_POLL_MAX_SECS == 20
    finally:
        stop_background(app)
