"""A key user and an agent chat through the local Jira site's pages, in two browser sessions.

The pages are the site's own (portal, issue view); the chat runs in the add-on's iframes inside
them, as in Jira. Jira's side is checked through the site's control API.
"""

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.support import wait_until

pytestmark = pytest.mark.browser

CUSTOMER = "cust-alice"
AGENT = "agent-camille"
PORTAL = "/servicedesk/customer/portal/1"
FOOTER_FRAME = "iframe.ap-frame[data-module-key='chat-portal-footer']"
GLANCE_FRAME = "iframe.ap-frame[data-module-key='chat-glance']"
REQUEST_FRAME = "iframe.ap-frame[data-module-key='chat-request-panel']"
WAIT_MS = 20_000

FIRST_MESSAGE = "Erreur E1024 à la validation d'une facture.\nVersion 12.3"
REPLY = "Bonjour Alice, pouvez-vous m'envoyer le numéro de la facture ?"
NOTE = "Note interne : vérifier le paramétrage TVA du client."
FOLLOW_UP = "Facture F-2024-118.\nMerci !"


def logged_in_page(browser, site_url, account_id, path):
    """A page of a new browser session, logged in to the local site as `account_id`, at `path`."""
    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.goto(f"{site_url}/login?as={account_id}&next={path}")
    return page


def frame_of(page, selector):
    """The Playwright Frame of the iframe matching `selector` (axe runs inside it)."""
    return page.locator(selector).element_handle().content_frame()


def log_entry(frame_locator, text):
    return frame_locator.locator("[data-chat-log] li", has_text=text)


def serious_violations(frame):
    results = Axe().run(frame)
    return [(violation["id"], violation["impact"], [node["target"] for node in violation["nodes"]])
            for violation in results.response["violations"]
            if violation["impact"] in ("serious", "critical")]


def start_chat(page, frame=FOOTER_FRAME, area="Comptabilité", summary="Impossible de valider une facture",
               message=FIRST_MESSAGE):
    """Start a chat from the portal footer in `frame`; return the request key the footer shows."""
    footer = page.frame_locator(frame)
    footer.get_by_role("button", name="Démarrer une discussion").click()
    footer.get_by_label("Résumé").fill(summary)
    footer.get_by_label("Domaine fonctionnel").select_option(area)
    footer.get_by_label("Bloquant").check()
    # The answer-by promise appears above the buttons once the server gave it. A click while it
    # is landing would press the button and release over the promise, which starts nothing, so
    # the test reads the promise first, as a user would.
    expect(footer.locator("[data-answer-by]")).to_be_visible(timeout=WAIT_MS)
    footer.get_by_label("Votre message").fill(message)
    footer.get_by_role("button", name="Démarrer la discussion").click()

    heading = footer.locator("[data-chat-heading]")
    expect(heading).to_have_text(re.compile(r"^Demande SUP-\d+$"), timeout=WAIT_MS)
    return heading.inner_text().split()[-1]


def send(frame_locator, text, internal=False):
    switch = frame_locator.get_by_role("switch", name="Note interne")
    if internal:
        switch.check()
    elif switch.count():
        switch.uncheck()
    box = frame_locator.get_by_label("Écrire un message")
    box.fill(text)
    box.press("Enter")


def wait_synced(glance, text):
    entry = log_entry(glance, text).first
    expect(entry.locator(".chat-delivery")).to_have_text("Envoyé à Jira", timeout=WAIT_MS)


def shown_text(body):
    """Return the text Jira shows for a comment body.

    Comments written through the JSM API are wiki markup, where a backslash makes the punctuation
    character after it literal. The local site stores the markup as written.
    """
    return re.sub(r"\\([^\w\s])", r"\1", body).strip()


def comments_of(jira_site, issue_key, count):
    """The request's comments once there are `count` of them, as (author, text, public) tuples."""
    def fetch():
        comments = jira_site.control("GET", f"/_devsite/issues/{issue_key}")["comments"]
        return comments if len(comments) >= count else None

    comments = wait_until(fetch, timeout=WAIT_MS / 1000, message=f"{count} comments on {issue_key}")
    return [(c["author"], shown_text(c["body"]), c["public"]) for c in comments]


def test_chat_journey(browser, jira_site, chat_addon, artifacts_dir):
    customer = logged_in_page(browser, jira_site.url, CUSTOMER, PORTAL)
    issue_key = start_chat(customer)
    footer = customer.frame_locator(FOOTER_FRAME)
    expect(log_entry(footer, "Version 12.3")).to_have_count(1)

    issue = jira_site.control("GET", f"/_devsite/issues/{issue_key}")
    assert issue["properties"]["supportchat"]["enabled"] == "true"
    assert "chat" in issue["labels"]
    assert issue["description"].strip() == FIRST_MESSAGE

    agent = logged_in_page(browser, jira_site.url, AGENT, f"/browse/{issue_key}")
    agent.locator("[data-glance-toggle]").click()
    glance = agent.frame_locator(GLANCE_FRAME)
    expect(log_entry(glance, "Version 12.3")).to_have_count(1)

    send(glance, REPLY)
    expect(log_entry(footer, REPLY)).to_have_count(1)
    wait_synced(glance, REPLY)

    send(glance, NOTE, internal=True)
    expect(glance.locator("[data-chat-log] li[data-visibility='internal']", has_text=NOTE)).to_have_count(1)
    wait_synced(glance, NOTE)

    # Shift+Enter starts a new line, Enter sends.
    box = footer.get_by_label("Écrire un message")
    first_line, second_line = FOLLOW_UP.split("\n")
    box.press_sequentially(first_line)
    box.press("Shift+Enter")
    box.press_sequentially(second_line)
    box.press("Enter")
    # The follow-up's seq comes after the note's, so once the customer's copy shows with its seq,
    # the customer's stream has gone past the note.
    expect(footer.locator("[data-chat-log] li[data-seq]", has_text="Facture F-2024-118")).to_have_count(1)
    expect(log_entry(glance, "Facture F-2024-118")).to_have_count(1)
    wait_synced(glance, "Facture F-2024-118")
    expect(footer.locator("[data-chat-log]")).not_to_contain_text("Note interne")
    expect(log_entry(footer, "TVA")).to_have_count(0)

    assert comments_of(jira_site, issue_key, 3) == [
        (AGENT, REPLY, True),
        (AGENT, NOTE, False),
        (CUSTOMER, FOLLOW_UP, True),
    ]

    customer.screenshot(path=str(artifacts_dir / "chat-portal-footer.png"), full_page=True)
    agent.screenshot(path=str(artifacts_dir / "chat-agent-glance.png"), full_page=True)
    assert serious_violations(frame_of(customer, FOOTER_FRAME)) == []
    assert serious_violations(frame_of(agent, GLANCE_FRAME)) == []

    # At 320 px the glance still fits without horizontal scrolling and keeps its reply box.
    # The panel around the frame is narrowed, not the frame: the frame's auto-resize sets its own
    # width back to 100% whenever its height changes.
    agent.locator(GLANCE_FRAME).evaluate(
        "frame => { frame.parentElement.style.width = '320px'; frame.parentElement.style.padding = '0'; }")
    frame_of(agent, GLANCE_FRAME).wait_for_function("document.documentElement.scrollWidth <= 320")
    expect(glance.get_by_label("Écrire un message")).to_be_visible()
    agent.locator(GLANCE_FRAME).screenshot(path=str(artifacts_dir / "chat-agent-glance-320px.png"))


def test_request_panel_only_on_chats(browser, jira_site, chat_addon):
    customer = logged_in_page(browser, jira_site.url, CUSTOMER, PORTAL)
    issue_key = start_chat(customer)

    customer.goto(f"{jira_site.url}{PORTAL}/{issue_key}")
    panel = customer.frame_locator(REQUEST_FRAME)
    expect(log_entry(panel, "Version 12.3")).to_have_count(1)

    # SUP-1 was opened by e-mail: its panel stays empty and the host sizes its iframe to zero.
    customer.goto(f"{jira_site.url}{PORTAL}/SUP-1")
    expect(customer.locator(REQUEST_FRAME)).to_have_attribute("style", re.compile(r"height:\s*0px"))
