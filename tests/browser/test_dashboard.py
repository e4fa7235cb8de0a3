"""The live chat dashboard in headless Chromium: a new chat appears for an available agent of the
product area's group and not for another group's, the agent claims it (the key user sees who
joined), transfers it to another group, and the presence and capacity rules apply. Hugo's Jira
language is English, Camille's French, so the dashboard is checked in both."""

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from addon.models import Installation
from addon.settings import set_setting
from tests.browser.test_chat_journey import (
    FOOTER_FRAME,
    PORTAL,
    WAIT_MS,
    log_entry,
    logged_in_page,
    serious_violations,
    frame_of,
    start_chat,
)
from tests.support import wait_until

pytestmark = pytest.mark.browser

DASHBOARD = "/jira/servicedesk/projects/SUP/apps/com.example.support-chat/chat-dashboard"
DASHBOARD_FRAME = "iframe.ap-frame[data-module-key='chat-dashboard']"
CAMILLE, HUGO = "agent-camille", "agent-hugo"  # support-production, support-finance


def route(app, **extra):
    with app.app_context():
        installation_id = app.extensions["database"].session.execute(select(Installation.id)).scalar_one()
        # start_chat picks Comptabilité: Hugo's finance group takes it.
        set_setting(installation_id, "chat_routing", {
            "areas": {"Comptabilité": {"group": "support-finance", "assignee": None, "queue_id": None},
                      "Production": {"group": "support-production", "assignee": None, "queue_id": None}},
            "default_group": None, "reoffer_after_secs": 120, "max_chats_per_agent": 3, **extra,
        })
        set_setting(installation_id, "canned_replies", [{
            "shortcut": "bonjour", "title": "Accueil",
            "body_fr": "Bonjour {prenom}, ici {technicien} pour la demande {demande}.",
            "body_en": "Hello {first_name}, {agent} here about request {request}.",
        }])


def open_dashboard(browser, jira_site, account_id):
    page = logged_in_page(browser, jira_site.url, account_id, DASHBOARD)
    desk = page.frame_locator(DASHBOARD_FRAME)
    expect(desk.locator("[data-desk][data-desk-ready='true']")).to_have_count(1, timeout=WAIT_MS)
    return page, desk


def tab(desk, name):
    return desk.locator(f"[data-desk-tab='{name}']")


def listed(desk, issue_key):
    return desk.locator(f"[data-desk-list] [data-desk-chat-key='{issue_key}']")


def test_dashboard_routes_claims_and_transfers(browser, jira_site, chat_addon):
    route(chat_addon.app)
    hugo_page, hugo = open_dashboard(browser, jira_site, HUGO)
    camille_page, camille = open_dashboard(browser, jira_site, CAMILLE)
    assert serious_violations(frame_of(hugo_page, DASHBOARD_FRAME)) == []

    customer = logged_in_page(browser, jira_site.url, "cust-alice", PORTAL)
    # Both agents' dashboards are open, so the key user reads that support is available.
    expect(customer.frame_locator(FOOTER_FRAME).locator("[data-support-availability]")).to_have_text(
        "Un technicien est disponible maintenant.")
    issue_key = start_chat(customer)

    # Offered to the finance group's available agent, not to production's.
    expect(listed(hugo, issue_key)).to_have_count(1, timeout=WAIT_MS)
    expect(tab(hugo, "unclaimed")).to_have_text("To claim (1)")
    # Alice's chat is open in her portal footer, over its socket.
    expect(listed(hugo, issue_key)).to_contain_text("customer online", timeout=WAIT_MS)
    # A chat started under a minute ago does not read "waiting for 0 min".
    expect(listed(hugo, issue_key)).to_contain_text("waiting for less than a minute")
    expect(tab(camille, "unclaimed")).to_have_text("À prendre (0)", timeout=WAIT_MS)
    tab(camille, "all").click()
    expect(listed(camille, issue_key)).to_have_count(1, timeout=WAIT_MS)

    # Hugo opens and claims it; the conversation shows beside the lists.
    listed(hugo, issue_key).get_by_role("button").click()
    expect(log_entry(hugo, "Version 12.3")).to_have_count(1)
    hugo.get_by_role("button", name="Claim", exact=True).click()
    expect(hugo.locator("[data-desk-result]")).to_have_text("Chat claimed.")
    expect(tab(hugo, "mine")).to_have_text("My chats (1)", timeout=WAIT_MS)
    footer = customer.frame_locator(FOOTER_FRAME)
    expect(footer.locator("[data-chat-log] li", has_text="Hugo")).to_have_count(1, timeout=WAIT_MS)
    issue = jira_site.control("GET", f"/_devsite/issues/{issue_key}")
    assert issue["assignee"] == HUGO

    # A canned reply through its shortcut, in Alice's language, sent as a normal message.
    box = hugo.get_by_label("Write a message")
    box.fill("/bon")
    box.dispatch_event("input")
    expect(hugo.locator("[data-canned-shortcut='bonjour']")).to_have_count(1)
    box.press("Enter")
    canned = f"Bonjour Alice, ici Hugo Bernard pour la demande {issue_key}."
    expect(box).to_have_value(canned)
    box.press("Enter")
    expect(log_entry(footer, canned)).to_have_count(1, timeout=WAIT_MS)

    # Transferred to production with a note: Camille gets the offer, and Hugo is no longer its holder.
    hugo.get_by_label("To the group").fill("support-production")
    hugo.get_by_label("Note for the receiver").fill("Problème de nomenclature <b>urgent</b>")
    hugo.get_by_role("button", name="Transfer the chat").click()
    expect(hugo.locator("[data-desk-result]")).to_have_text("Chat transferred.")
    expect(tab(hugo, "mine")).to_have_text("My chats (0)", timeout=WAIT_MS)
    tab(camille, "unclaimed").click()
    expect(listed(camille, issue_key)).to_have_count(1, timeout=WAIT_MS)
    wait_until(lambda: jira_site.control("GET", f"/_devsite/issues/{issue_key}")["assignee"] is None,
               timeout=WAIT_MS / 1000, message="the request unassigned")

    # Away: a new production chat is not offered to Camille.
    camille.get_by_label("Ma présence").select_option("away")
    wait_until(lambda: _status_of(chat_addon, CAMILLE) == "away", timeout=WAIT_MS / 1000, message="Camille away")
    second = _start_production_chat(customer)
    expect(listed(camille, second)).to_have_count(0)
    tab(camille, "all").click()
    expect(listed(camille, second)).to_have_count(1, timeout=WAIT_MS)

    camille_page.close()
    hugo_page.close()


def test_capacity_sends_new_chats_to_others(browser, jira_site, chat_addon):
    route(chat_addon.app, max_chats_per_agent=1)
    _hugo_page, hugo = open_dashboard(browser, jira_site, HUGO)
    customer = logged_in_page(browser, jira_site.url, "cust-alice", PORTAL)
    first = start_chat(customer)
    expect(listed(hugo, first)).to_have_count(1, timeout=WAIT_MS)
    listed(hugo, first).get_by_role("button").click()
    hugo.get_by_role("button", name="Claim", exact=True).click()
    expect(tab(hugo, "mine")).to_have_text("My chats (1)", timeout=WAIT_MS)

    # At his limit, Hugo is not offered the next chat of his group, and may not claim it.
    customer.reload()
    second = start_chat(customer)
    tab(hugo, "all").click()
    expect(listed(hugo, second)).to_have_count(1, timeout=WAIT_MS)
    expect(tab(hugo, "unclaimed")).to_have_text("To claim (0)")
    listed(hugo, second).get_by_role("button").click()
    hugo.get_by_role("button", name="Claim", exact=True).click()
    expect(hugo.locator("[data-desk-result]")).to_contain_text("maximum")


def _status_of(chat_addon, account_id):
    from addon.workspace.models import AgentPresence

    with chat_addon.app.app_context():
        session = chat_addon.app.extensions["database"].session
        status = session.execute(select(AgentPresence.status).where(AgentPresence.account_id == account_id)).scalar()
        session.rollback()
        return status


def _start_production_chat(customer):
    customer.reload()
    return start_chat(customer, area="Production", summary="Nomenclature incomplète",
                      message="La nomenclature de l'article 12 est vide.")
