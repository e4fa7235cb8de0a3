"""A support lead manages a subscription through the admin page of the local Jira site: activates
Fromagerie Durand's subscription and adds cust-alice as key user, in headless Chromium."""

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from addon.atlassian.installations import get_installation
from addon.settings import get_settings
from tests.browser.conftest import serve_installed

pytestmark = pytest.mark.browser

ADMIN_PAGE = "/plugins/servlet/ac/com.example.support-chat/chat-admin"
ADMIN_FRAME = "iframe.ap-frame[data-module-key='chat-admin']"
WAIT_MS = 20_000


@pytest.fixture
def admin_addon(jira_site, tmp_path):
    """The add-on with its admin API, installed into the local Jira site, without the expiry job."""
    yield from serve_installed(jira_site, tmp_path, SUBSCRIPTION_EXPIRY_JOB=False)


def outcome(admin, name, role="status"):
    """Return the status (or alert) line below the control of outcome `name` on the admin page."""
    return admin.locator(f"[data-admin-outcome='{name}'] [role='{role}']")


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

    # The organisation's name and its state read apart, for the eye and for screen readers.
    organization = admin.locator("[data-admin-orgs] li", has_text="Fromagerie Durand")
    expect(organization).to_contain_text("Fromagerie Durand. Pas de souscription")
    name_box = organization.locator(".admin-org-name").bounding_box()
    state_box = organization.locator(".admin-state").bounding_box()
    assert state_box["x"] >= name_box["x"] + name_box["width"] + 4 or state_box["y"] >= name_box["y"] + name_box["height"]

    admin.get_by_role("button", name="Gérer Fromagerie Durand").click()
    expect(admin.get_by_role("heading", name="Souscription de Fromagerie Durand")).to_be_visible()
    admin.get_by_label("Référence du contrat").fill("CT-2026-001")
    admin.get_by_label("Date de début").fill("2026-01-01")
    admin.get_by_label("Date de fin (vide : sans fin)").fill("2030-12-31")
    admin.get_by_label("Contact principal").select_option("cust-alice")
    admin.get_by_role("button", name="Enregistrer la souscription").click()
    # Each outcome shows right below the button that caused it.
    expect(outcome(admin, "save")).to_have_text("Souscription enregistrée.")
    # Saved but never activated: "À activer", not "Suspendue".
    expect(admin.locator("[data-admin-sub-state]")).to_contain_text("État : À activer")
    expect(admin.locator("[data-admin-orgs] li", has_text="Fromagerie Durand")).to_contain_text("À activer")

    admin.get_by_role("button", name="Activer").click()
    expect(outcome(admin, "status")).to_have_text("Souscription activée.")
    expect(outcome(admin, "save")).to_be_empty()
    expect(admin.locator("[data-admin-sub-state]")).to_contain_text("Active")

    admin.get_by_label("Rechercher un client de l'organisation (nom ou e-mail)").fill("alice")
    admin.get_by_role("button", name="Rechercher", exact=True).click()
    admin.get_by_role("button", name="Ajouter Alice Durand").click()
    expect(outcome(admin, "key-users")).to_have_text("Alice Durand est maintenant utilisateur clé.")
    expect(admin.locator("[data-admin-keyusers]")).to_contain_text("Alice Durand")
    expect(admin.locator("[data-admin-keyusers]")).to_contain_text("par Léa Petit")
    # The audit log names people by their Jira display names, not their accountIds.
    expect(admin.locator("[data-admin-audit]")).to_contain_text(
        "Léa Petit : utilisateur clé Alice Durand ajouté à Fromagerie Durand")
    expect(admin.locator("[data-admin-audit]")).not_to_contain_text("cust-alice")
    expect(admin.locator("[data-admin-audit]")).not_to_contain_text("admin-lea")

    # An import without a file: an alert below the import button, and no earlier success left.
    admin.get_by_role("button", name="Importer", exact=True).click()
    expect(outcome(admin, "import", "alert")).to_have_text("Choisissez un fichier CSV.")
    expect(admin.get_by_label("Fichier CSV (UTF-8)")).to_be_focused()
    expect(outcome(admin, "key-users")).to_be_empty()

    page.screenshot(path=str(artifacts_dir / f"admin-subscription-{width}.png"), full_page=True)
    frame = page.locator(ADMIN_FRAME).element_handle().content_frame()
    assert serious_violations(frame) == []
    context.close()

    response = jira_site.control("GET", "/_devsite/requests")
    assert any(entry["path"].endswith("/organization/1/user") for entry in response)


# Texts of the admin page in each language, checked on the page in the other language. Product
# areas, organisation and desk names are data, in French whatever the language, so none is listed.
FRENCH_TEXTS = [
    "Administration de la discussion", "Organisations et souscriptions", "Pas de souscription", "Gérer",
    "Souscription de", "Référence du contrat", "Date de début", "Enregistrer la souscription", "Activer",
    "Suspendre", "Renouveler", "Utilisateurs clés", "Rechercher", "Import CSV", "Colonnes",
    "Journal des modifications", "créé", "Plus récents", "Plus anciens", "Réglages de la discussion",
    "Type de demande", "Adresse e-mail du support", "Aucune adresse", "Chargement", "À activer", "État",
]
ENGLISH_TEXTS = [
    "Support chat administration", "Organizations and subscriptions", "No subscription", "Manage",
    "Subscription of", "Contract reference", "Start date", "Save the subscription", "Activate", "Suspend",
    "Renew", "Key users", "Search", "CSV import", "Columns", "Audit log", "created", "Newer", "Older",
    "Chat settings", "Request type", "Support e-mail address", "No address", "Loading", "Not yet active",
    "State",
]
# What the page shows in each language once it is drawn, to wait for before reading it.
DRAWN = {
    "fr": {"manage": "Gérer Fromagerie Durand", "contract": "Référence du contrat", "start": "Date de début",
           "save": "Enregistrer la souscription", "saved": "Souscription enregistrée.",
           "state": "État : À activer", "audit": "Léa Petit : souscription de Fromagerie Durand créée",
           "hint": "Aucune adresse"},
    "en": {"manage": "Manage Fromagerie Durand", "contract": "Contract reference", "start": "Start date",
           "save": "Save the subscription", "saved": "Subscription saved.",
           "state": "State: Not yet active", "audit": "Léa Petit: created the subscription of Fromagerie Durand",
           "hint": "No address"},
}


def shown_texts(text, candidates):
    return [candidate for candidate in candidates if re.search(r"\b" + re.escape(candidate) + r"\b", text)]


@pytest.mark.parametrize(("jira_locale", "browser_locale", "lang", "other_texts"), [
    ("en_US", "fr-FR", "en", FRENCH_TEXTS),
    ("fr_FR", "en-US", "fr", ENGLISH_TEXTS),
], ids=["english-jira-user", "french-jira-user"])
def test_admin_one_language(browser, admin_addon, jira_site, jira_locale, browser_locale, lang, other_texts):
    # The Jira user's language wins over the browser's, on every text of the page.
    jira_site.control("PATCH", "/_devsite/users/admin-lea", json={"locale": jira_locale})
    context = browser.new_context(locale=browser_locale, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.goto(f"{jira_site.url}/login?as=admin-lea&next={ADMIN_PAGE}")
    admin = page.frame_locator(ADMIN_FRAME)
    drawn = DRAWN[lang]

    expect(admin.locator("html")).to_have_attribute("lang", lang)
    admin.get_by_role("button", name=drawn["manage"]).click()
    # The heading names the organisation once the form is filled; typing earlier would be reset.
    expect(admin.locator("[data-admin-sub-title]")).to_contain_text("Fromagerie Durand")
    admin.get_by_label(drawn["contract"]).fill("CT-2026-002")
    admin.get_by_label(drawn["start"]).fill("2026-01-01")
    admin.get_by_role("button", name=drawn["save"]).click()
    expect(outcome(admin, "save")).to_have_text(drawn["saved"])
    expect(admin.locator("[data-admin-sub-state]")).to_contain_text(drawn["state"])
    expect(admin.locator("[data-admin-audit]")).to_contain_text(drawn["audit"])
    expect(admin.locator("[data-settings-email-missing]")).to_contain_text(drawn["hint"])
    expect(admin.locator("[data-site-settings-status]")).to_be_empty()

    assert shown_texts(admin.locator("body").inner_text(), other_texts) == []
    context.close()


def test_admin_solution_workflow_settings(browser, admin_addon, jira_site):
    # The status settings offer the local site's statuses; the saved choices come back on reload.
    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.goto(f"{jira_site.url}/login?as=admin-lea&next={ADMIN_PAGE}")
    admin = page.frame_locator(ADMIN_FRAME)
    solution_status = admin.get_by_label("Statut après « Valider la solution »")
    reopen_status = admin.get_by_label("Statut après « Le problème persiste »")

    expect(reopen_status).to_have_value("Waiting for support")
    expect(solution_status).to_have_value("")
    solution_status.select_option("Closed")
    admin.get_by_label("Résolution de la demande validée").fill("Won't Do")
    reopen_status.select_option("In Progress")
    admin.get_by_role("button", name="Enregistrer les réglages", exact=True).click()
    expect(admin.locator("[data-site-settings-status]")).to_have_text("Réglages enregistrés.")

    page.reload()
    expect(solution_status).to_have_value("Closed")
    expect(admin.get_by_label("Résolution de la demande validée")).to_have_value("Won't Do")
    expect(reopen_status).to_have_value("In Progress")
    solution_status.select_option("")
    admin.get_by_role("button", name="Enregistrer les réglages", exact=True).click()
    expect(admin.locator("[data-site-settings-status]")).to_have_text("Réglages enregistrés.")
    with admin_addon.app.app_context():
        settings = get_settings(get_installation(admin_addon.client_key).id)
    assert settings["solution_status"] is None
    assert settings["solution_resolution"] == "Won't Do"
    assert settings["reopen_status"] == "In Progress"
    context.close()


def test_admin_workspace_settings(browser, admin_addon, jira_site):
    # Routing by product area and canned replies are saved, refused with the server's reason, and reloaded.
    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.goto(f"{jira_site.url}/login?as=admin-lea&next={ADMIN_PAGE}")
    admin = page.frame_locator(ADMIN_FRAME)
    expect(admin.locator("[data-workspace-settings][data-wsa-ready='true']")).to_have_count(1)

    admin.get_by_label("Groupe Jira du domaine Production").fill("support-production")
    admin.get_by_label("Discussions simultanées par technicien, au plus").fill("0")
    admin.get_by_role("button", name="Enregistrer le routage").click()
    expect(admin.locator("[data-wsa-routing-status]")).to_contain_text("max_chats_per_agent")
    admin.get_by_label("Discussions simultanées par technicien, au plus").fill("2")
    admin.get_by_role("button", name="Enregistrer le routage").click()
    expect(admin.locator("[data-wsa-routing-status]")).to_have_text("Routage enregistré.")

    admin.get_by_role("button", name="Ajouter une réponse type").click()
    admin.get_by_label("Raccourci").fill("merci")
    admin.get_by_label("Titre", exact=True).fill("Remerciement")
    admin.get_by_label("Texte en français").fill("Merci {prenom} pour votre retour sur {demande}.")
    admin.get_by_role("button", name="Enregistrer les réponses types").click()
    expect(admin.locator("[data-wsa-canned-status]")).to_have_text("Réponses types enregistrées.")

    page.reload()
    expect(admin.get_by_label("Groupe Jira du domaine Production")).to_have_value("support-production")
    expect(admin.get_by_label("Raccourci")).to_have_value("merci")
    with admin_addon.app.app_context():
        settings = get_settings(get_installation(admin_addon.client_key).id)
    assert settings["chat_routing"]["max_chats_per_agent"] == 2
    assert settings["canned_replies"][0]["body_fr"] == "Merci {prenom} pour votre retour sur {demande}."
    context.close()
