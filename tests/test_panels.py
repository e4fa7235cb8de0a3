"""The iframe pages over real HTTP: JWT required (computed qsh only), language, escaping, framing.

Most tests install a site by storing it through addon.atlassian.installations and sign the iframe
URLs themselves, as Jira would, with the qsh from Atlassian's reference library `atlassian_jwt`.
The `*_site_*` tests install through the local Jira site and load the iframe URLs it signs.
"""

import html
import json
import re
import time
from urllib.parse import quote, urlencode

import jwt
import pytest
import requests
from atlassian_jwt.url_utils import hash_url

from addon import create_app
from addon.atlassian.installations import get_installation, save_install, shared_secret_of
from addon.web.panels import page_strings

from .conftest import TEST_SECRET_KEY
from .support import AddonServer, free_port

CLIENT_KEY = "panel-test-client-key"
SHARED_SECRET = "panel-test-shared-secret-0123456789abcdef"
SITE_URL = "http://127.0.0.1:2990"
ALL_JS_URL = f"{SITE_URL}/_devsite/all.js"

# The parameters Jira appends to every iframe URL; the add-on must hash them but never trust them.
JIRA_CONTEXT = urlencode({"xdm_e": SITE_URL, "xdm_c": "channel-chat", "cp": "", "lic": "none", "cv": "1.1.0"})

# (module URL as Jira fills it in, French title, English title)
PAGES = [
    ("/portal/request-panel?requestKey=SUP-3&requestId=10003&serviceDeskId=1&rk=&rid=&sdid=",
     "Discussion avec le support", "Chat with support"),
    ("/portal/footer", "Besoin d'aide ? Discutez avec le support", "Need help? Chat with support"),
    ("/agent/issue-panel?issueKey=SUP-1&issueId=10001&projectKey=SUP",
     "Discussion avec l'utilisateur clé", "Chat with the key user"),
    ("/agent/dashboard?projectKey=SUP", "Discussions en direct", "Live chats"),
]
PAGE_IDS = [url.split("?")[0] for url, _, _ in PAGES]
# The settings pages ask Jira whether the viewer is an admin, so they are tested against the local
# Jira site (test_admin_page_*), not against the offline server of the other page tests.
ADMIN_PAGES = ["/admin/project-settings?projectKey=SUP", "/admin/settings", "/admin/configure"]


def with_params(url, extra):
    if not extra:
        return url
    return f"{url}{'&' if '?' in url else '?'}{extra}"


def sign(url, client_key=CLIENT_KEY, secret=SHARED_SECRET, account_id="cust-alice", qsh=None):
    """Return `url` (relative to the add-on's baseUrl) with a `jwt` as Jira signs iframe URLs."""
    now = int(time.time())
    claims = {
        "iss": client_key,
        "iat": now,
        "exp": now + 180,
        "qsh": qsh if qsh is not None else hash_url("GET", url),
        "context": {},
    }
    if account_id:
        claims["sub"] = account_id
    token = jwt.encode(claims, secret, algorithm="HS256")
    return with_params(url, f"jwt={token}")


def page_url(url, extra=""):
    """A module URL as Jira loads it: Jira's context parameters, then anything in `extra`."""
    return with_params(with_params(url, JIRA_CONTEXT), extra)


def text_of(response):
    return html.unescape(response.text)


def start_panel_server(database_url, instance_dir):
    """Start the add-on on loopback with one installed site, whose shared secret is SHARED_SECRET."""
    port = free_port()
    app = create_app({
        "ADDON_ENV": "test",
        "ADDON_BASE_URL": f"http://127.0.0.1:{port}",
        "ADDON_SECRET_KEY": TEST_SECRET_KEY,
        "DATABASE_URL": database_url,
        "AUTO_MIGRATE": True,
        "INSTANCE_DIR": str(instance_dir),
        "CONNECT_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CONNECT_ALL_JS_URL": ALL_JS_URL,
        "ADDON_FRAME_ANCESTORS": SITE_URL,
    })
    with app.app_context():
        save_install(
            {"key": app.config["ADDON_KEY"], "clientKey": CLIENT_KEY, "baseUrl": SITE_URL,
             "sharedSecret": SHARED_SECRET, "productType": "jira"},
            token_iat=int(time.time()),
        )
    return AddonServer(app, port)


@pytest.fixture(scope="module")
def panel_server(tmp_path_factory):
    """One server for the module's read-only page tests, on SQLite. A server per test would cost
    half a second each, because werkzeug's serve_forever checks for shutdown every 0.5 s."""
    directory = tmp_path_factory.mktemp("panels")
    server = start_panel_server(f"sqlite:///{directory / 'addon.sqlite3'}", directory / "instance")
    yield server
    server.stop()


def get(server, url):
    return requests.get(server.url + url, timeout=10)


@pytest.mark.parametrize("url, french, english", PAGES, ids=PAGE_IDS)
def test_panel_signed_ok(panel_server, url, french, english):
    response = get(panel_server, sign(page_url(url)))
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("url, french, english", PAGES, ids=PAGE_IDS)
def test_panel_french_default(panel_server, url, french, english):
    response = get(panel_server, sign(page_url(url)))
    assert '<html lang="fr">' in response.text
    assert french in text_of(response)


@pytest.mark.parametrize("url, french, english", PAGES, ids=PAGE_IDS)
def test_panel_english_lang(panel_server, url, french, english):
    response = get(panel_server, sign(page_url(url, "lang=en")))
    assert '<html lang="en">' in response.text
    assert english in text_of(response)


@pytest.mark.parametrize("url", [url for url, _, _ in PAGES], ids=PAGE_IDS)
def test_panel_without_jwt(panel_server, url):
    response = get(panel_server, page_url(url))
    assert response.status_code == 401


@pytest.mark.parametrize("url", [url for url, _, _ in PAGES], ids=PAGE_IDS)
def test_panel_context_qsh(panel_server, url):
    response = get(panel_server, sign(page_url(url), qsh="context-qsh"))
    assert response.status_code == 401


def test_panel_other_url_token(panel_server):
    # A token Jira signed for the footer must not open the agent's panel.
    footer_token = sign(page_url("/portal/footer")).rsplit("jwt=", 1)[1]
    other_url = with_params(page_url("/agent/issue-panel?issueKey=SUP-1"), f"jwt={footer_token}")
    response = get(panel_server, other_url)
    assert response.status_code == 401


def test_panel_unknown_site(panel_server):
    response = get(panel_server, sign(page_url("/portal/footer"), client_key="another-site"))
    assert response.status_code == 401


def test_panel_escapes_params(panel_server):
    url = "/agent/dashboard?projectKey=" + quote("<script>alert(1)</script>")
    response = get(panel_server, sign(page_url(url)))
    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


def test_panel_frame_ancestors(panel_server):
    response = get(panel_server, sign(page_url("/portal/footer")))
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors" in policy
    assert SITE_URL in policy


def test_panel_no_frame_options(panel_server):
    # X-Frame-Options would stop Jira from framing the page, whatever the CSP allows.
    response = get(panel_server, sign(page_url("/portal/footer")))
    assert "X-Frame-Options" not in response.headers


def test_panel_shows_verified_context(panel_server):
    response = get(panel_server, sign(page_url("/portal/footer"), account_id="cust-chloe"))
    assert SITE_URL in response.text
    assert "cust-chloe" in response.text


def test_panel_ignores_xdm_e(panel_server):
    # xdm_e names the host page for the postMessage bridge; the site shown comes from the token.
    url = page_url("/portal/footer").replace(quote(SITE_URL, safe=""), quote("https://evil.example", safe=""))
    response = get(panel_server, sign(url))
    assert response.status_code == 200
    assert "evil.example" not in response.text


def test_panel_anonymous_viewer(panel_server):
    response = get(panel_server, sign(page_url("/portal/footer"), account_id=None))
    assert response.status_code == 200
    assert "Visiteur anonyme" in response.text


def test_panel_loads_connect_scripts(panel_server):
    response = get(panel_server, sign(page_url("/portal/footer")))
    assert f'<script src="{ALL_JS_URL}"></script>' in response.text
    assert "/static/panel.js" in response.text
    assert "/static/chat.css" in response.text
    assert '<div class="ac-content">' in response.text
    assert 'aria-live="polite"' in response.text


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_admin_page_for_admin(installed_addon, addon_server, url):
    with addon_server.app.app_context():
        secret = shared_secret_of(get_installation(installed_addon))

    response = get(addon_server, sign(page_url(url), client_key=installed_addon, secret=secret, account_id="admin-lea"))
    assert response.status_code == 200, response.text
    assert '<html lang="fr">' in response.text


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_admin_page_refuses_customer(installed_addon, addon_server, url):
    with addon_server.app.app_context():
        secret = shared_secret_of(get_installation(installed_addon))

    response = get(addon_server, sign(page_url(url), client_key=installed_addon, secret=secret, account_id="cust-alice"))
    assert response.status_code == 403


def test_full_pages_size_to_parent(panel_server):
    response = get(panel_server, sign(page_url("/agent/dashboard?projectKey=SUP")))
    assert 'data-options="sizeToParent:true"' in response.text


def test_request_panel_short_names(panel_server):
    url = "/portal/request-panel?requestKey=&requestId=&serviceDeskId=&rk=SUP-2&rid=10002&sdid=1"
    response = get(panel_server, sign(page_url(url)))
    assert 'data-request-key="SUP-2"' in response.text
    assert 'data-request-id="10002"' in response.text


def test_request_panel_no_request(panel_server):
    # With no request in the URL, the page leaves the item hidden for panel.js to fill in.
    url = "/portal/request-panel?requestKey=&requestId=&serviceDeskId=&rk=&rid=&sdid="
    response = get(panel_server, sign(page_url(url)))
    assert response.status_code == 200
    assert 'data-request-key="" data-request-id="" data-service-desk-id="" hidden' in response.text


def test_panel_each_database(database_url, tmp_path):
    server = start_panel_server(database_url, tmp_path / "instance")
    try:
        response = get(server, sign(page_url("/agent/issue-panel?issueKey=SUP-1&projectKey=SUP")))
    finally:
        server.stop()
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("name", ["chat.css", "panel.js", "chat.svg"])
def test_static_assets_served(panel_server, name):
    response = get(panel_server, f"/static/{name}")
    assert response.status_code == 200


def test_panel_after_site_install(installed_addon, addon_server, jira_site):
    with addon_server.app.app_context():
        secret = shared_secret_of(get_installation(installed_addon))

    url = sign(page_url("/portal/footer"), client_key=installed_addon, secret=secret)
    response = get(addon_server, url)
    assert response.status_code == 200, response.text
    assert jira_site.url in response.text


def portal_frame_urls(jira_site, account_id, path):
    """Return the iframe URLs, signed by the local Jira site, on its portal page `path`."""
    session = requests.Session()
    session.get(f"{jira_site.url}/login", params={"as": account_id, "next": path}, timeout=10)
    page = session.get(jira_site.url + path, timeout=10)
    assert page.status_code == 200, page.text[:500]
    return [html.unescape(src) for src in re.findall(r'<iframe class="ap-frame" src="([^"]+)"', page.text)]


@pytest.mark.parametrize("spelling", ["servicedesk", "request"])
def test_request_panel_site_signed(installed_addon, addon_server, jira_site, spelling):
    jira_site.control("PUT", "/_devsite/switches", json={"jsm_context_params": spelling})
    urls = portal_frame_urls(jira_site, "cust-alice", "/servicedesk/customer/portal/1/SUP-1")
    [panel_url] = [url for url in urls if "/portal/request-panel" in url]

    response = requests.get(panel_url, timeout=10)
    assert response.status_code == 200, response.text
    assert 'data-request-key="SUP-1"' in response.text
    assert "cust-alice" in response.text


def test_footer_site_signed(installed_addon, addon_server, jira_site):
    urls = portal_frame_urls(jira_site, "cust-chloe", "/servicedesk/customer/portal/1")
    [footer_url] = [url for url in urls if "/portal/footer" in url]

    response = requests.get(footer_url, timeout=10)
    assert response.status_code == 200, response.text
    assert "cust-chloe" in response.text


# One language per page: every text the page shows is in its string tables, in both languages.

# Texts that read the same in French and English.
SAME_IN_BOTH = {"impact", "impact_question", "organization", "support", "system", "admin_state_active"}


def page_dictionaries(response):
    """Return {language: {key: text}} embedded in the page's <script id="chat-strings">."""
    match = re.search(r'<script type="application/json" id="chat-strings"[^>]*>(.*?)</script>', response.text, re.S)
    assert match, "the page embeds no string table"
    return json.loads(match.group(1))


def marked_keys(response):
    """Return the keys of every data-i18n and data-i18n-attr mark of the page."""
    keys = set(re.findall(r'data-i18n="([^"]+)"', response.text))
    for marks in re.findall(r'data-i18n-attr="([^"]+)"', response.text):
        keys |= {pair.split(":")[1].strip() for pair in marks.split(";")}
    return keys


def admin_page(installed_addon, addon_server, url, extra="", account_id="admin-lea"):
    with addon_server.app.app_context():
        secret = shared_secret_of(get_installation(installed_addon))
    return get(addon_server, sign(page_url(url, extra), client_key=installed_addon, secret=secret,
                                  account_id=account_id))


@pytest.mark.parametrize("url, french, english", PAGES[:3], ids=PAGE_IDS[:3])
def test_chat_page_marks_translated(panel_server, url, french, english):
    response = get(panel_server, sign(page_url(url)))
    dictionaries = page_dictionaries(response)
    assert set(dictionaries) == {"fr", "en"}
    assert marked_keys(response) <= set(dictionaries["fr"])
    assert marked_keys(response) <= set(dictionaries["en"])


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_admin_page_marks_translated(installed_addon, addon_server, url):
    response = admin_page(installed_addon, addon_server, url)
    dictionaries = page_dictionaries(response)
    keys = marked_keys(response)
    assert keys, "the settings page marks no text for the language switch"
    assert keys <= set(dictionaries["fr"])
    assert keys <= set(dictionaries["en"])


def test_admin_page_every_text_marked(installed_addon, addon_server):
    # Each server-rendered text of the settings page is marked, so the switch leaves no French behind.
    response = admin_page(installed_addon, addon_server, "/admin/settings")
    english = set(page_dictionaries(response)["en"].values())
    body = response.text.split("<body", 1)[1]
    unmarked = re.findall(r'<(?:h1|h2|h3|label|legend|button|p|option)(?![^>]*data-i18n)[^>]*>([^<]+)<', body)
    assert [text for text in unmarked if text.strip()] == []
    assert "Not yet active" in english


def test_admin_strings_english_complete(panel_server):
    # The chat's and the subscription screens' tables: every text has its English translation.
    with panel_server.app.test_request_context("/admin/settings"):
        dictionaries = page_strings(("panels/chat_strings.html", "panels/admin_strings.html"))
    assert set(dictionaries["fr"]) == set(dictionaries["en"])
    same = {key for key, text in dictionaries["fr"].items() if dictionaries["en"][key] == text}
    # Texts left the same must be words of both languages, or placeholders with short units ({n} min).
    words = {key for key in same if re.search(r"[^\W\d_]{4,}", re.sub(r"\{\w+\}", "", dictionaries["fr"][key]))}
    assert words == SAME_IN_BOTH


def test_admin_strings_state_wording(installed_addon, addon_server):
    dictionaries = page_dictionaries(admin_page(installed_addon, addon_server, "/admin/settings"))
    assert dictionaries["fr"]["admin_state_never_activated"] == "À activer"
    assert dictionaries["en"]["admin_state_never_activated"] == "Not yet active"
    assert dictionaries["en"]["admin_state_suspended"] == "Suspended"


def test_page_strings_guide_urls(panel_server):
    dictionaries = page_dictionaries(get(panel_server, sign(page_url("/portal/footer"))))
    assert dictionaries["fr"]["rules_url"] == "/guide/rules?lang=fr"
    assert dictionaries["en"]["rules_url"] == "/guide/rules?lang=en"
    assert dictionaries["en"]["guide_url"] == "/guide?lang=en"


def test_chat_page_keeps_admin_strings_out(panel_server):
    # The chat pages carry only the chat's texts; the settings pages add theirs.
    dictionaries = page_dictionaries(get(panel_server, sign(page_url("/portal/footer"))))
    assert not [key for key in dictionaries["fr"] if key.startswith("admin_")]


def test_footer_refusal_lists_channels(panel_server):
    response = get(panel_server, sign(page_url("/portal/footer")))
    refusal = response.text.split('data-view="refusal"', 1)[1].split("</section>", 1)[0]
    assert f'href="{SITE_URL}/servicedesk/customer/portals"' in refusal
    assert 'href="/guide/rules?lang=fr"' in refusal
    assert "Lire les règles d'utilisation de la discussion" in html.unescape(refusal)
    assert "data-refusal-email-item hidden" in refusal


def test_request_panel_refusal_lists_rules(panel_server):
    url = "/portal/request-panel?requestKey=SUP-3&requestId=10003&serviceDeskId=1&rk=&rid=&sdid="
    response = get(panel_server, sign(page_url(url, "lang=en")))
    refusal = response.text.split("data-refusal hidden", 1)[1].split("</div>", 1)[0]
    assert 'href="/guide/rules?lang=en"' in refusal
    assert "Read the chat's usage rules" in html.unescape(refusal)
    assert f'href="{SITE_URL}/servicedesk/customer/portals"' in refusal


def test_admin_page_outcome_below_each_form(installed_addon, addon_server):
    # Each form or group of buttons has its own status line and alert line right below it, so
    # that a result shows next to the control that caused it.
    response = admin_page(installed_addon, addon_server, "/admin/settings")
    outcomes = re.findall(r'<div class="admin-outcome" data-admin-outcome="([^"]+)">\s*'
                          r'<p class="form-status" role="status" aria-live="polite"></p>\s*'
                          r'<p class="chat-form-error" role="alert" hidden></p>', response.text)
    assert outcomes == ["organizations", "save", "status", "key-users", "import", "audit"]
    for form in ("data-site-settings-form", "data-sla-calendar-form", "data-sla-import-form", "data-sla-policies-form"):
        section = response.text.split(form, 1)[1].split("</form>", 1)[0]
        assert 'role="status"' in section, form


def test_site_settings_email_hint(installed_addon, addon_server):
    response = admin_page(installed_addon, addon_server, "/admin/settings", "lang=en")
    assert "data-settings-email-missing" in response.text
    assert "customers refused the chat will see no support e-mail address" in html.unescape(response.text)


def test_site_settings_solution_workflow(installed_addon, addon_server):
    # The three statuses of the solution workflow, each with a hint that gives its default.
    text = html.unescape(admin_page(installed_addon, addon_server, "/admin/settings", "lang=en").text)
    assert '<select id="settings-solution-status" name="solution_status"' in text
    assert '<input id="settings-solution-resolution" name="solution_resolution"' in text
    assert '<select id="settings-reopen-status" name="reopen_status"' in text
    assert "Default: “Resolved”, else the first status of category Done." in text
    assert "Empty: “Done”, else the first value the transition allows." in text
    assert "Default: “Waiting for support”." in text
