"""A key user who left, in Chromium on the local Jira site's pages.

The agent replies while the key user's page is closed, and the replies reach Jira as public
comments. On coming back, the launcher shows the unread count. The chat opens at the first unread
message under a "Nouveaux messages" separator, and the count clears. The printable transcript
opens from both sides."""

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from addon.chat.actions import add_event
from addon.chat.models import Conversation, Message, ReadMark, Visibility

from tests.browser.test_chat_journey import (
    FOOTER_FRAME,
    GLANCE_FRAME,
    PORTAL,
    WAIT_MS,
    frame_of,
    log_entry,
    logged_in_page,
    send,
    serious_violations,
    shown_text,
    start_chat,
    wait_synced,
)
from tests.support import wait_until

pytestmark = pytest.mark.browser

CUSTOMER = "cust-alice"
AGENT = "agent-camille"
# Enough read history that the log scrolls, so that opening at the first unread message shows.
EARLIER = [f"Précision {number} : la facture F-{number} est aussi bloquée." for number in range(1, 11)]
FIRST_REPLY = "Bonjour Alice, je regarde vos factures."
SECOND_REPLY = "C'est corrigé : relancez la validation <b>maintenant</b>."
LATER_REPLY = "Pouvez-vous confirmer que tout fonctionne ?"
NOTE = "Note interne : correctif appliqué sur la base de test."
# The launcher reads the counts every 15 s while the page is visible (static/chat/unread.js).
REFRESH_WAIT_MS = 45_000


def total_badge(footer):
    return footer.locator("[data-view='home'] [data-action='list'] [data-unread-total]")


def agent_public_comments(jira_site, issue_key, last_text):
    """The texts of the agent's public comments on the request, once one contains `last_text`."""
    def fetch():
        comments = jira_site.control("GET", f"/_devsite/issues/{issue_key}")["comments"]
        texts = [shown_text(c["body"]) for c in comments if c["public"] and c["author"] == AGENT]
        return texts if any(last_text in text for text in texts) else None

    return wait_until(fetch, timeout=WAIT_MS / 1000, message=f"a public comment with {last_text!r}")


def open_transcript(page, frame_locator):
    """Click the transcript button in `frame_locator`; return the window it opens, once loaded."""
    with page.context.expect_page(timeout=WAIT_MS) as opened:
        frame_locator.get_by_role("button", name="Transcription imprimable").click()
    window = opened.value
    window.wait_for_url(lambda url: url.startswith("blob:"), timeout=WAIT_MS)
    window.wait_for_load_state()
    return window


def test_unread_after_coming_back(browser, jira_site, chat_addon):
    customer = logged_in_page(browser, jira_site.url, CUSTOMER, PORTAL)
    issue_key = start_chat(customer)
    footer = customer.frame_locator(FOOTER_FRAME)
    for text in EARLIER:
        send(footer, text)
    expect(log_entry(footer, EARLIER[-1]).locator(".chat-delivery")).to_have_count(0)
    customer.context.close()

    agent = logged_in_page(browser, jira_site.url, AGENT, f"/browse/{issue_key}")
    agent.locator("[data-glance-toggle]").click()
    glance = agent.frame_locator(GLANCE_FRAME)
    expect(glance.locator(".chat-presence")).to_have_text("L'utilisateur clé n'est pas connecté.")
    send(glance, FIRST_REPLY)
    send(glance, SECOND_REPLY)
    send(glance, NOTE, internal=True)
    wait_synced(glance, SECOND_REPLY)

    # Nothing is lost while the key user is away: both replies are public comments, which JSM e-mails.
    public = agent_public_comments(jira_site, issue_key, SECOND_REPLY)
    assert any(FIRST_REPLY in text for text in public)
    assert not any(NOTE in text for text in public)

    customer = logged_in_page(browser, jira_site.url, CUSTOMER, PORTAL)
    footer = customer.frame_locator(FOOTER_FRAME)
    expect(total_badge(footer)).to_have_text("2 non lus", timeout=WAIT_MS)
    footer.get_by_role("button", name="Mes discussions").click()
    item = footer.locator("[data-chat-list] button", has_text=issue_key)
    expect(item.locator(".chat-badge")).to_have_text("2 non lus")
    item.click()

    separator = footer.locator("[data-chat-log] [data-unread-separator]")
    expect(separator).to_have_text("Nouveaux messages")
    expect(log_entry(footer, SECOND_REPLY)).to_have_count(1)
    expect(log_entry(footer, NOTE)).to_have_count(0)
    following = separator.evaluate("node => node.nextElementSibling.textContent")
    assert FIRST_REPLY in following
    region = footer.locator("[data-chat-log]")
    assert region.evaluate("node => node.scrollTop") > 0
    # The log is scrolled as far as it goes towards the separator, which is in view.
    position = separator.evaluate("""node => {
      const box = node.getBoundingClientRect();
      const region = node.closest('[data-chat-log]').getBoundingClientRect();
      return {top: box.top - region.top, bottom: region.bottom - box.bottom};
    }""")
    assert position["top"] >= 0
    assert position["bottom"] >= 0
    assert serious_violations(frame_of(customer, FOOTER_FRAME)) == []

    # The key user's transcript: public entries only, and escaped.
    window = open_transcript(customer, footer)
    expect(window.locator("h1")).to_contain_text(issue_key)
    expect(window.locator("body")).to_contain_text(SECOND_REPLY)
    expect(window.locator("body")).not_to_contain_text(NOTE)
    assert window.locator("b").count() == 0
    window.close()

    footer.locator("[data-view='chat'] [data-action='home']").click()
    expect(total_badge(footer)).to_be_hidden(timeout=WAIT_MS)
    footer.get_by_role("button", name="Mes discussions").click()
    expect(footer.locator("[data-chat-list] button", has_text=issue_key).locator(".chat-badge")).to_have_count(
        0, timeout=WAIT_MS)
    footer.locator("[data-view='list'] [data-action='home']").click()

    # The count follows a new reply while the launcher stays open.
    send(glance, LATER_REPLY)
    expect(total_badge(footer)).to_have_text("1 non lu", timeout=REFRESH_WAIT_MS)

    # The agent's transcript has the internal note, marked.
    window = open_transcript(agent, glance)
    expect(window.locator("body")).to_contain_text(FIRST_REPLY)
    expect(window.locator("[data-visibility='internal']")).to_contain_text(NOTE)
    window.close()


def test_quick_look_clears_count(browser, jira_site, chat_addon):
    # Back at once after opening: the read mark still in its debounce is sent as the chat closes.
    customer = logged_in_page(browser, jira_site.url, CUSTOMER, PORTAL)
    issue_key = start_chat(customer)
    customer.context.close()
    jira_site.control("POST", "/_devsite/actions/comment", json={
        "issue_key": issue_key, "author_account_id": AGENT, "body": FIRST_REPLY, "public": True})

    customer = logged_in_page(browser, jira_site.url, CUSTOMER, PORTAL)
    footer = customer.frame_locator(FOOTER_FRAME)
    expect(total_badge(footer)).to_have_text("1 non lu", timeout=WAIT_MS)
    footer.get_by_role("button", name="Mes discussions").click()
    footer.locator("[data-chat-list] button", has_text=issue_key).click()
    expect(log_entry(footer, FIRST_REPLY)).to_have_count(1)
    footer.locator("[data-view='chat'] [data-action='home']").click()

    expect(total_badge(footer)).to_be_hidden(timeout=WAIT_MS)


def read_state(app, issue_key):
    """Return (conversation id, highest public seq, the key user's read mark) of the chat `issue_key`."""
    with Session(app.extensions["database"].engine) as session:
        conversation_id = session.execute(select(Conversation.id).where(Conversation.issue_key == issue_key)).scalar_one()
        latest = session.execute(select(func.max(Message.seq)).where(
            Message.conversation_id == conversation_id, Message.visibility == Visibility.PUBLIC)).scalar_one()
        mark = session.execute(select(ReadMark.last_read_seq).where(
            ReadMark.conversation_id == conversation_id, ReadMark.account_id == CUSTOMER)).scalar_one_or_none()
    return conversation_id, latest, mark or 0


def test_separator_skips_own_consequences(browser, jira_site, chat_addon):
    # The key user validated a solution and left, and Jira's "Demande résolue" came after. Both are
    # theirs, so "Nouveaux messages" goes above the agent's later reply only.
    customer = logged_in_page(browser, jira_site.url, CUSTOMER, PORTAL)
    issue_key = start_chat(customer)
    footer = customer.frame_locator(FOOTER_FRAME)
    footer.locator("[data-view='chat'] [data-action='home']").click()

    def all_read():
        conversation_id, latest, mark = read_state(chat_addon.app, issue_key)
        return conversation_id if mark >= latest else None

    conversation_id = wait_until(all_read, timeout=WAIT_MS / 1000, message="the key user's read mark")
    customer.context.close()

    with chat_addon.app.app_context():
        add_event(conversation_id, "solution_validated", author_account_id=CUSTOMER)
        add_event(conversation_id, "satisfaction_asked")
        add_event(conversation_id, "request_resolved")
    jira_site.control("POST", "/_devsite/actions/comment", json={
        "issue_key": issue_key, "author_account_id": AGENT, "body": FIRST_REPLY, "public": True})

    customer = logged_in_page(browser, jira_site.url, CUSTOMER, PORTAL)
    footer = customer.frame_locator(FOOTER_FRAME)
    footer.get_by_role("button", name="Mes discussions").click()
    footer.locator("[data-chat-list] button", has_text=issue_key).click()
    expect(log_entry(footer, FIRST_REPLY)).to_have_count(1)
    separator = footer.locator("[data-chat-log] [data-unread-separator]")
    expect(separator).to_have_count(1)
    assert FIRST_REPLY in separator.evaluate("node => node.nextElementSibling.textContent")
    resolved = footer.locator("[data-chat-log] li[data-event-type='request_resolved']")
    expect(resolved).to_contain_text("Demande résolue")
    assert resolved.evaluate("(node, separator) => !!(node.compareDocumentPosition(separator) & 4)",
                             separator.element_handle())
