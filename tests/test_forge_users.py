"""Users of every kind in Forge mode: licensed agents, customers, unlicensed users (an Atlassian
account without a JSM licence) and anonymous visitors.

The first part calls the add-on with FITs minted by the local site and checks that only a named,
allowed user gets a chat. The second part checks the local site's Forge host: which modules it
runs for whom, and the FIT and token headers it sends to the remote, recorded by a small HTTP
server that stands in for the remote.
"""

import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
import requests
import sqlalchemy

from addon.atlassian.forge.tenancy import forge_client_key

from .forge_support import APP_ID, forge_overrides, host_frame_id, mint
from .subscriptions import grant_defaults
from .support import ROOT_DIR, AddonServer, free_port
from .wsclient import build_app, stop_app

CLOUD_ID = "devsite-cloud-0001"
CUSTOMER = "cust-alice"
AGENT = "agent-camille"
UNLICENSED = "dev-ines"
ANONYMOUS_ACCOUNT_ID = "unidentified"
FOOTER_MODULE = {"type": "jiraServiceManagement:portalFooter", "key": "chat-launcher"}
MANIFEST = ROOT_DIR / "forge" / "manifest.yml"
HOST = "/_devsite/forge/host"

# The start of a chat, with body fields that name another person: the add-on must ignore them.
CHAT_BODY = {"summary": "Facture bloquée", "product_area": "Ventes", "impact": "blocking",
             "message": "Bonjour, la facture 42 est bloquée.",
             "accountId": CUSTOMER, "account_id": CUSTOMER, "context": {"accountId": CUSTOMER}}


# -- the add-on -----------------------------------------------------------------------------------

@pytest.fixture
def forge_addon(database_url, jira_site, tmp_path):
    """The add-on with Forge on, its site's tenant made by a first UI call, the key users granted."""
    port = free_port()
    server = AddonServer(build_app(database_url, jira_site, port, tmp_path, **forge_overrides(jira_site)), port)
    try:
        first = _api(jira_site, server, "GET", "/me", principal=CUSTOMER)
        assert first.status_code == 200, first.text
        grant_defaults(server.app, forge_client_key(CLOUD_ID))
        yield server
    finally:
        stop_app(server)


def _api(jira_site, server, method, path, json_body=None, **mint_body):
    minted = mint(jira_site, module=FOOTER_MODULE, **mint_body)
    return requests.request(method, server.url + "/api" + path, headers=minted["headers"], json=json_body,
                            timeout=40)


def _conversation_count(server):
    engine = server.app.extensions["database"].engine
    with engine.connect() as connection:
        return connection.execute(sqlalchemy.text("SELECT COUNT(*) FROM conversations")).scalar_one()


def _jira_writes(jira_site):
    return [entry for entry in jira_site.control("GET", "/_devsite/requests")
            if entry["method"] != "GET" and "/rest/" in entry["raw_path"]]


ANONYMOUS_FITS = {
    "no principal": {},
    "unidentified": {"principal": ANONYMOUS_ACCOUNT_ID},
}


@pytest.mark.parametrize("fit_body", ANONYMOUS_FITS.values(), ids=ANONYMOUS_FITS.keys())
def test_anonymous_chat_start_refused(forge_addon, jira_site, fit_body):
    writes_before = _jira_writes(jira_site)

    started = _api(jira_site, forge_addon, "POST", "/chats?lang=fr",
                   json_body=dict(CHAT_BODY, client_message_id=str(uuid.uuid4())), user_token=False, **fit_body)

    assert started.status_code == 403, started.text
    assert started.json()["error"]["code"] == "forge_refused"
    assert started.json()["error"]["message"] == "Connectez-vous au portail pour discuter avec le support."
    assert _conversation_count(forge_addon) == 0
    assert _jira_writes(jira_site) == writes_before


@pytest.mark.parametrize("fit_body", ANONYMOUS_FITS.values(), ids=ANONYMOUS_FITS.keys())
def test_anonymous_api_and_ticket_refused(forge_addon, jira_site, fit_body):
    eligibility = _api(jira_site, forge_addon, "GET", "/eligibility?lang=en", user_token=False, **fit_body)
    ticket = requests.post(forge_addon.url + "/forge/ui/socket-ticket", json={},
                           headers=mint(jira_site, module=FOOTER_MODULE, user_token=False, **fit_body)["headers"],
                           timeout=40)

    assert eligibility.status_code == 403, eligibility.text
    assert eligibility.json()["error"]["message"] == "Log in to the portal to chat with support."
    assert ticket.status_code == 403, ticket.text
    assert ticket.json()["error"]["code"] == "forge_refused"


def test_anonymous_footer_asks_to_log_in(forge_addon, jira_site):
    minted = mint(jira_site, module=FOOTER_MODULE, principal=ANONYMOUS_ACCOUNT_ID, user_token=False)

    response = requests.get(forge_addon.url + "/forge/ui/page", params={"surface": "footer", "lang": "fr"},
                            headers=minted["headers"], timeout=40)

    assert response.status_code == 200, response.text
    page = response.json()
    assert page["account_id"] is None
    assert "Connectez-vous au portail pour discuter avec le support." in page["html"]
    assert "data-launcher" not in page["html"]
    assert "launcher.js" not in page["html"]


def test_unlicensed_user_is_no_agent(forge_addon, jira_site):
    me = _api(jira_site, forge_addon, "GET", "/me?project_key=SUP", principal=UNLICENSED, user_token=False)

    assert me.status_code == 200, me.text
    assert me.json() == {"account_id": UNLICENSED, "role": "customer", "project_key": None}


def test_unlicensed_user_gets_refusal(forge_addon, jira_site):
    eligibility = _api(jira_site, forge_addon, "GET", "/eligibility?lang=fr", principal=UNLICENSED,
                       user_token=False)

    assert eligibility.status_code == 200, eligibility.text
    assert eligibility.json()["may_chat"] is False
    assert eligibility.json()["reason"] == "not_subscribed"
    assert eligibility.json()["message"].startswith("Votre organisation n'a pas de contrat de souscription")


def test_unlicensed_chat_start_refused(forge_addon, jira_site):
    writes_before = _jira_writes(jira_site)

    started = _api(jira_site, forge_addon, "POST", "/chats", principal=UNLICENSED, user_token=False,
                   json_body=dict(CHAT_BODY, client_message_id=str(uuid.uuid4())))

    assert started.status_code == 403, started.text
    assert _conversation_count(forge_addon) == 0
    assert _jira_writes(jira_site) == writes_before


# -- the local site's Forge host ------------------------------------------------------------------

class RecordingRemote:
    """A stand-in for the remote on loopback: it records each call's headers and returns {"ok": true}."""

    def __init__(self):
        self.calls = []
        remote = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                remote.calls.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                     "body": body})
                content = json.dumps({"ok": True}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = _record

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def last_claims(self):
        token = self.calls[-1]["headers"]["authorization"].removeprefix("Bearer ")
        return jwt.decode(token, options={"verify_signature": False})


@pytest.fixture
def remote():
    recording = RecordingRemote()
    yield recording
    recording.stop()


def _install(jira_site, remote_url, manifest_path=None):
    body = {"remote_url": remote_url, "app_id": APP_ID}
    if manifest_path:
        body["manifest_path"] = str(manifest_path)
    return jira_site.control("POST", "/_devsite/forge/app/install", json=body)


def _manifest_open_to_anonymous(tmp_path):
    """A copy of manifest.yml whose portal footer also runs for anonymous visitors."""
    text = MANIFEST.read_text(encoding="utf-8")
    passage = "        - my_requests\n      unlicensedAccess:\n        - customer\n        - unlicensed\n"
    assert text.count(passage) == 1, "the portal footer's unlicensedAccess is no longer as this test expects"
    path = tmp_path / "manifest.yml"
    path.write_text(text.replace(passage, passage + "        - anonymous\n"), encoding="utf-8")
    return path


def _host_get(jira_site, path, account_id=None):
    cookies = {"devsite_user": account_id} if account_id else {}
    return requests.get(jira_site.url + HOST + path, cookies=cookies, timeout=40)


def _host_invoke(jira_site, account_id, path="/forge/ui/whoami", method="GET", frame_owner=None):
    # The call names the footer's frame of the portal page opened by `frame_owner` (by default the caller).
    frame = host_frame_id(jira_site, account_id if frame_owner is None else frame_owner)
    cookies = {"devsite_user": account_id} if account_id else {}
    return requests.post(jira_site.url + HOST + "/invoke", cookies=cookies, timeout=40,
                         json={"frame": frame, "path": path, "method": method})


def _frames(page_html):
    start = page_html.index('id="forge-frames">') + len('id="forge-frames">')
    return json.loads(page_html[start:page_html.index("</script>", start)])


@pytest.mark.parametrize("account_id", [AGENT, CUSTOMER, UNLICENSED])
def test_host_portal_runs_footer(jira_site, remote, account_id):
    _install(jira_site, remote.url)

    page = _host_get(jira_site, "/portal", account_id)

    assert page.status_code == 200, page.text
    [frame] = _frames(page.text)
    assert frame["module_key"] == "chat-launcher"
    assert frame["context"]["accountId"] == account_id


def test_host_portal_without_modules_for_anonymous(jira_site, remote):
    _install(jira_site, remote.url)

    page = _host_get(jira_site, "/portal")
    request_page = _host_get(jira_site, "/portal?request=SUP-1")

    assert page.status_code == 200, page.text
    assert _frames(page.text) == []
    left_out = re.search(r'<div hidden class="forge-left-out" data-module-key="chat-launcher"[^>]*'
                         r'data-reason="([^"]*)"', page.text)
    assert left_out, page.text
    assert "does not run for anonymous users: its unlicensedAccess is customer, unlicensed" in left_out.group(1)
    assert request_page.status_code == 401, request_page.text


def test_host_portal_opted_in_anonymous(jira_site, remote, tmp_path):
    _install(jira_site, remote.url, _manifest_open_to_anonymous(tmp_path))

    page = _host_get(jira_site, "/portal")

    assert page.status_code == 200, page.text
    [frame] = _frames(page.text)
    assert frame["module_key"] == "chat-launcher"
    assert frame["context"]["accountId"] == ANONYMOUS_ACCOUNT_ID
    assert frame["context"]["locale"] == "fr_FR"


def test_host_request_panel_for_unlicensed_reporter(jira_site, remote):
    _install(jira_site, remote.url)
    created = jira_site.control("POST", "/_devsite/actions/request",
                                json={"reporter_account_id": UNLICENSED, "request_type_id": "12",
                                      "summary": "Bon de livraison"})

    page = _host_get(jira_site, f"/portal?request={created['key']}", UNLICENSED)
    other = _host_get(jira_site, "/portal?request=SUP-1", UNLICENSED)

    assert page.status_code == 200, page.text
    assert [frame["module_key"] for frame in _frames(page.text)] == ["chat-request", "chat-launcher"]
    assert other.status_code == 404, other.text


@pytest.mark.parametrize("account_id", [CUSTOMER, UNLICENSED])
def test_host_issue_view_for_agents_only(jira_site, remote, account_id):
    _install(jira_site, remote.url)

    refused = _host_get(jira_site, "/issue/SUP-1", account_id)
    agent = _host_get(jira_site, "/issue/SUP-1", AGENT)

    assert refused.status_code == 403, refused.text
    assert "no JSM licence" in refused.json()["error"]
    assert agent.status_code == 200, agent.text


@pytest.mark.parametrize(("account_id", "user_token"), [(AGENT, True), (CUSTOMER, True), (UNLICENSED, False)])
def test_host_invoke_principal_and_user_token(jira_site, remote, account_id, user_token):
    _install(jira_site, remote.url)

    answer = _host_invoke(jira_site, account_id)

    assert answer.status_code == 200, answer.text
    assert answer.json()["success"] is True
    assert remote.last_claims()["principal"] == account_id
    assert ("x-forge-oauth-user" in remote.calls[-1]["headers"]) is user_token
    assert "x-forge-oauth-system" in remote.calls[-1]["headers"]


def test_host_invoke_anonymous(jira_site, remote, tmp_path):
    _install(jira_site, remote.url)
    refused = _host_invoke(jira_site, None, frame_owner=CUSTOMER)
    _install(jira_site, remote.url, _manifest_open_to_anonymous(tmp_path))

    answer = _host_invoke(jira_site, None)

    assert refused.status_code == 401, refused.text
    assert "does not run for anonymous users" in refused.json()["error"]
    assert answer.status_code == 200, answer.text
    assert remote.last_claims()["principal"] == ANONYMOUS_ACCOUNT_ID
    assert "x-forge-oauth-user" not in remote.calls[-1]["headers"]
    assert [call["path"] for call in remote.calls if call["path"].startswith("/forge/ui/")] == ["/forge/ui/whoami"]


def test_host_anonymous_reaches_addon_refusal(forge_addon, jira_site, tmp_path):
    _install(jira_site, forge_addon.url, _manifest_open_to_anonymous(tmp_path))

    page = _host_invoke(jira_site, None, path="/forge/ui/page?surface=footer&lang=fr").json()
    eligibility = _host_invoke(jira_site, None, path="/api/eligibility?lang=fr").json()

    assert page["success"] is True
    assert "Connectez-vous au portail" in page["payload"]["body"]["html"]
    assert eligibility["success"] is False
    assert eligibility["error"]["status"] == 403
    message = eligibility["error"]["body"]["error"]["message"]
    assert message == "Connectez-vous au portail pour discuter avec le support."


def test_host_settings_validated(jira_site, remote):
    _install(jira_site, remote.url)

    unknown = requests.put(jira_site.url + HOST + "/settings", json={"websocket": False}, timeout=40)
    not_bool = requests.put(jira_site.url + HOST + "/settings", json={"remotes_in_connect_src": "no"}, timeout=40)
    changed = requests.put(jira_site.url + HOST + "/settings", json={"remotes_in_connect_src": False}, timeout=40)

    assert unknown.status_code == 400, unknown.text
    assert not_bool.status_code == 400, not_bool.text
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"remotes_in_connect_src": False}
    _install(jira_site, remote.url)
    assert requests.get(jira_site.url + HOST + "/settings", timeout=40).json() == {"remotes_in_connect_src": True}


def test_host_csp_without_remotes(jira_site, remote):
    _install(jira_site, remote.url)
    resource_url = jira_site.url.replace("127.0.0.1", "localhost") + "/_devsite/forge/resources/portal-ui/index.html"
    before = requests.get(resource_url, timeout=40)
    if before.status_code == 404:
        pytest.skip("the Custom UI pages are not built (cd forge && npm ci --ignore-scripts && npm run build)")

    requests.put(jira_site.url + HOST + "/settings", json={"remotes_in_connect_src": False}, timeout=40)
    after = requests.get(resource_url, timeout=40)

    local_socket = remote.url.replace("http://", "ws://")
    assert f"connect-src 'self' {remote.url} {local_socket}" in before.headers["Content-Security-Policy"]
    assert "connect-src 'self'; " in after.headers["Content-Security-Policy"]
    assert remote.url.removeprefix("http://") not in after.headers["Content-Security-Policy"]
