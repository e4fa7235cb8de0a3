"""A customer who is not a key user opens the portal: the footer explains why the chat is closed
to them and offers the other channels, in headless Chromium."""

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from addon.chat.actions import Viewer
from addon.chat.models import AuthorRole, Conversation
from addon.chat.start import start_chat
from addon.models import Installation
from addon.settings import set_setting
from tests.browser.test_chat_journey import (
    FOOTER_FRAME,
    PORTAL,
    REQUEST_FRAME,
    frame_of,
    logged_in_page,
    serious_violations,
)

pytestmark = pytest.mark.browser

NON_KEY_CUSTOMER = "cust-bruno"
SUPPORT_EMAIL = "support@editeur.example"


def test_refusal_footer(browser, jira_site, chat_addon, artifacts_dir):
    app = chat_addon.app
    with app.app_context():
        # The local site installed the add-on once, so the database holds one installation.
        installation_id = app.extensions["database"].session.execute(select(Installation.id)).scalar_one()
        set_setting(installation_id, "support_email", SUPPORT_EMAIL)

    page = logged_in_page(browser, jira_site.url, NON_KEY_CUSTOMER, PORTAL)
    footer = page.frame_locator(FOOTER_FRAME)
    expect(footer.get_by_role("heading", name="La discussion en direct ne vous est pas ouverte")).to_be_visible()
    # No invitation to chat above the refusal, and the reason fits Bruno: his organisation subscribes.
    expect(footer.get_by_role("heading", name="Besoin d'aide ? Discutez avec le support")).to_be_hidden()
    expect(footer.locator("[data-refusal-message]")).to_have_text(
        "Votre organisation a souscrit à la discussion en direct, mais vous ne faites pas partie des utilisateurs "
        "clés qu'elle a désignés. Pour en devenir un, adressez-vous au contact principal de votre organisation.")
    expect(footer.get_by_role("link", name="Créer une demande depuis le portail")).to_have_attribute(
        "href", f"{jira_site.url}/servicedesk/customer/portals")
    expect(footer.get_by_role("link", name=f"Écrire à {SUPPORT_EMAIL}")).to_have_attribute(
        "href", f"mailto:{SUPPORT_EMAIL}")
    expect(footer.get_by_role("link", name="Lire les règles d'utilisation de la discussion")).to_have_attribute(
        "href", "/guide/rules?lang=fr")
    expect(footer.get_by_role("button", name="Démarrer une discussion")).to_have_count(0)
    expect(footer.locator("[data-start-form]")).to_be_hidden()
    # Bruno never opened a chat, so no empty list is offered to him.
    expect(footer.get_by_role("button", name="Mes discussions")).to_have_count(0)

    page.screenshot(path=str(artifacts_dir / "chat-refusal-footer.png"), full_page=True)
    assert serious_violations(frame_of(page, FOOTER_FRAME)) == []



def test_refusal_request_panel_read_only(browser, jira_site, chat_addon):
    app = chat_addon.app
    with app.app_context():
        installation = app.extensions["database"].session.execute(select(Installation)).scalar_one()
        key_user = Viewer(installation_id=installation.id, client_key=installation.client_key,
                          account_id="cust-alice", role=AuthorRole.CUSTOMER)
        conversation = start_chat(key_user, summary="Facture bloquée", product_area="Ventes", impact="question",
                                  message="Texte lisible par l'organisation", client_message_id="refusal-1")
        issue_key = conversation.issue_key

    page = logged_in_page(browser, jira_site.url, NON_KEY_CUSTOMER, f"{PORTAL}/{issue_key}")
    panel = page.frame_locator(REQUEST_FRAME)
    expect(panel.locator("[data-chat-log] li", has_text="Texte lisible par l'organisation")).to_have_count(1)
    expect(panel.locator("[data-refusal-message]")).to_contain_text("vous ne faites pas partie des utilisateurs clés")
    expect(panel.get_by_role("link", name="Créer une demande depuis le portail")).to_be_visible()
    assert serious_violations(frame_of(page, REQUEST_FRAME)) == []


def test_refusal_lists_own_chats(browser, jira_site, chat_addon):
    # A former key user keeps reading the chats they opened, so the refusal offers their list.
    app = chat_addon.app
    with app.app_context():
        database = app.extensions["database"]
        installation = database.session.execute(select(Installation)).scalar_one()
        key_user = Viewer(installation_id=installation.id, client_key=installation.client_key,
                          account_id="cust-alice", role=AuthorRole.CUSTOMER)
        conversation = start_chat(key_user, summary="Ancienne demande", product_area="Ventes", impact="question",
                                  message="Ouverte avant le retrait de la liste", client_message_id="refusal-2")
        with database.transaction() as session:
            session.get(Conversation, conversation.id).opened_by_account_id = NON_KEY_CUSTOMER

    page = logged_in_page(browser, jira_site.url, NON_KEY_CUSTOMER, PORTAL)
    footer = page.frame_locator(FOOTER_FRAME)
    expect(footer.get_by_role("heading", name="La discussion en direct ne vous est pas ouverte")).to_be_visible()
    footer.get_by_role("button", name="Mes discussions").click()
    expect(footer.get_by_role("button", name="Ancienne demande")).to_be_visible()


# The refusal's French texts, none of which may show to a Jira user who reads English.
FRENCH_REFUSAL_TEXTS = ["La discussion en direct", "Le support reste joignable", "Créer une demande",
                        "Lire les règles", "Mes discussions", "Votre organisation", "Écrire à"]


def test_refusal_without_email_english_user(browser, jira_site, chat_addon):
    # No support e-mail in the settings: the portal form and the usage rules are still listed,
    # in the viewer's Jira language (English) although the browser prefers French.
    jira_site.control("PATCH", f"/_devsite/users/{NON_KEY_CUSTOMER}", json={"locale": "en_US"})

    page = logged_in_page(browser, jira_site.url, NON_KEY_CUSTOMER, PORTAL)
    footer = page.frame_locator(FOOTER_FRAME)
    expect(footer.get_by_role("heading", name="Live chat is not open to you")).to_be_visible()
    expect(footer.locator("[data-refusal-message]")).to_contain_text(
        "Your organization subscribes to live chat, but you are not among the key users it named.")
    expect(footer.get_by_role("link", name="Raise a request in the portal")).to_have_attribute(
        "href", f"{jira_site.url}/servicedesk/customer/portals")
    expect(footer.get_by_role("link", name="Read the chat's usage rules")).to_have_attribute(
        "href", "/guide/rules?lang=en")
    expect(footer.locator("[data-refusal-email-item]")).to_be_hidden()
    expect(footer.locator(".chat-channels li:visible")).to_have_count(2)

    text = footer.locator("body").inner_text()
    assert [french for french in FRENCH_REFUSAL_TEXTS if french in text] == []
