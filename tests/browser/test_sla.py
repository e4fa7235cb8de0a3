"""The SLA on screen, in headless Chromium. The key user sees the answer-by time and its live
changes. The agent panel shows the clock in the calendar's time zone, with its warning and breach,
also over the long-poll fallback. The admin page has the SLA settings section.

The add-on's SLA clock is real time plus an offset that the test moves forward (config SLA_NOW).
The sweeper then fires the warning and the breach at once, while the browsers' clocks stay real.
So the panel can only turn amber or red because the server's "sla" frames reached it.
"""

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect
from sqlalchemy import select

from addon.models import Installation
from addon.settings import DEFAULTS, get_settings, set_setting
from addon.sla.models import SlaClock
from tests.browser.conftest import serve_installed
from tests.browser.test_chat_journey import (
    FOOTER_FRAME,
    GLANCE_FRAME,
    PORTAL,
    REQUEST_FRAME,
    WAIT_MS,
    start_chat,
)
from addon.sla.clock import recompute_site
from tests.browser.test_chat_journey import send
from tests.subscriptions import change_subscription, grant_defaults

pytestmark = pytest.mark.browser

PARIS = ZoneInfo("Europe/Paris")
ADMIN_PAGE = "/plugins/servlet/ac/com.example.support-chat/chat-admin"
ADMIN_FRAME = "iframe.ap-frame[data-module-key='chat-admin']"
ALWAYS_OPEN = {
    "timezone": "Europe/Paris",
    "hours": {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
    "holidays": None,
    "closed_days": [],
}
WINDOW_MINUTES = 60
WARNING_PERCENT = 50
FRENCH_WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")


class ShiftedClock:
    """The app's SLA_NOW: real time plus an offset that the test moves forward."""

    def __init__(self):
        self.offset = timedelta()

    def __call__(self):
        return datetime.now(timezone.utc) + self.offset

    def advance(self, minutes):
        self.offset += timedelta(minutes=minutes)


@pytest.fixture
def sla_clock():
    return ShiftedClock()


@pytest.fixture
def sla_addon(jira_site, tmp_path, sla_clock):
    """The add-on with its sweeper, a support calendar open around the clock and one-hour windows."""
    for server in serve_installed(jira_site, tmp_path, SLA_NOW=sla_clock, SUBSCRIPTION_EXPIRY_JOB=False):
        grant_defaults(server.app, server.client_key)
        policies = {tier: dict(policy, warning_percent=WARNING_PERCENT,
                               first_response_minutes={priority: WINDOW_MINUTES for priority in
                                                       policy["first_response_minutes"]})
                    for tier, policy in DEFAULTS["sla_policies"].items()}
        with server.app.app_context():
            installation_id = server.app.extensions["database"].session.execute(select(Installation.id)).scalar_one()
            set_setting(installation_id, "sla_calendar", ALWAYS_OPEN)
            set_setting(installation_id, "sla_policies", policies)
        yield server


def new_page(browser, site_url, account_id, path, timezone_id):
    context = browser.new_context(locale="fr-FR", timezone_id=timezone_id, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.goto(f"{site_url}/login?as={account_id}&next={path}")
    return page


def deadline_of(app):
    """Return the deadline of the newest SLA clock."""
    with app.app_context():
        session = app.extensions["database"].session
        deadline = session.execute(select(SlaClock.deadline_at).order_by(SlaClock.id.desc()).limit(1)).scalar_one()
        session.rollback()
        return deadline


def set_windows(app, minutes):
    """Give every priority of every tier `minutes` of first and next response, and recompute open clocks."""
    policies = {tier: dict(policy, warning_percent=WARNING_PERCENT,
                           first_response_minutes={priority: minutes for priority in policy["first_response_minutes"]},
                           next_response_minutes={priority: minutes for priority in policy["first_response_minutes"]})
                for tier, policy in DEFAULTS["sla_policies"].items()}
    with app.app_context():
        installation_id = app.extensions["database"].session.execute(select(Installation.id)).scalar_one()
        set_setting(installation_id, "sla_policies", policies)
        recompute_site(installation_id)


def paris_time(deadline, now):
    """The deadline as the key user reads it: HH:MM in Paris, after the weekday when not today."""
    local = deadline.astimezone(PARIS)
    if local.date() == now.astimezone(PARIS).date():
        return local.strftime("%H:%M")
    return f"{FRENCH_WEEKDAYS[local.weekday()]} {local.strftime('%H:%M')}"


def serious_violations(frame, context=None):
    results = Axe().run(frame, context=context)
    return [(violation["id"], violation["impact"], [node["target"] for node in violation["nodes"]])
            for violation in results.response["violations"]
            if violation["impact"] in ("serious", "critical")]


def test_sla_answer_by_and_agent_warning(browser, jira_site, sla_addon, sla_clock, artifacts_dir):
    # The key user's browser is in New York: the time stays in the calendar's zone, which is named.
    customer = new_page(browser, jira_site.url, "cust-alice", PORTAL, "America/New_York")
    issue_key = start_chat(customer)
    footer = customer.frame_locator(FOOTER_FRAME)

    deadline = deadline_of(sla_addon.app)
    assert deadline is not None
    answer = footer.locator("[data-sla-answer]")
    expect(answer.locator(".sla-answer-by")).to_have_text(
        f"Un technicien vous répondra avant {paris_time(deadline, sla_clock())}.")
    expect(answer.locator(".sla-zone")).to_have_text("Heures du support, fuseau Europe/Paris.")
    expect(answer.locator(".sla-closed")).to_be_hidden()
    customer.screenshot(path=str(artifacts_dir / "sla-portal-answer-by.png"), full_page=True)

    agent = new_page(browser, jira_site.url, "agent-camille", f"/browse/{issue_key}", "Europe/Paris")
    agent.locator("[data-glance-toggle]").click()
    glance = agent.frame_locator(GLANCE_FRAME)
    clock = glance.locator("[data-sla-clock]")
    expect(clock).to_have_attribute("data-sla-state", "running")
    expect(clock.locator("[data-sla-text]")).to_have_text(
        re.compile(r"^Réponse attendue avant \S+( \S+)? \(dans (1 h|\d\d? min)\)\.$"))
    expect(clock.locator(".sla-detail")).to_have_text("Contrat standard, priorité High")
    expect(clock.locator("[data-sla-alert]")).to_have_text("")
    # The agent's socket follows the conversation once its presence line is filled in.
    expect(glance.locator(".chat-presence")).to_have_text("L'utilisateur clé est connecté.")

    sla_clock.advance(WINDOW_MINUTES * WARNING_PERCENT / 100 + 1)
    expect(clock).to_have_attribute("data-sla-state", "warning")
    expect(clock.locator(".sla-lozenge")).to_have_text("Échéance proche")
    agent.screenshot(path=str(artifacts_dir / "sla-agent-warning.png"), full_page=True)

    sla_clock.advance(WINDOW_MINUTES)
    expect(clock).to_have_attribute("data-sla-state", "breached")
    alert = glance.get_by_role("alert").filter(has_text="Délai de réponse dépassé")
    expect(alert).to_have_text(re.compile(r"^Délai de réponse dépassé : l'échéance était \S+( \S+)?\.$"))
    agent.screenshot(path=str(artifacts_dir / "sla-agent-breach.png"), full_page=True)
    assert serious_violations(agent.locator(GLANCE_FRAME).element_handle().content_frame()) == []

    # The agent's public reply meets the clock; the key user's line goes.
    box = glance.get_by_label("Écrire un message")
    box.fill("Bonjour Alice, je regarde.")
    box.press("Enter")
    expect(clock).to_have_attribute("data-sla-state", "met")
    expect(clock.locator("[data-sla-text]")).to_have_text(
        re.compile(r"^Première réponse envoyée à \d\d:\d\d, après l'échéance\.$"))
    expect(answer).to_be_hidden()


def test_sla_closed_support_opens_later(browser, jira_site, sla_addon):
    # Support opens only two days from now, 09:00-10:00 in Paris: the chat still opens the request.
    opening_day = (datetime.now(PARIS) + timedelta(days=2)).date()
    day_name = FRENCH_WEEKDAYS[opening_day.weekday()]
    calendar = dict(ALWAYS_OPEN, hours={("mon", "tue", "wed", "thu", "fri", "sat", "sun")[opening_day.weekday()]:
                                        [["09:00", "10:00"]]})
    with sla_addon.app.app_context():
        installation_id = sla_addon.app.extensions["database"].session.execute(select(Installation.id)).scalar_one()
        set_setting(installation_id, "sla_calendar", calendar)

    customer = new_page(browser, jira_site.url, "cust-alice", PORTAL, "Europe/Paris")
    issue_key = start_chat(customer)
    answer = customer.frame_locator(FOOTER_FRAME).locator("[data-sla-answer]")
    expect(answer.locator(".sla-closed")).to_have_text(f"Le support est fermé ; il ouvre {day_name} à 09:00.")
    expect(answer.locator(".sla-answer-by")).to_have_text(f"Un technicien vous répondra avant {day_name} 10:00.")
    expect(answer.locator(".sla-zone")).to_be_hidden()

    # The request's own portal page shows the same line above its chat.
    customer.goto(f"{jira_site.url}{PORTAL}/{issue_key}")
    panel = customer.frame_locator(REQUEST_FRAME).locator("[data-sla-answer]")
    expect(panel.locator(".sla-answer-by")).to_have_text(f"Un technicien vous répondra avant {day_name} 10:00.")


def test_sla_settings_section(browser, jira_site, sla_addon, artifacts_dir):
    page = new_page(browser, jira_site.url, "admin-lea", ADMIN_PAGE, "Europe/Paris")
    admin = page.frame_locator(ADMIN_FRAME)
    section = admin.locator("[data-sla-settings]")
    expect(section.get_by_role("heading", name="Délais de réponse (SLA)")).to_be_visible()
    expect(section.get_by_label("Fuseau horaire")).to_have_value("Europe/Paris")
    expect(section.get_by_label("Lundi, plage 1 : ouverture")).to_have_value("00:00")

    # A bad closing time is named once, next to its row, in French and without the JSON path;
    # the focus goes to the closing time. Nothing is stored.
    opening = section.get_by_label("Lundi, plage 1 : ouverture")
    closing = section.get_by_label("Lundi, plage 1 : fermeture")
    closing.fill("25:00")
    section.get_by_role("button", name="Enregistrer le calendrier").click()
    expect(closing).to_have_attribute("aria-invalid", "true")
    expect(closing).to_be_focused()
    expect(opening).not_to_have_attribute("aria-invalid", "true")
    row_error = section.locator("[data-sla-field='calendar.hours.mon[0]'] .chat-field-error")
    expect(row_error).to_have_text(
        "Heure invalide « 25:00 » : utilisez 00:00 à 23:59, ou 24:00 pour une fermeture à minuit.")
    expect(section.locator("[data-sla-calendar-form] [data-sla-form-error]")).to_be_hidden()
    expect(section).not_to_contain_text("hours.mon")

    # Lunch break on Monday, Moselle's holidays, and save.
    opening.fill("09:00")
    closing.fill("12:00")
    section.get_by_role("button", name="Ajouter une plage horaire le lundi").click()
    expect(section.get_by_label("Lundi, plage 2 : ouverture")).to_be_focused()
    section.get_by_label("Lundi, plage 2 : ouverture").fill("14:00")
    section.get_by_label("Lundi, plage 2 : fermeture").fill("18:00")
    section.get_by_label("Jours fériés du pays").select_option("FR")
    subdivision = section.get_by_label("Subdivision (jours fériés locaux)")
    expect(subdivision.locator("option[value='6AE']")).to_have_text("Alsace (6AE)")
    subdivision.select_option("57")
    section.get_by_role("button", name="Enregistrer le calendrier").click()
    calendar_status = section.locator("[data-sla-calendar-form] [data-sla-form-status]")
    expect(calendar_status).to_have_text(
        "Calendrier enregistré. Échéance recalculée pour 0 discussion dont le délai court encore.")
    expect(closing).not_to_have_attribute("aria-invalid", "true")
    expect(row_error).to_be_hidden()

    with sla_addon.app.app_context():
        installation_id = sla_addon.app.extensions["database"].session.execute(select(Installation.id)).scalar_one()
        calendar = get_settings(installation_id)["sla_calendar"]
    assert calendar["hours"]["mon"] == [["09:00", "12:00"], ["14:00", "18:00"]]
    assert calendar["holidays"] == {"country": "FR", "subdivision": "57"}

    # Export, then import a file: a bad one changes nothing, a good one replaces the calendar.
    with page.expect_download() as download:
        section.get_by_role("button", name="Exporter en JSON").click()
    assert download.value.suggested_filename == "sla-calendar.json"
    exported = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert exported == calendar

    file_input = section.get_by_label("Fichier JSON exporté ou écrit à la main ; il remplace le calendrier enregistré")
    import_error = section.locator("[data-sla-import-form] [data-sla-form-error]")
    import_status = section.locator("[data-sla-import-form] [data-sla-form-status]")

    def import_file(name, content):
        file_input.set_input_files(files=[{"name": name, "mimeType": "application/json", "buffer": content}])
        section.get_by_role("button", name="Importer le fichier JSON").click()

    # Errors of a file are worded in the page's language, with the place in the file in words.
    import_file("bad.json", json.dumps(dict(exported, holidays={"country": "FR", "subdivision": "67"})).encode())
    expect(import_error).to_contain_text("« 67 » n'est pas une subdivision de FR : choisissez parmi 57, 6AE, ")
    expect(import_error).not_to_contain_text("holidays.subdivision")
    expect(calendar_status).to_be_empty()
    broken = json.dumps(dict(exported, hours=dict(exported["hours"], fri=[["09:00", "12:00"], ["14:00", "18h00"]])))
    import_file("badvalue.json", broken.encode())
    expect(import_error).to_have_text(
        "Vendredi, plage 2 : heure « 18h00 » illisible : écrivez-la HH:MM, par exemple 09:00.")
    import_file("broken.json", b'{"timezone": "Europe/Paris",')
    expect(import_error).to_have_text("Le fichier n'est pas du JSON valide (ligne 1, colonne 29) : corrigez-le "
                                      "à cet endroit ou exportez de nouveau le calendrier.")

    good = dict(exported, holidays={"country": "FR", "subdivision": "6AE"},
                special_days={"2026-12-31": [["09:00", "12:00"]]})
    import_file("good.json", json.dumps(good).encode("utf-8"))
    expect(import_status).to_have_text(
        "Calendrier importé. Échéance recalculée pour 0 discussion dont le délai court encore.")
    expect(import_error).to_be_hidden()
    expect(subdivision).to_have_value("6AE")
    expect(section.get_by_label("Date du jour particulier 1")).to_have_value("2026-12-31")
    expect(section.get_by_label("Horaires du jour particulier 1 (par exemple 09:00-12:00, 14:00-16:00)")).to_have_value(
        "09:00-12:00")

    # A client-side check: minutes must be whole numbers.
    premium = section.locator("[data-tier='premium']")
    premium.get_by_label("Highest").first.fill("0")
    section.get_by_role("button", name="Enregistrer les politiques").click()
    expect(premium.get_by_label("Highest").first).to_have_attribute("aria-invalid", "true")
    premium.get_by_label("Highest").first.fill("45")
    section.get_by_role("button", name="Enregistrer les politiques").click()
    expect(section.locator("[data-sla-policies-form] [data-sla-form-status]")).to_have_text(
        "Politiques enregistrées. Échéance recalculée pour 0 discussion dont le délai court encore.")
    expect(import_status).to_be_empty()

    section.screenshot(path=str(artifacts_dir / "sla-settings.png"))
    frame = page.locator(ADMIN_FRAME).element_handle().content_frame()
    assert serious_violations(frame, context="[data-sla-settings]") == []


def test_sla_live_key_user_and_polling_agent(browser, jira_site, sla_addon, sla_clock, artifacts_dir):
    app = sla_addon.app
    set_windows(app, WINDOW_MINUTES)
    customer = new_page(browser, jira_site.url, "cust-alice", PORTAL, "Europe/Paris")
    issue_key = start_chat(customer)
    footer = customer.frame_locator(FOOTER_FRAME)
    answer = footer.locator("[data-sla-answer]")
    expect(answer.locator(".sla-answer-by")).to_have_text(
        f"Un technicien vous répondra avant {paris_time(deadline_of(app), sla_clock())}.")

    # The agent's browser has no websocket, so its panel long-polls; it is in New York, and the
    # clock shows Paris times and names the zone.
    context = browser.new_context(locale="fr-FR", timezone_id="America/New_York", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    context.add_init_script("delete window.WebSocket;")
    agent = context.new_page()
    polls, sockets = [], []
    agent.on("request", lambda request: polls.append(request.url) if "/poll?" in request.url else None)
    agent.on("websocket", lambda socket: sockets.append(socket.url))
    agent.goto(f"{jira_site.url}/login?as=agent-camille&next=/browse/{issue_key}")
    agent.locator("[data-glance-toggle]").click()
    glance = agent.frame_locator(GLANCE_FRAME)
    clock = glance.locator("[data-sla-clock]")
    expect(clock.locator("[data-sla-text]")).to_have_text(re.compile(
        rf"^Réponse attendue avant {paris_time(deadline_of(app), sla_clock())} \(dans (1 h|\d\d? min)\)\.$"))
    expect(clock.locator(".sla-zone")).to_have_text("Heures du support, fuseau Europe/Paris.")

    # A recompute moves the key user's time and the agent's deadline, live.
    set_windows(app, 2 * WINDOW_MINUTES)
    moved = deadline_of(app)
    expect(answer.locator(".sla-answer-by")).to_have_text(
        f"Un technicien vous répondra avant {paris_time(moved, sla_clock())}.")
    expect(clock.locator("[data-sla-text]")).to_contain_text(f"Réponse attendue avant {paris_time(moved, sla_clock())} ")

    # The warning reaches the polling panel as a frame (the browser's own clock is far from it).
    sla_clock.advance(2 * WINDOW_MINUTES * WARNING_PERCENT / 100 + 1)
    expect(clock).to_have_attribute("data-sla-state", "warning")
    agent.screenshot(path=str(artifacts_dir / "sla-agent-polling-warning.png"), full_page=True)

    # The agent's reply hides the key user's line. The key user's next message starts a
    # next-response round of the premium tier, so the line comes back with its new time.
    change_subscription(app, sla_addon.client_key, "1", sla_tier="premium", notify=False)
    send(glance, "Bonjour Alice, je regarde.")
    expect(clock).to_have_attribute("data-sla-state", "met")
    expect(answer).to_be_hidden()
    send(footer, "Voici une capture de l'erreur.")
    expect(clock).to_have_attribute("data-sla-state", "running")
    expect(clock).to_have_attribute("aria-label", "Délai de réponse suivante")
    expect(answer.locator(".sla-answer-by")).to_have_text(
        f"Un technicien vous répondra avant {paris_time(deadline_of(app), sla_clock())}.")
    expect(answer).to_be_visible()
    customer.screenshot(path=str(artifacts_dir / "sla-portal-next-round.png"), full_page=True)
    assert polls
    assert sockets == []
    context.close()
