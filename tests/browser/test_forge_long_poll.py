"""The chat in Forge mode when the websocket cannot open: it long-polls through invokeRemote.

Two causes are tried. The local site's Forge host leaves the add-on out of the pages'
connect-src, so Chromium blocks the websocket as a Content-Security-Policy without the remote's
wss:// address would. Or every call for a socket ticket fails, as when the remote does not respond
to it. Either way, messages still go both ways through invokeRemote alone.
"""

import json

import pytest
from playwright.sync_api import expect

from tests.browser.test_chat_journey import REPLY, comments_of, log_entry, send, start_chat
from tests.browser.test_forge_journey import (  # noqa: F401 (forge_addon is a fixture)
    AGENT,
    AGENT_FRAME,
    CUSTOMER,
    FOLLOW_UP,
    FOOTER_FRAME,
    PORTAL_PAGE,
    WAIT_MS,
    forge_addon,
)

pytestmark = pytest.mark.browser

POLLING = ".chat-status[data-state='polling']"
TICKET_PATH = "/forge/ui/socket-ticket"


def _fail_ticket_calls(route):
    # The host page runs invokeRemote through this route; a "rejected" response rejects the bridge's promise.
    call = route.request.post_data_json or {}
    if str(call.get("path", "")).startswith(TICKET_PATH):
        route.fulfill(status=200, content_type="application/json",
                      body=json.dumps({"rejected": "The remote timed out: no response within 25 s."}))
    else:
        route.continue_()


def _page(browser, jira_site, account_id, path, cause, sockets):
    """A logged-in page at `path` that records the websockets it opens, with ticket calls failing
    from the start when `cause` is "ticket"."""
    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    if cause == "ticket":
        context.route("**/_devsite/forge/host/invoke", _fail_ticket_calls)
    page = context.new_page()
    page.on("websocket", lambda socket: sockets.append(socket.url))
    page.goto(f"{jira_site.url}/login?as={account_id}&next={path}")
    return page


@pytest.mark.parametrize("cause", ["csp", "ticket"])
def test_forge_chat_long_polls_without_websocket(browser, jira_site, forge_addon, cause):
    if cause == "csp":
        settings = jira_site.control("PUT", "/_devsite/forge/host/settings", json={"remotes_in_connect_src": False})
        assert settings == {"remotes_in_connect_src": False}
    sockets = []

    customer = _page(browser, jira_site, CUSTOMER, PORTAL_PAGE, cause, sockets)
    issue_key = start_chat(customer, FOOTER_FRAME)
    footer = customer.frame_locator(FOOTER_FRAME)
    expect(footer.locator(POLLING)).to_have_count(1, timeout=WAIT_MS)

    agent = _page(browser, jira_site, AGENT, f"/_devsite/forge/host/issue/{issue_key}", cause, sockets)
    panel = agent.frame_locator(AGENT_FRAME)
    expect(panel.locator(POLLING)).to_have_count(1, timeout=WAIT_MS)

    send(panel, REPLY)
    expect(log_entry(footer, REPLY)).to_have_count(1, timeout=WAIT_MS)
    send(footer, FOLLOW_UP)
    expect(log_entry(panel, FOLLOW_UP)).to_have_count(1, timeout=WAIT_MS)

    assert sockets == []
    comments = comments_of(jira_site, issue_key, 2)
    assert (AGENT, REPLY, True) in comments
    assert (CUSTOMER, FOLLOW_UP, True) in comments
