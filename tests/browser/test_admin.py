"""A support lead manages a subscription through the admin page of the local Jira site: activates
Fromagerie Durand's subscription and adds cust-alice as key user, in headless Chromium."""

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.browser.conftest import serve_installed

pytestmark = pytest.mark.browser

ADMIN_PAGE = "/plugins/servlet/ac/com.example.support-chat/chat-admin"
ADMIN_FRAME = "iframe.ap-frame[data-module-key='chat-admin']"
WAIT_MS = 20_000


@pytest.fixture
def admin_addon(jira_site, tmp_path):
    """The add-on with its admin API, installed into the local Jira site, without the expiry job."""
    yield from serve_installed(jira_site, tmp_path, SUBSCRIPTION_EXPIRY_JOB=False)


def serious_violations(frame):
    results = Axe().run(frame)
    return [(violation["id"], violation["impact"], [node["target"] for node in violation["nodes"]])
            for violation in results.response["violations"]
            if violation["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("width", [1280, 320])
def test_admin_activate_and_key_user(browser, admin_addon, jira_site, artifacts_dir, width):
    context = browser.new_context(locale="fr-FR", viewport={"width": width, "height": 900})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.goto(f"{jira_site.url}/login?as=admin-lea&next={ADMIN_PAGE}")
    admin = page.frame_locator(ADMIN_FRAME)

    admin.get_by_role("button", name="Gérer Fromagerie Durand").click()
    expect(admin.get_by_role("heading", name="Souscription de Fromagerie Durand")).to_be_visible()
    admin.get_by_label("Référence du contrat").fill("CT-2026-001")
    admin.get_by_label("Date de début").fill("2026-01-01")
    admin.get_by_label("Date de fin (vide : sans fin)").fill("2030-12-31")
    admin.get_by_label("Contact principal").select_option("cust-alice")
    admin.get_by_role("button", name="Enregistrer la souscription").click()
    expect(admin.locator("#chat-live")).to_have_text("Souscription enregistrée.")

    admin.get_by_role("button", name="Activer").click()
    expect(admin.locator("#chat-live")).to_have_text("Souscription activée.")
    expect(admin.locator("[data-admin-sub-state]")).to_contain_text("Active")

    admin.get_by_label("Rechercher un client de l'organisation (nom ou e-mail)").fill("alice")
    admin.get_by_role("button", name="Rechercher", exact=True).click()
    admin.get_by_role("button", name="Ajouter Alice Durand").click()
    expect(admin.locator("[data-admin-keyusers]")).to_contain_text("Alice Durand")
    expect(admin.locator("[data-admin-audit]")).to_contain_text("utilisateur clé cust-alice ajouté à Fromagerie Durand")

    page.screenshot(path=str(artifacts_dir / f"admin-subscription-{width}.png"), full_page=True)
    frame = page.locator(ADMIN_FRAME).element_handle().content_frame()
    assert serious_violations(frame) == []
    context.close()

    response = jira_site.control("GET", "/_devsite/requests")
    assert any(entry["path"].endswith("/organization/1/user") for entry in response)
