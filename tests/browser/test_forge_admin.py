"""Administration and the dashboard in Forge mode, in the local site's Forge host pages with the
built Custom UI resources and the real @forge/bridge.

A Jira admin opens the app's admin page, saves and activates Fromagerie Durand's subscription and
names cust-alice key user. With no key user granted before, she can then start a chat from the
portal's footer module, and an agent sees the chat on the project page (the dashboard) and
claims it.
"""

import re

import pytest
from playwright.sync_api import expect

from addon import create_app
from tests.browser.test_admin import ADMIN_FRAME as CONNECT_ADMIN_FRAME
from tests.browser.test_admin import ADMIN_PAGE as CONNECT_ADMIN_PAGE
from tests.browser.test_admin import admin_addon, outcome  # noqa: F401
from tests.browser.test_chat_journey import log_entry, logged_in_page, start_chat
from tests.browser.test_forge_journey import BUILT_PAGES, CUSTOMER, FOOTER_FRAME, PORTAL_PAGE, WAIT_MS
from tests.conftest import addon_overrides
from tests.forge_support import APP_ID, forge_overrides
from tests.support import AddonServer, free_port, require_service

pytestmark = pytest.mark.browser

ADMIN = "admin-lea"
AGENT = "agent-camille"
ADMIN_PAGE = "/_devsite/forge/host/admin"
DASHBOARD_PAGE = "/_devsite/forge/host/project/SUP"
ADMIN_FRAME = "iframe.forge-frame[data-module-key='chat-admin']"
DASHBOARD_FRAME = "iframe.forge-frame[data-module-key='chat-dashboard']"


@pytest.fixture
def forge_site(jira_site, tmp_path):
    """The add-on with Forge on, installed on the local site as a Forge app, with no key user yet."""
    require_service(all(path.is_file() for path in BUILT_PAGES), "the built Custom UI pages in forge/static",
                    "run cd forge && npm ci --ignore-scripts && npm run build")
    port = free_port()
    database_url = f"sqlite:///{tmp_path / 'addon.sqlite3'}"
    overrides = addon_overrides(database_url, jira_site, port, tmp_path, SUBSCRIPTION_EXPIRY_JOB=False,
                                **forge_overrides(jira_site))
    server = AddonServer(create_app(overrides), port)
    try:
        installed = jira_site.control("POST", "/_devsite/forge/app/install",
                                      json={"remote_url": server.url, "app_id": APP_ID})
        assert all(result["status"] == 200 for result in installed["lifecycle"]), installed
        yield server
    finally:
        server.stop()


def test_forge_admin_key_user_chats_agent_claims(browser, jira_site, forge_site):
    # The admin page: a subscription for Fromagerie Durand, activated, with Alice as key user.
    page = logged_in_page(browser, jira_site.url, ADMIN, ADMIN_PAGE)
    page.set_default_timeout(WAIT_MS)
    admin = page.frame_locator(ADMIN_FRAME)
    admin.get_by_role("button", name="Gérer Fromagerie Durand").click()
    expect(admin.locator("[data-admin-sub-title]")).to_contain_text("Fromagerie Durand")
    admin.get_by_label("Référence du contrat").fill("CT-FORGE-001")
    admin.get_by_label("Date de début").fill("2026-01-01")
    admin.get_by_label("Date de fin (vide : sans fin)").fill("2030-12-31")
    admin.get_by_label("Contact principal").select_option("cust-alice")
    admin.get_by_role("button", name="Enregistrer la souscription").click()
    expect(outcome(admin, "save")).to_have_text("Souscription enregistrée.")

    admin.get_by_role("button", name="Activer").click()
    expect(outcome(admin, "status")).to_have_text("Souscription activée.")
    expect(admin.locator("[data-admin-sub-state]")).to_contain_text("Active")

    admin.get_by_label("Rechercher un client de l'organisation (nom ou e-mail)").fill("alice")
    admin.get_by_role("button", name="Rechercher", exact=True).click()
    admin.get_by_role("button", name="Ajouter Alice Durand").click()
    expect(outcome(admin, "key-users")).to_have_text("Alice Durand est maintenant utilisateur clé.")
    expect(admin.locator("[data-admin-keyusers]")).to_contain_text("par Léa Petit")
    # The SLA section, whose scripts start once the Forge page has loaded them all, is filled too.
    sla = admin.locator("[data-sla-settings]")
    expect(sla.get_by_label("Lundi, plage 1 : ouverture")).to_have_value(re.compile(r"^\d\d:\d\d$"))
    expect(sla.get_by_label("Fuseau horaire")).not_to_have_value("")
    page.close()

    # The agent's project page is open before the chat starts, so it shows the new chat live.
    dashboard_page = logged_in_page(browser, jira_site.url, AGENT, DASHBOARD_PAGE)
    dashboard_page.set_default_timeout(WAIT_MS)
    desk = dashboard_page.frame_locator(DASHBOARD_FRAME)
    expect(desk.locator("[data-desk][data-desk-ready='true']")).to_have_count(1, timeout=WAIT_MS)
    expect(desk.locator("[data-desk]")).to_have_attribute("data-project-key", "SUP")

    # The new key user starts a chat from the portal's footer module.
    customer = logged_in_page(browser, jira_site.url, CUSTOMER, PORTAL_PAGE)
    customer.set_default_timeout(WAIT_MS)
    issue_key = start_chat(customer, FOOTER_FRAME)
    footer = customer.frame_locator(FOOTER_FRAME)

    desk.locator("[data-desk-tab='all']").click()
    listed = desk.locator(f"[data-desk-list] [data-desk-chat-key='{issue_key}']")
    expect(listed).to_have_count(1, timeout=WAIT_MS)
    listed.get_by_role("button").click()
    expect(log_entry(desk, "Version 12.3")).to_have_count(1, timeout=WAIT_MS)
    desk.get_by_role("button", name="Prendre en charge", exact=True).click()
    expect(desk.locator("[data-desk-result]")).to_have_text("Discussion prise en charge.")

    issue = jira_site.control("GET", f"/_devsite/issues/{issue_key}")
    assert issue["reporter"] == CUSTOMER
    assert issue["assignee"] == AGENT
    expect(footer.locator("[data-chat-log] li", has_text="Camille")).to_have_count(1, timeout=WAIT_MS)


IMPORT_CSV = ("organisation,contract_reference,start_date,end_date,sla_tier,key_users\n"
              "Menuiserie Lefèvre,CT-9,2026-01-01,2030-12-31,standard,chloe.lefevre@menuiserie-lefevre.example\n")
IMPORT_DONE = "Import terminé. Souscriptions créées : 1, mises à jour : 0. Utilisateurs clés ajoutés : 1."


def _import_csv(page, frame_selector):
    admin = page.frame_locator(frame_selector)
    # The organisations are drawn by the page's script, which then handles the import form too.
    expect(admin.locator("[data-admin-orgs] li", has_text="Fromagerie Durand")).to_have_count(1)
    admin.get_by_label("Fichier CSV (UTF-8)").set_input_files(
        files=[{"name": "souscriptions.csv", "mimeType": "text/csv", "buffer": IMPORT_CSV.encode("utf-8")}])
    admin.get_by_role("button", name="Importer", exact=True).click()
    expect(outcome(admin, "import")).to_have_text(IMPORT_DONE, timeout=WAIT_MS)
    expect(admin.locator("[data-admin-orgs] li", has_text="Menuiserie Lefèvre")).to_contain_text("À activer")


def test_forge_admin_csv_import(browser, jira_site, forge_site):
    # The file goes through requestRemote: a multipart body that the host page sends with a FIT.
    page = logged_in_page(browser, jira_site.url, ADMIN, ADMIN_PAGE)
    page.set_default_timeout(WAIT_MS)

    _import_csv(page, ADMIN_FRAME)


def test_connect_admin_csv_import(browser, jira_site, admin_addon):
    # The same upload on the Connect page: fetch with the context token.
    page = logged_in_page(browser, jira_site.url, ADMIN, CONNECT_ADMIN_PAGE)
    page.set_default_timeout(WAIT_MS)

    _import_csv(page, CONNECT_ADMIN_FRAME)
