"""The chat journey in Forge mode: the built Custom UI resources in the local site's Forge host
pages, with the real @forge/bridge, invokeRemote to the add-on and its websocket by ticket.

The key user starts a chat in the portal's footer module and the agent replies from the issue
panel module. The key user sees the reply, and Jira's comments are authored by the real people.
"""

import re

import pytest
import requests
from playwright.sync_api import expect

from addon import create_app
from addon.atlassian.forge.tenancy import forge_client_key
from tests.browser.test_chat_journey import (
    REPLY,
    comments_of,
    frame_of,
    log_entry,
    logged_in_page,
    send,
    start_chat,
)
from tests.conftest import addon_overrides
from tests.forge_support import APP_ID, forge_overrides, mint
from tests.subscriptions import grant_defaults
from tests.support import ROOT_DIR, AddonServer, free_port, require_service

pytestmark = pytest.mark.browser

CUSTOMER = "cust-alice"
AGENT = "agent-camille"
CLOUD_ID = "devsite-cloud-0001"
PORTAL_PAGE = "/_devsite/forge/host/portal"
FOOTER_FRAME = "iframe.forge-frame[data-module-key='chat-launcher']"
AGENT_FRAME = "iframe.forge-frame[data-module-key='chat-agent']"
WAIT_MS = 30_000
FOLLOW_UP = "Merci, la facture F-2024-118 est jointe."
BUILT_PAGES = [ROOT_DIR / "forge" / "static" / name / "bootstrap.js" for name in ("forge-portal", "forge-agent")]


def frame_height(page, selector):
    """Return the height in CSS pixels of the iframe matching `selector`, without its border."""
    return page.locator(selector).evaluate("element => element.clientHeight")


def assert_sized_to_content(page, selector):
    """Wait until the host page has set the iframe's height to its document's height."""
    content_height = frame_of(page, selector).evaluate(
        "Math.ceil(document.documentElement.getBoundingClientRect().height)")
    page.wait_for_function("([selector, height]) => document.querySelector(selector).clientHeight === height",
                           arg=[selector, content_height], timeout=WAIT_MS)


@pytest.fixture
def forge_addon(jira_site, tmp_path):
    """The add-on with Forge on, installed on the local site as a Forge app, its key users granted."""
    require_service(all(path.is_file() for path in BUILT_PAGES), "the built Custom UI pages in forge/static",
                    "run cd forge && npm ci --ignore-scripts && npm run build")
    port = free_port()
    database_url = f"sqlite:///{tmp_path / 'addon.sqlite3'}"
    overrides = addon_overrides(database_url, jira_site, port, tmp_path, LONG_POLL_SECS=15,
                                **forge_overrides(jira_site))
    server = AddonServer(create_app(overrides), port)
    try:
        installed = jira_site.control("POST", "/_devsite/forge/app/install",
                                      json={"remote_url": server.url, "app_id": APP_ID})
        assert all(result["status"] == 200 for result in installed["lifecycle"]), installed
        # The site's tenant row is made by its first call from a UI module; its key users are then granted.
        minted = mint(jira_site, principal=CUSTOMER)
        first = requests.get(server.url + "/api/me", headers=minted["headers"], timeout=30)
        assert first.status_code == 200, first.text
        grant_defaults(server.app, forge_client_key(CLOUD_ID))
        yield server
    finally:
        server.stop()


def test_forge_chat_journey(browser, jira_site, forge_addon):
    customer = logged_in_page(browser, jira_site.url, CUSTOMER, PORTAL_PAGE)
    customer.set_default_timeout(WAIT_MS)
    expect(customer.locator(FOOTER_FRAME)).to_have_attribute("data-content-height", re.compile(r"^\d+$"))
    launcher = customer.frame_locator(FOOTER_FRAME).get_by_role("button", name="Démarrer une discussion")
    expect(launcher).to_be_visible()
    assert_sized_to_content(customer, FOOTER_FRAME)
    launcher_height = frame_height(customer, FOOTER_FRAME)
    issue_key = start_chat(customer, FOOTER_FRAME)
    footer = customer.frame_locator(FOOTER_FRAME)
    expect(log_entry(footer, "Version 12.3")).to_have_count(1, timeout=WAIT_MS)

    issue = jira_site.control("GET", f"/_devsite/issues/{issue_key}")
    assert issue["reporter"] == CUSTOMER
    assert issue["properties"]["supportchat"]["enabled"] == "true"

    agent = logged_in_page(browser, jira_site.url, AGENT, f"/_devsite/forge/host/issue/{issue_key}")
    agent.set_default_timeout(WAIT_MS)
    panel = agent.frame_locator(AGENT_FRAME)
    expect(log_entry(panel, "Version 12.3")).to_have_count(1, timeout=WAIT_MS)

    send(panel, REPLY)
    expect(log_entry(footer, REPLY)).to_have_count(1, timeout=WAIT_MS)

    send(footer, FOLLOW_UP)
    expect(log_entry(panel, FOLLOW_UP)).to_have_count(1, timeout=WAIT_MS)
    assert_sized_to_content(customer, FOOTER_FRAME)
    assert frame_height(customer, FOOTER_FRAME) > launcher_height
    reply_box = footer.get_by_label("Écrire un message").bounding_box()
    frame_box = customer.locator(FOOTER_FRAME).bounding_box()
    assert reply_box["y"] + reply_box["height"] <= frame_box["y"] + frame_box["height"]

    comments = comments_of(jira_site, issue_key, 2)
    assert (AGENT, REPLY, True) in comments
    assert (CUSTOMER, FOLLOW_UP, True) in comments
