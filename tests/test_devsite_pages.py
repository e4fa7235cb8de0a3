"""The local Jira site's pages: login, portal, agent issue view and the app iframes they embed.

A small probe app, served by werkzeug in the test process, is installed into the site through
the real install flow. It records the `installed` payload and every iframe request it receives.
"""

import html as html_module
import json
import re
import threading
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from atlassian_jwt.url_utils import hash_url
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from .support import DevSite, free_port

PROBE_KEY = "com.example.pages-probe"
ISSUE_RIGHT_CONTEXT = "atl.jira.view.issue.right.context"
CHAT_CONDITION = {"condition": "entity_property_equal_to",
                  "params": {"entity": "issue", "propertyKey": "supportchat", "objectName": "enabled",
                             "value": "true"}}


def probe_descriptor(base_url):
    return {
        "key": PROBE_KEY,
        "name": "Pages probe",
        "baseUrl": base_url,
        "authentication": {"type": "jwt"},
        "apiMigrations": {"signed-install": True, "context-qsh": True},
        "scopes": ["READ", "WRITE"],
        "lifecycle": {"installed": "/lifecycle/installed", "uninstalled": "/lifecycle/uninstalled",
                      "enabled": "/lifecycle/enabled", "disabled": "/lifecycle/disabled"},
        "modules": {
            "jiraIssueGlances": [
                {"key": "chat-glance", "name": {"value": "Support chat"},
                 "icon": {"width": 24, "height": 24, "url": "/icon.svg"},
                 "content": {"type": "label", "label": {"value": "Chat"}},
                 "target": {"type": "web_panel", "url": "/glance?issueKey={issue.key}&projectKey={project.key}"},
                 "conditions": [CHAT_CONDITION]},
                {"key": "no-chat-glance", "name": {"value": "No chat"},
                 "icon": {"width": 24, "height": 24, "url": "/icon.svg"},
                 "content": {"type": "label", "label": {"value": "No chat"}},
                 "target": {"type": "web_panel", "url": "/no-chat?issueId={issue.id}"},
                 "conditions": [dict(CHAT_CONDITION, invert=True)]},
            ],
            "webPanels": [
                {"key": "side-panel", "name": {"value": "Side panel"}, "location": ISSUE_RIGHT_CONTEXT,
                 "url": "/side-panel?projectId={project.id}"},
            ],
            "serviceDeskPortalRequestViewPanels": [
                {"key": "request-panel",
                 "url": "/request-panel?sdKey={servicedesk.requestKey}&sdDesk={servicedesk.serviceDeskId}"
                        "&reqKey={request.key}&reqDesk={serviceDesk.id}&unbound={no.such.variable}"},
            ],
            "serviceDeskPortalFooters": [
                {"key": "portal-footer", "url": "/footer", "pages": ["portal", "view_request"]},
            ],
            "adminPages": [
                {"key": "admin-page", "name": {"value": "Probe admin"}, "url": "/admin",
                 "conditions": [{"condition": "user_is_admin"}]},
            ],
        },
    }


class ProbeApp:
    """A tiny Connect app on loopback, with its baseUrl under the path /app."""

    def __init__(self):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/app"
        self.lock = threading.Lock()
        self.installed_payloads = []
        self.frame_requests = []
        self._server = make_server("127.0.0.1", self.port, self._wsgi, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        path = request.path
        if path == "/app/atlassian-connect.json":
            response = Response(json.dumps(probe_descriptor(self.base_url)), mimetype="application/json")
        elif path.startswith("/app/lifecycle/"):
            if path == "/app/lifecycle/installed":
                with self.lock:
                    self.installed_payloads.append(json.loads(request.get_data(as_text=True)))
            response = Response(status=204)
        else:
            raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or path
            with self.lock:
                self.frame_requests.append(raw)
            response = Response("<!doctype html><title>probe</title><p>probe</p>", mimetype="text/html")
        return response(environ, start_response)

    @property
    def shared_secret(self):
        with self.lock:
            return self.installed_payloads[-1]["sharedSecret"]

    def reset(self):
        with self.lock:
            self.installed_payloads.clear()
            self.frame_requests.clear()

    def stop(self):
        self._server.shutdown()
        self._thread.join(timeout=10)


@pytest.fixture(scope="module")
def probe():
    app = ProbeApp()
    yield app
    app.stop()


@pytest.fixture
def site(jira_site, probe):
    """The local Jira site, reset, with the probe app installed."""
    probe.reset()
    result = jira_site.control("POST", "/_devsite/apps/install",
                               json={"descriptor_url": f"{probe.base_url}/atlassian-connect.json"})
    assert result["status"] in (200, 204), result
    return jira_site


class FrameParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.frames = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "iframe" and "ap-frame" in (attributes.get("class") or "").split():
            self.frames.append(attributes)


def frames_of(html):
    """The app iframes of a page, by module key."""
    parser = FrameParser()
    parser.feed(html)
    return {frame["data-module-key"]: frame for frame in parser.frames}


def page(jira_site, path, account_id, expected=200):
    response = requests.get(jira_site.url + path, cookies={"devsite_user": account_id},
                            allow_redirects=False, timeout=10)
    assert response.status_code == expected, response.text[:500]
    return response.text


def post_form(jira_site, path, account_id, form):
    return requests.post(jira_site.url + path, data=form, cookies={"devsite_user": account_id},
                         allow_redirects=False, timeout=10)


def set_chat_property(jira_site, value):
    response = requests.put(f"{jira_site.url}/rest/api/3/issue/SUP-1/properties/supportchat",
                            json=value, cookies={"devsite_user": "agent-camille"}, timeout=10)
    assert response.status_code in (200, 201), response.text


def query_of(url):
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def load_frame(probe, src):
    """Load an iframe URL as the browser would and return the request line the probe app saw."""
    assert requests.get(src, timeout=10).status_code == 200
    with probe.lock:
        return probe.frame_requests[-1]


def test_glance_hidden_without_property(site):
    frames = frames_of(page(site, "/browse/SUP-1", "agent-camille"))
    assert "chat-glance" not in frames


def test_glance_inverted_shown_without_property(site):
    frames = frames_of(page(site, "/browse/SUP-1", "agent-camille"))
    assert "no-chat-glance" in frames


def test_glance_shown_when_property_holds(site):
    set_chat_property(site, {"enabled": True})
    frames = frames_of(page(site, "/browse/SUP-1", "agent-camille"))
    assert "chat-glance" in frames
    assert "no-chat-glance" not in frames


def test_glance_hidden_when_property_differs(site):
    set_chat_property(site, {"enabled": False})
    frames = frames_of(page(site, "/browse/SUP-1", "agent-camille"))
    assert "chat-glance" not in frames


def test_web_panel_rendered(site):
    frames = frames_of(page(site, "/browse/SUP-1", "agent-camille"))
    assert query_of(frames["side-panel"]["src"])["projectId"] == "10000"


def test_glance_url_context_params(site, probe):
    set_chat_property(site, {"enabled": True})
    src = frames_of(page(site, "/browse/SUP-1", "agent-camille"))["chat-glance"]["src"]
    params = query_of(src)
    site_origin = "{0.scheme}://{0.netloc}".format(urlsplit(site.url))
    assert urlsplit(src).path == "/app/glance"
    assert params["issueKey"] == "SUP-1"
    assert params["projectKey"] == "SUP"
    assert params["xdm_e"] == site_origin
    assert params["xdm_c"]
    assert params["cp"] == urlsplit(site.url).path
    assert params["lic"] == "none"
    assert params["cv"] == "1.1.0"


def test_glance_jwt_matches_url(site, probe):
    set_chat_property(site, {"enabled": True})
    src = frames_of(page(site, "/browse/SUP-1", "agent-camille"))["chat-glance"]["src"]
    request_line = load_frame(probe, src)
    token = query_of(request_line)["jwt"]
    claims = jwt.decode(token, probe.shared_secret, algorithms=["HS256"])
    without_jwt = request_line.split("&jwt=")[0]
    relative = without_jwt[len("/app"):]
    assert claims["qsh"] == hash_url("GET", relative)
    assert claims["iss"] == probe.installed_payloads[-1]["clientKey"]
    assert claims["sub"] == "agent-camille"
    assert claims["exp"] - claims["iat"] == 180
    assert claims["context"]["jira"]["issue"]["key"] == "SUP-1"


def test_portal_hides_internal_comments(site):
    site.control("POST", "/_devsite/actions/comment", json={
        "issue_key": "SUP-1", "author_account_id": "agent-camille", "body": "Visible answer", "public": True})
    site.control("POST", "/_devsite/actions/comment", json={
        "issue_key": "SUP-1", "author_account_id": "agent-camille", "body": "Secret note", "public": False})
    html = page(site, "/servicedesk/customer/portal/1/SUP-1", "cust-alice")
    assert "Visible answer" in html
    assert "Secret note" not in html


# Bodies are wiki markup, shown as Jira Cloud renders them.

ESCAPED_BODY = ("Contrat CTR\\-2026\\-001 \\(du 01/12/2026\\) ; écrivez par e\\-mail.\n"
                "Merci \\! J'attends.")


def body_html(html, marker):
    """Return the rendered body of the comment or description that contains `marker`."""
    match = re.search(r'<div class="body wiki">((?:(?!</div>).)*' + re.escape(marker) + r'.*?)</div>', html, re.S)
    assert match, f"no rendered body contains {marker!r}"
    return match.group(1)


@pytest.mark.parametrize(("path", "account_id"), [("/browse/SUP-1", "agent-camille"),
                                                  ("/servicedesk/customer/portal/1/SUP-1", "cust-alice")])
def test_comment_escapes_rendered(site, path, account_id):
    site.control("POST", "/_devsite/actions/comment", json={
        "issue_key": "SUP-1", "author_account_id": "agent-camille", "body": ESCAPED_BODY, "public": True})
    body = html_module.unescape(body_html(page(site, path, account_id), "CTR"))
    assert "Contrat CTR-2026-001 (du 01/12/2026) ; écrivez par e-mail.<br>Merci ! J'attends." in body
    assert "\\" not in body


def test_description_rendered_on_both_sides(site):
    key = site.control("POST", "/_devsite/actions/request", json={
        "service_desk_id": "1", "request_type_id": "12", "reporter_account_id": "cust-alice", "summary": "Rendu",
        "description": "Activation du contrat CTR\\-1 \\(depuis le 01/12/2026\\)."})["key"]
    for path, account_id in ((f"/browse/{key}", "agent-camille"),
                             (f"/servicedesk/customer/portal/1/{key}", "cust-alice")):
        body = html_module.unescape(body_html(page(site, path, account_id), "Activation"))
        assert "Activation du contrat CTR-1 (depuis le 01/12/2026)." in body


def test_comment_markup_rendered_without_user_html(site):
    body = ("h2. Étapes\n* *gras* et _italique_\n* voir https://example.com/doc. et [la FAQ|https://example.com/faq]\n"
            "<script>alert(1)</script> [piège|javascript:alert(1)] <b onclick=x>b</b>\n"
            "{noformat}\n*pas gras* <i>x</i>\n{noformat}")
    site.control("POST", "/_devsite/actions/comment", json={
        "issue_key": "SUP-1", "author_account_id": "agent-camille", "body": body, "public": True})
    html = body_html(page(site, "/browse/SUP-1", "agent-camille"), "tapes")
    assert '<h4 class="wiki-heading">Étapes</h4>' in html
    assert "<ul><li><strong>gras</strong> et <em>italique</em></li>" in html
    assert '<a href="https://example.com/doc" rel="nofollow noopener">https://example.com/doc</a>.' in html
    assert '<a href="https://example.com/faq" rel="nofollow noopener">la FAQ</a>' in html
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="javascript' not in html
    assert "[piège|javascript:alert(1)]" in html
    assert "<b onclick" not in html
    assert "<pre>*pas gras* &lt;i&gt;x&lt;/i&gt;</pre>" in html


def test_agent_sees_internal_marked(site):
    site.control("POST", "/_devsite/actions/comment", json={
        "issue_key": "SUP-1", "author_account_id": "agent-camille", "body": "Secret note", "public": False})
    html = page(site, "/browse/SUP-1", "agent-camille")
    assert "Secret note" in html
    assert ">Internal<" in html


def test_customer_blocked_from_other_org(site):
    response = requests.get(site.url + "/servicedesk/customer/portal/1/SUP-2",
                            cookies={"devsite_user": "cust-alice"}, timeout=10)
    assert response.status_code in (403, 404)


def test_customer_sees_own_org_request(site):
    page(site, "/servicedesk/customer/portal/1/SUP-1", "cust-bruno")


def test_customer_blocked_from_agent_view(site):
    page(site, "/browse/SUP-1", "cust-alice", expected=403)


def test_anonymous_redirected_to_login(site):
    response = requests.get(site.url + "/browse/SUP-1", allow_redirects=False, timeout=10)
    assert response.status_code == 302
    assert "/login?next=" in response.headers["Location"]


def test_portal_panel_servicedesk_variables(site):
    src = frames_of(page(site, "/servicedesk/customer/portal/1/SUP-1", "cust-alice"))["request-panel"]["src"]
    params = query_of(src)
    assert params["sdKey"] == "SUP-1"
    assert params["sdDesk"] == "1"
    assert params["reqKey"] == ""
    assert params["reqDesk"] == ""
    assert params["unbound"] == ""


def test_portal_panel_request_variables(site):
    site.control("PUT", "/_devsite/switches", json={"jsm_context_params": "request"})
    src = frames_of(page(site, "/servicedesk/customer/portal/1/SUP-1", "cust-alice"))["request-panel"]["src"]
    params = query_of(src)
    assert params["sdKey"] == ""
    assert params["sdDesk"] == ""
    assert params["reqKey"] == "SUP-1"
    assert params["reqDesk"] == "1"


def test_portal_panel_jwt_subject_is_customer(site, probe):
    src = frames_of(page(site, "/servicedesk/customer/portal/1/SUP-1", "cust-alice"))["request-panel"]["src"]
    request_line = load_frame(probe, src)
    claims = jwt.decode(query_of(request_line)["jwt"], probe.shared_secret, algorithms=["HS256"])
    assert claims["sub"] == "cust-alice"
    assert claims["qsh"] == hash_url("GET", request_line.split("&jwt=")[0][len("/app"):])


def test_footer_on_listed_pages_only(site):
    assert "portal-footer" in frames_of(page(site, "/servicedesk/customer/portal/1", "cust-alice"))
    assert "portal-footer" not in frames_of(page(site, "/servicedesk/customer/portals", "cust-alice"))


def test_context_token_endpoint(site, probe):
    response = requests.get(site.url + "/_devsite/context-token",
                            params={"app": PROBE_KEY, "module": "request-panel", "issueKey": "SUP-1"},
                            cookies={"devsite_user": "cust-alice"}, timeout=10)
    assert response.status_code == 200
    claims = jwt.decode(response.json()["token"], probe.shared_secret, algorithms=["HS256"])
    assert claims["qsh"] == "context-qsh"
    assert claims["iss"] == probe.installed_payloads[-1]["clientKey"]
    assert claims["sub"] == "cust-alice"
    assert claims["exp"] - claims["iat"] == 900


def test_context_token_hidden_issue(site):
    response = requests.get(site.url + "/_devsite/context-token",
                            params={"app": PROBE_KEY, "module": "request-panel", "issueKey": "SUP-2"},
                            cookies={"devsite_user": "cust-alice"}, timeout=10)
    assert response.status_code == 404


def test_context_token_unknown_module(site):
    response = requests.get(site.url + "/_devsite/context-token",
                            params={"app": PROBE_KEY, "module": "no-such-module"},
                            cookies={"devsite_user": "cust-alice"}, timeout=10)
    assert response.status_code == 404


def test_admin_page_needs_admin(site):
    page(site, f"/plugins/servlet/ac/{PROBE_KEY}/admin-page", "agent-camille", expected=403)


def test_admin_page_for_admin(site):
    frames = frames_of(page(site, f"/plugins/servlet/ac/{PROBE_KEY}/admin-page", "admin-lea"))
    assert urlsplit(frames["admin-page"]["src"]).path == "/app/admin"


def test_disabled_app_not_rendered(site):
    site.control("POST", f"/_devsite/apps/{PROBE_KEY}/disable")
    assert frames_of(page(site, "/browse/SUP-1", "agent-camille")) == {}


def test_login_sets_session_cookie(site):
    response = requests.get(site.url + "/login", params={"as": "cust-alice", "next": "/servicedesk/customer/portals"},
                            allow_redirects=False, timeout=10)
    cookie = response.headers["Set-Cookie"]
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/servicedesk/customer/portals")
    assert "devsite_user=cust-alice" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_login_page_sets_language(site):
    html = page(site, "/login", "cust-bruno")
    assert 'name="locale"' in html
    response = post_form(site, "/login/locale", "cust-bruno",
                         {"account_id": "cust-bruno", "locale": "en_US", "next": "/servicedesk/customer/portals"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login?next=/servicedesk/customer/portals")
    assert '<option value="en_US" selected>English (en_US)</option>' in page(site, "/login", "cust-bruno")
    bad = post_form(site, "/login/locale", "cust-bruno", {"account_id": "cust-bruno", "locale": "english"})
    assert bad.status_code == 400


def test_login_rejects_foreign_next(site):
    response = requests.get(site.url + "/login", params={"as": "cust-alice", "next": "//evil.example/"},
                            allow_redirects=False, timeout=10)
    assert "evil.example" not in response.headers["Location"]


def test_portal_comment_is_public(site):
    response = post_form(site, "/servicedesk/customer/portal/1/SUP-1/comment", "cust-alice", {"body": "Merci"})
    issue = site.control("GET", "/_devsite/issues/SUP-1")
    assert response.status_code == 302
    assert [c["public"] for c in issue["comments"] if c["body"] == "Merci"] == [True]


def test_agent_internal_note(site):
    response = post_form(site, "/browse/SUP-1/comment", "agent-camille",
                         {"body": "Note for the team", "visibility": "internal"})
    issue = site.control("GET", "/_devsite/issues/SUP-1")
    assert response.status_code == 302
    assert [c["public"] for c in issue["comments"] if c["body"] == "Note for the team"] == [False]


def test_transition_to_resolved_needs_resolution(site):
    response = post_form(site, "/browse/SUP-1/transition", "agent-camille", {"to_status": "Resolved"})
    assert response.status_code == 400


def test_transition_to_resolved(site):
    post_form(site, "/browse/SUP-1/transition", "agent-camille", {"to_status": "Resolved", "resolution": "Done"})
    issue = site.control("GET", "/_devsite/issues/SUP-1")
    assert issue["status"] == "Resolved"


def test_create_request_from_portal(site):
    response = post_form(site, "/servicedesk/customer/portal/1/create/10", "cust-alice",
                         {"summary": "Chat test", "description": "", "share_with": "1"})
    assert response.status_code == 302
    key = response.headers["Location"].rsplit("/", 1)[1]
    issue = site.control("GET", f"/_devsite/issues/{key}")
    assert issue["channel"] == "portal"


def test_foreign_origin_post_rejected(site):
    response = requests.post(site.url + "/browse/SUP-1/comment", data={"body": "x", "visibility": "public"},
                             cookies={"devsite_user": "agent-camille"}, headers={"Origin": "http://evil.example"},
                             allow_redirects=False, timeout=10)
    assert response.status_code == 403


def test_home_lists_installed_app(site):
    html = page(site, "/", "agent-camille")
    assert PROBE_KEY in html


def test_all_js_served(site):
    response = requests.get(site.url + "/_devsite/all.js", timeout=10)
    assert response.status_code == 200
    assert "window.AP" in response.text


@pytest.fixture(scope="module")
def site_under_path(probe):
    """A second local site, served under the base path /jira, with the probe app installed."""
    jira = DevSite(base_path="/jira")
    try:
        result = jira.control("POST", "/_devsite/apps/install",
                              json={"descriptor_url": f"{probe.base_url}/atlassian-connect.json"})
        assert result["status"] in (200, 204), result
        jira.probe_secret = probe.shared_secret
        yield jira
    finally:
        jira.stop()


def test_base_path_frame_signed(site_under_path, probe):
    html = page(site_under_path, "/servicedesk/customer/portal/1/SUP-1", "cust-alice")
    request_line = load_frame(probe, frames_of(html)["request-panel"]["src"])
    claims = jwt.decode(query_of(request_line)["jwt"], site_under_path.probe_secret, algorithms=["HS256"])
    assert query_of(request_line)["cp"] == "/jira"
    assert claims["qsh"] == hash_url("GET", request_line.split("&jwt=")[0][len("/app"):])


def test_base_path_login_redirect(site_under_path):
    response = requests.get(site_under_path.url + "/browse/SUP-1", allow_redirects=False, timeout=10)
    assert urlsplit(response.headers["Location"]).path == "/jira/login"
    assert parse_qs(urlsplit(response.headers["Location"]).query)["next"] == ["/jira/browse/SUP-1"]


def test_base_path_cookie_scoped(site_under_path):
    response = requests.get(site_under_path.url + "/login", params={"as": "cust-alice", "next": "/jira/"},
                            allow_redirects=False, timeout=10)
    assert "Path=/jira" in response.headers["Set-Cookie"]
