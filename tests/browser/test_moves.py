"""Moving the conversation on screen, in two browser sessions on the local Jira site's pages: the
agent moves it with a reason (mail, appointment, the ERP's tool, classic ticket) and brings it
back, and the key user sees each hand-off. Jira's side is checked through the site's control API."""

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from addon.settings import set_setting
from addon.sla.calendar import BusinessCalendar
from tests.browser.test_admin import ADMIN_FRAME, ADMIN_PAGE
from tests.browser.test_chat_journey import FOOTER_FRAME, GLANCE_FRAME, PORTAL, log_entry, logged_in_page, start_chat
from tests.browser.test_solution import wait_comment

pytestmark = pytest.mark.browser

CUSTOMER = "cust-alice"
AGENT = "agent-camille"
REASON = "Procédure longue : mieux vaut un échange par écrit."
ERP_TOOL = {"name": "Assistance ERP", "message_fr": "Lancez l'assistance à distance depuis le menu Aide.",
            "message_en": "Start remote support from the Help menu.", "link": "https://support.erp.example/remote"}


def chat_with_agent(browser, jira_site):
    """Start a chat as the key user and open it as the agent; return (footer, glance, issue key, customer page)."""
    customer = logged_in_page(browser, jira_site.url, CUSTOMER, PORTAL)
    issue_key = start_chat(customer)
    agent = logged_in_page(browser, jira_site.url, AGENT, f"/browse/{issue_key}")
    agent.locator("[data-glance-toggle]").click()
    return customer.frame_locator(FOOTER_FRAME), agent.frame_locator(GLANCE_FRAME), issue_key, customer


def move_as_agent(glance, target_label, reason=REASON, slots=()):
    glance.get_by_role("button", name="Déplacer la conversation").click()
    glance.get_by_label("Poursuivre", exact=True).select_option(label=target_label)
    glance.get_by_label("Motif (note interne, obligatoire)").fill(reason)
    for number, slot in enumerate(slots, start=1):
        glance.get_by_label(f"Créneau {number}", exact=True).fill(slot)
    glance.get_by_role("button", name="Déplacer", exact=True).click()


def bring_back(glance, reason=""):
    glance.get_by_label("Motif du retour (facultatif)").fill(reason)
    glance.get_by_role("button", name="Reprendre dans la discussion").click()


def test_mail_move_and_back(browser, jira_site, chat_addon):
    footer, glance, issue_key, _customer = chat_with_agent(browser, jira_site)
    promise = footer.locator("[data-sla-answer]")
    expect(promise).to_be_visible()

    move_as_agent(glance, "Poursuivre par e-mail")

    box = footer.locator("[data-chat-move]")
    expect(box).to_contain_text("La discussion est fermée : Camille Martin poursuit votre demande par e-mail.")
    expect(footer.get_by_label("Écrire un message")).to_be_hidden()
    # The chat no longer promises an answer in it.
    expect(promise).to_be_hidden()
    expect(log_entry(footer, "Conversation poursuivie par e-mail")).to_have_count(1)
    expect(footer.locator("[data-chat-log]")).not_to_contain_text(REASON)
    expect(glance.locator("[data-chat-move]")).to_contain_text(f"Motif : {REASON}")
    wait_comment(jira_site, issue_key, REASON, public=False)
    wait_comment(jira_site, issue_key, "poursuit cette demande par e-mail", public=True)

    bring_back(glance, "Le client préfère finalement le chat.")

    expect(footer.get_by_label("Écrire un message")).to_be_visible()
    expect(box).to_be_hidden()
    expect(promise).to_be_visible()
    expect(log_entry(footer, "Conversation reprise dans la discussion")).to_have_count(1)
    expect(glance.get_by_role("button", name="Déplacer la conversation")).to_be_visible()
    wait_comment(jira_site, issue_key, "Le client préfère finalement le chat.", public=False)


def test_move_requires_reason(browser, jira_site, chat_addon):
    _footer, glance, _issue_key, _customer = chat_with_agent(browser, jira_site)

    move_as_agent(glance, "Poursuivre par e-mail", reason="")

    expect(glance.get_by_role("alert")).to_have_text("Indiquez le motif du déplacement.")
    expect(glance.get_by_role("button", name="Reprendre dans la discussion")).to_have_count(0)


def test_appointment_pick_and_invitation(browser, jira_site, chat_addon):
    footer, glance, issue_key, customer = chat_with_agent(browser, jira_site)
    # Slots must fall within support hours: the first day the default calendar opens, three days on.
    calendar = BusinessCalendar.default()
    day = (datetime.now(ZoneInfo("Europe/Paris")) + timedelta(days=3)).date()
    while not calendar.open_intervals(day):
        day += timedelta(days=1)
    slots = [f"{day.isoformat()}T10:00", f"{day.isoformat()}T15:30"]

    move_as_agent(glance, "Prendre rendez-vous", slots=slots)

    expect(footer.locator("[data-chat-move]")).to_contain_text("Camille Martin vous propose un rendez-vous de 60 min.")
    expect(glance.locator("[data-chat-move]")).to_contain_text("En attente du choix d'un créneau")
    choices = footer.locator("[data-move-slot]")
    expect(choices).to_have_count(2)
    expect(choices.nth(1)).to_contain_text("15:30")

    choices.nth(1).click()

    expect(footer.locator("[data-chat-move]")).to_contain_text("Rendez-vous confirmé")
    expect(glance.locator("[data-chat-move]")).to_contain_text("Créneau choisi")
    expect(log_entry(glance, "Rendez-vous confirmé")).to_have_count(1)
    with customer.expect_download() as download_info:
        footer.get_by_role("link", name="Télécharger l'invitation (.ics)").click()
    download = download_info.value
    assert download.suggested_filename == f"rendez-vous-{issue_key}.ics"
    text = Path(download.path()).read_bytes().decode("utf-8")
    assert text.startswith("BEGIN:VCALENDAR\r\n")
    start_utc = datetime.fromisoformat(slots[1]).replace(tzinfo=ZoneInfo("Europe/Paris")).astimezone(ZoneInfo("UTC"))
    assert f"DTSTART:{start_utc:%Y%m%dT%H%M%S}Z" in text
    wait_comment(jira_site, issue_key, "Invitation (.ics) :", public=True)
    attachments = jira_site.control("GET", f"/_devsite/issues/{issue_key}")["attachments"]
    assert [a["filename"] for a in attachments if a["filename"].endswith(".ics")] == [f"rendez-vous-{issue_key}.ics"]


def test_erp_tool_then_classic_ticket(browser, jira_site, chat_addon):
    with chat_addon.app.app_context():
        from addon.atlassian.installations import get_active_installation

        set_setting(get_active_installation(chat_addon.client_key).id, "erp_tool", ERP_TOOL)
    footer, glance, issue_key, _customer = chat_with_agent(browser, jira_site)

    move_as_agent(glance, "Poursuivre dans l'outil de l'ERP")

    box = footer.locator("[data-chat-move]")
    expect(box).to_contain_text("Camille Martin poursuit votre demande dans Assistance ERP")
    expect(box).to_contain_text(ERP_TOOL["message_fr"])
    tool = footer.get_by_role("link", name="Ouvrir Assistance ERP")
    expect(tool).to_have_attribute("href", ERP_TOOL["link"])
    expect(tool).to_have_attribute("rel", "noopener noreferrer")
    expect(footer.get_by_label("Écrire un message")).to_be_visible()

    bring_back(glance)
    expect(box).to_be_hidden()
    move_as_agent(glance, "Poursuivre en ticket classique")

    expect(box).to_contain_text("La discussion est fermée : Camille Martin poursuit votre demande en ticket classique.")
    expect(footer.get_by_label("Écrire un message")).to_be_hidden()
    portal = footer.get_by_role("link", name="Ouvrir la demande sur le portail")
    expect(portal).to_have_attribute("href", f"{jira_site.url}{PORTAL}/{issue_key}")
    expect(log_entry(footer, "Conversation poursuivie en ticket classique")).to_have_count(1)
    wait_comment(jira_site, issue_key, "poursuit cette demande en ticket classique", public=True)


def test_admin_erp_tool_settings(browser, jira_site, chat_addon):
    admin_page = logged_in_page(browser, jira_site.url, "admin-lea", ADMIN_PAGE)
    admin = admin_page.frame_locator(ADMIN_FRAME)
    section = admin.locator("[data-move-settings]")
    status = section.locator("[data-move-settings-status]")
    error = section.get_by_role("alert")
    expect(section.get_by_label("Durée par défaut d'un rendez-vous (minutes)")).to_have_value("60")
    section.get_by_label("Nom de l'outil de l'ERP (vide : aucun outil)").fill(ERP_TOOL["name"])
    section.get_by_label("Message à l'utilisateur clé, en français").fill(ERP_TOOL["message_fr"])
    section.get_by_label("Lien de l'outil (https://…)").fill("http://support.erp.example/remote")

    section.get_by_role("button", name="Enregistrer les réglages de déplacement").click()

    expect(error).to_contain_text("une adresse https:// est attendue")
    section.get_by_label("Lien de l'outil (https://…)").fill(ERP_TOOL["link"])
    section.get_by_label("Durée par défaut d'un rendez-vous (minutes)").fill("45")
    section.get_by_role("button", name="Enregistrer les réglages de déplacement").click()
    expect(status).to_have_text("Réglages de déplacement enregistrés.")
    expect(error).to_be_hidden()
    admin_page.reload()
    expect(section.get_by_label("Lien de l'outil (https://…)")).to_have_value(ERP_TOOL["link"])
    expect(section.get_by_label("Durée par défaut d'un rendez-vous (minutes)")).to_have_value("45")
