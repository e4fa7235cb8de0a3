"""Closing a chat with "Retour" and opening it again in the portal footer, in Chromium: the old
socket ends without a websocket error, and an agent's message reaches the reopened chat."""

import pytest
from playwright.sync_api import expect

from tests.browser.test_chat_journey import FOOTER_FRAME, PORTAL, WAIT_MS, log_entry, logged_in_page, start_chat

pytestmark = pytest.mark.browser

CUSTOMER = "cust-alice"
AGENT = "agent-camille"
REPLY = "Bonjour Alice, je regarde la facture."


def test_reopen_socket_closes_cleanly(browser, jira_site, chat_addon):
    customer = logged_in_page(browser, jira_site.url, CUSTOMER, PORTAL)
    sockets = []
    socket_errors = []

    def track(websocket):
        sockets.append(websocket)
        websocket.on("socketerror", lambda error: socket_errors.append((websocket.url, error)))

    customer.on("websocket", track)
    issue_key = start_chat(customer)
    footer = customer.frame_locator(FOOTER_FRAME)
    expect(log_entry(footer, "Version 12.3")).to_have_count(1)
    first_socket = sockets[-1]

    footer.locator("[data-view='chat'] [data-action='home']").click()
    if not first_socket.is_closed():
        first_socket.wait_for_event("close", timeout=WAIT_MS)
    footer.get_by_role("button", name="Mes discussions").click()
    footer.locator("[data-chat-list] button", has_text=issue_key).click()
    expect(log_entry(footer, "Version 12.3")).to_have_count(1)

    jira_site.control("POST", "/_devsite/actions/comment", json={
        "issue_key": issue_key, "author_account_id": AGENT, "body": REPLY, "public": True})
    expect(log_entry(footer, REPLY)).to_have_count(1)
    assert socket_errors == []


def test_reopen_closed_channel_silent(browser, jira_site, chat_addon):
    """A reply that arrives after `close` (a long-poll, a send) reaches no listener."""
    customer = logged_in_page(browser, jira_site.url, CUSTOMER, PORTAL)
    start_chat(customer)
    footer = customer.locator(FOOTER_FRAME).element_handle().content_frame()
    emitted = footer.evaluate("""() => {
      const channel = new window.SupportChat.Channel(999999);
      const emitted = [];
      ["message", "ack", "status", "error"].forEach((name) => channel.on(name, () => emitted.push(name)));
      channel.close();
      channel.receive({type: "message", conversation_id: 999999, seq: 7, body: "late"});
      channel.receive({type: "ack", client_message_id: "late"});
      channel.reconnectLater();
      return emitted;
    }""")
    assert emitted == []
