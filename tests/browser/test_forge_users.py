"""The Forge portal for people who may not chat: an unlicensed user (an Atlassian account without a
JSM licence) gets the refusal screen, and a visitor who is not logged in gets no chat module."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_chat_journey import logged_in_page
from tests.browser.test_forge_journey import (  # noqa: F401 (forge_addon is a fixture)
    FOOTER_FRAME,
    PORTAL_PAGE,
    WAIT_MS,
    forge_addon,
)

pytestmark = pytest.mark.browser

UNLICENSED = "dev-ines"


def test_forge_portal_refuses_unlicensed_user(browser, jira_site, forge_addon):
    page = logged_in_page(browser, jira_site.url, UNLICENSED, PORTAL_PAGE)
    footer = page.frame_locator(FOOTER_FRAME)

    expect(footer.get_by_role("heading", name="La discussion en direct ne vous est pas ouverte")).to_be_visible(
        timeout=WAIT_MS)
    expect(footer.locator("[data-refusal-message]")).to_contain_text(
        "Votre organisation n'a pas de contrat de souscription")
    expect(footer.get_by_role("button", name="Démarrer une discussion")).to_be_hidden()


def test_forge_portal_without_chat_for_anonymous(browser, jira_site, forge_addon):
    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    page.goto(jira_site.url + PORTAL_PAGE)

    expect(page.locator("iframe.forge-frame")).to_have_count(0)
    left_out = page.locator(".forge-left-out[data-module-key='chat-launcher']")
    expect(left_out).to_be_hidden()
    expect(left_out).to_have_attribute("data-reason", re.compile("does not run for anonymous users"))
    expect(page.locator("body")).not_to_contain_text("does not run")
    context.close()
