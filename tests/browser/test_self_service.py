"""Self-service at chat start, in headless Chromium through the local Jira site's pages: articles
proposed while the key user types, "Cet article a résolu mon problème" counted, a rating, the guard
for a training request, the vague-statement hint, and the self-service section of the settings page.
"""

import json
import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from addon.atlassian.installations import get_installation
from addon.faq.models import ArticleRating, ScopeFlag, SelfServiceResolution
from tests.browser.test_chat_journey import FOOTER_FRAME, PORTAL, WAIT_MS, logged_in_page

pytestmark = pytest.mark.browser

KEY_USER = "cust-alice"
ADMIN = "admin-lea"
ADMIN_PAGE = "/plugins/servlet/ac/com.example.support-chat/chat-admin"
ADMIN_FRAME = "iframe.ap-frame[data-module-key='chat-admin']"
ARTICLES = [
    {"id": "FAQ-E1024", "kind": "faq", "title": "Erreur E1024 à la validation d'une facture",
     "body": "L'erreur E1024 signale une facture dont la période comptable est fermée. Rouvrez la période.",
     "tags": ["E1024", "facture"]},
    {"id": "TUTO-BL", "kind": "tuto", "title": "Créer un bon de livraison",
     "body": "Depuis la commande client, choisissez Livrer puis validez.", "tags": ["BL", "livraison"],
     "url": "https://docs.example.com/bl"},
    {"id": "FAQ-MDP", "kind": "faq", "title": "Réinitialiser son mot de passe",
     "body": "Sur l'écran de connexion, choisissez Mot de passe oublié.", "tags": ["connexion"]},
]


@pytest.fixture
def faq_addon(chat_addon):
    """The chat add-on with a catalogue of three articles."""
    from addon.faq import catalogue

    with chat_addon.app.app_context():
        installation_id = get_installation(chat_addon.client_key).id
        report = catalogue.import_articles(installation_id, ADMIN, json.dumps(ARTICLES), "catalogue.json")
    assert report["imported"], report
    chat_addon.installation_id = installation_id
    return chat_addon


def rows(server, model):
    with server.app.app_context():
        return list(server.app.extensions["database"].session.query(model))


def serious_violations(frame, context=None):
    results = Axe().run(frame, context=context)
    return [(violation["id"], violation["impact"], [node["target"] for node in violation["nodes"]])
            for violation in results.response["violations"]
            if violation["impact"] in ("serious", "critical")]


def open_form(browser, site_url):
    page = logged_in_page(browser, site_url, KEY_USER, PORTAL)
    footer = page.frame_locator(FOOTER_FRAME)
    footer.get_by_role("button", name="Démarrer une discussion").click()
    return page, footer


def test_suggestions_while_typing_and_solved(browser, jira_site, faq_addon, artifacts_dir):
    page, footer = open_form(browser, jira_site.url)
    suggestions = footer.locator("[data-suggestions]")
    expect(suggestions).to_be_hidden()

    footer.get_by_label("Résumé").press_sequentially("Impossible de valider une facture")
    footer.get_by_label("Votre message").press_sequentially("Erreur E1024 à la validation.")

    first = suggestions.locator("[data-article-id]").first
    expect(first).to_have_attribute("data-article-id", "FAQ-E1024", timeout=WAIT_MS)
    expect(suggestions.get_by_role("heading", name="Articles qui pourraient vous aider")).to_be_visible()
    expect(first).to_contain_text("Erreur E1024 à la validation d'une facture")
    expect(first).to_contain_text("L'erreur E1024 signale")
    expect(first.get_by_role("link")).to_have_count(0)

    # A rating is stored and shown as pressed.
    first.get_by_role("button", name="Oui").click()
    expect(first.get_by_role("button", name="Oui")).to_have_attribute("aria-pressed", "true")
    expect(first.locator(".faq-rated")).to_have_text("Merci pour votre avis.")
    assert [(rating.article_id, rating.helpful) for rating in rows(faq_addon, ArticleRating)] == [("FAQ-E1024", True)]

    footer.get_by_label("Domaine fonctionnel").select_option("Comptabilité")
    frame = page.locator(FOOTER_FRAME).element_handle().content_frame()
    page.screenshot(path=str(artifacts_dir / "self-service-suggestions.png"), full_page=True)
    assert serious_violations(frame) == []

    first.get_by_role("button", name="Cet article a résolu mon problème").click()
    solved = footer.locator("[data-view='solved']")
    expect(solved.get_by_role("heading", name="Problème résolu")).to_be_visible()
    expect(solved.locator("[data-solved-text]")).to_contain_text("aucune demande n'a été ouverte")
    [resolution] = rows(faq_addon, SelfServiceResolution)
    assert (resolution.article_id, resolution.account_id, resolution.organization_id) == ("FAQ-E1024", KEY_USER, "1")
    assert resolution.product_area == "Comptabilité"
    with faq_addon.app.app_context():
        from addon.faq.service import statistics

        stats = {row["id"]: row for row in statistics(faq_addon.installation_id)["articles"]}
    assert (stats["FAQ-E1024"]["shown"], stats["FAQ-E1024"]["solved"], stats["FAQ-E1024"]["helpful"]) == (1, 1, 1)


def test_guard_for_training_request(browser, jira_site, faq_addon, artifacts_dir):
    page, footer = open_form(browser, jira_site.url)
    guard = footer.locator("[data-guard]")

    footer.get_by_label("Résumé").fill("Session de formation pour nos équipes")
    footer.get_by_label("Votre message").press_sequentially(
        "Nous voudrions organiser une formation complète au module achats.")

    expect(guard).to_be_visible(timeout=WAIT_MS)
    expect(guard.get_by_role("heading")).to_have_text("Le chat n'est pas destiné à la formation")
    expect(guard).to_contain_text("adressez-vous au service formation")

    # Starting anyway needs the key user's explicit choice; the server enforces it too.
    footer.get_by_label("Domaine fonctionnel").select_option("Achats")
    footer.get_by_label("Question").check()
    # The answer-by line follows the impact (support may be open or closed when the test runs).
    expect(footer.locator("[data-answer-by]")).to_contain_text("Un technicien vous répondra avant")
    footer.get_by_role("button", name="Démarrer la discussion").click()
    choice = footer.get_by_label("Je souhaite tout de même démarrer la discussion")
    expect(choice).to_be_focused()
    expect(choice).to_have_attribute("aria-invalid", "true")
    frame = page.locator(FOOTER_FRAME).element_handle().content_frame()
    page.screenshot(path=str(artifacts_dir / "self-service-guard.png"), full_page=True)
    assert serious_violations(frame) == []

    choice.check()
    footer.get_by_role("button", name="Démarrer la discussion").click()
    expect(footer.locator("[data-chat-heading]")).to_have_text(re.compile(r"^Demande SUP-\d+$"), timeout=WAIT_MS)
    [flag] = rows(faq_addon, ScopeFlag)
    assert (flag.scope, flag.source) == ("training", "key_user")


def test_vague_statement_hint(browser, jira_site, faq_addon):
    _page, footer = open_form(browser, jira_site.url)

    footer.get_by_label("Résumé").fill("Bug")
    footer.get_by_label("Domaine fonctionnel").select_option("Ventes")
    footer.get_by_label("Bloquant").check()
    footer.get_by_label("Votre message").fill("ça marche pas")
    footer.get_by_role("button", name="Démarrer la discussion").click()

    summary = footer.get_by_label("Résumé")
    expect(summary).to_have_attribute("aria-invalid", "true", timeout=WAIT_MS)
    expect(footer.locator("#chat-summary-error")).to_contain_text("trop vague")
    expect(summary).to_have_value("Bug")
    expect(footer.get_by_label("Votre message")).to_have_value("ça marche pas")


def test_settings_section(browser, jira_site, faq_addon, artifacts_dir):
    page = logged_in_page(browser, jira_site.url, ADMIN, ADMIN_PAGE)
    admin = page.frame_locator(ADMIN_FRAME)
    section = admin.locator("[data-faq-settings]")
    expect(section.get_by_role("heading", name="Catalogue FAQ et tutoriels")).to_be_visible()
    expect(section.locator("[data-faq-articles] tr")).to_have_count(3)

    section.get_by_role("button", name="Nouvel article").click()
    section.get_by_label("Titre de l'article").fill("Imprimer une facture")
    section.get_by_label("Texte de l'article").fill("Vérifiez l'imprimante du poste.")
    section.get_by_role("button", name="Enregistrer l'article").click()
    expect(section.locator("[data-faq-status]")).to_have_text("Article FAQ-004 enregistré.")
    expect(section.locator("[data-faq-articles] tr")).to_have_count(4)

    section.get_by_role("button", name="Ajouter un champ").click()
    section.get_by_label("Clé (minuscules, chiffres et _)").fill("erp_version")
    section.get_by_label("Libellé en français").fill("Version de l'ERP")
    section.get_by_label("Libellé en anglais").fill("ERP version")
    section.get_by_role("button", name="Enregistrer les champs").click()
    expect(section.locator("[data-faq-status]")).to_have_text("Réglages enregistrés.")

    frame = page.locator(ADMIN_FRAME).element_handle().content_frame()
    page.screenshot(path=str(artifacts_dir / "self-service-settings.png"), full_page=True)
    assert serious_violations(frame, context="[data-faq-settings]") == []

    customer, footer = open_form(browser, jira_site.url)
    expect(footer.get_by_label("Version de l'ERP")).to_be_visible()
