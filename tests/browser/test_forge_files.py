"""Files in the chat in Forge mode: the built Custom UI pages in the local site's Forge host, where
uploads and downloads go through requestRemote of the real @forge/bridge. The host page rebuilds
the multipart body and calls the add-on itself with a cached FIT, across origins.

The key user pastes a screenshot and the file reaches the request as theirs; the agent sees its
thumbnail, sends a PDF that the key user downloads, and opens the printable transcript. Then the
key user downloads the invitation (.ics) of an appointment the agent offered.
"""

import base64
import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from addon.sla.calendar import BusinessCalendar
from tests.browser.test_attachments import PASTE_SCRIPT, PDF, PNG, attachments_of
from tests.browser.test_chat_journey import frame_of, logged_in_page, start_chat
from tests.browser.test_forge_journey import (  # noqa: F401 (fixture)
    AGENT,
    AGENT_FRAME,
    CUSTOMER,
    FOOTER_FRAME,
    PORTAL_PAGE,
    WAIT_MS,
    forge_addon,
)
from tests.browser.test_moves import move_as_agent
from tests.browser.test_unread import open_transcript

pytestmark = pytest.mark.browser

PDF_NAME = "procédure <clôture>.pdf"


def chat_with_agent(browser, jira_site):
    """Start a chat in the Forge portal footer and open its issue panel as the agent.

    Return (customer page, footer frame, agent page, panel frame, issue key).
    """
    customer = logged_in_page(browser, jira_site.url, CUSTOMER, PORTAL_PAGE)
    customer.set_default_timeout(WAIT_MS)
    issue_key = start_chat(customer, FOOTER_FRAME)
    footer = customer.frame_locator(FOOTER_FRAME)
    agent = logged_in_page(browser, jira_site.url, AGENT, f"/_devsite/forge/host/issue/{issue_key}")
    agent.set_default_timeout(WAIT_MS)
    panel = agent.frame_locator(AGENT_FRAME)
    return customer, footer, agent, panel, issue_key


def test_forge_files_round_trip(browser, jira_site, forge_addon):  # noqa: F811
    customer, footer, agent, panel, issue_key = chat_with_agent(browser, jira_site)
    expect(panel.get_by_role("button", name="Joindre un fichier")).to_be_visible()

    # The key user pastes a screenshot: the request gets it as theirs, both sides show the image.
    expect(footer.get_by_role("button", name="Joindre un fichier")).to_be_visible()
    frame_of(customer, FOOTER_FRAME).evaluate(PASTE_SCRIPT, [base64.b64encode(PNG).decode()])
    thumbnail = panel.locator(".chat-attachment-thumbnail img")
    expect(thumbnail).to_have_count(1)
    expect(thumbnail).to_have_js_property("naturalWidth", 160)
    expect(footer.locator(".chat-attachment-thumbnail img")).to_have_js_property("naturalWidth", 160)
    [screenshot] = attachments_of(jira_site, issue_key, 1)
    assert screenshot["author"] == CUSTOMER
    assert screenshot["public"] is True
    assert re.fullmatch(r"capture-\d{8}-\d{6}\.png", screenshot["filename"])
    expect(panel.locator(".chat-attachment-jira[data-jira-state='synced']")).to_have_count(1)

    # The agent sends a PDF, and the key user downloads the same bytes.
    panel.locator(".chat-composer input[type='file']").set_input_files(
        files=[{"name": PDF_NAME, "mimeType": "application/pdf", "buffer": PDF}])
    link = footer.get_by_role("link", name=f"Télécharger {PDF_NAME}")
    expect(link).to_be_visible()
    with customer.expect_download(timeout=WAIT_MS) as started:
        link.click()
    download = started.value
    # Chromium replaces the characters that file systems forbid in a name.
    assert download.suggested_filename == "procédure _clôture_.pdf"
    with open(download.path(), "rb") as saved:
        assert saved.read() == PDF
    attachments = attachments_of(jira_site, issue_key, 2)
    assert (attachments[1]["filename"], attachments[1]["author"]) == (PDF_NAME, AGENT)

    # The agent's printable transcript has the key user's first message and both files.
    window = open_transcript(agent, panel)
    text = window.locator("body").inner_text()
    assert "Version 12.3" in text
    assert PDF_NAME in text


def test_forge_appointment_invitation(browser, jira_site, forge_addon):  # noqa: F811
    customer, footer, agent, panel, issue_key = chat_with_agent(browser, jira_site)
    # Slots must fall within support hours: the first day the default calendar opens, three days on.
    calendar = BusinessCalendar.default()
    day = (datetime.now(ZoneInfo("Europe/Paris")) + timedelta(days=3)).date()
    while not calendar.open_intervals(day):
        day += timedelta(days=1)
    slot = f"{day.isoformat()}T10:00"

    move_as_agent(panel, "Prendre rendez-vous", slots=[slot])
    footer.locator("[data-move-slot]").first.click()

    expect(footer.locator("[data-chat-move]")).to_contain_text("Rendez-vous confirmé")
    with customer.expect_download(timeout=WAIT_MS) as started:
        footer.get_by_role("link", name="Télécharger l'invitation (.ics)").click()
    download = started.value
    assert download.suggested_filename == f"rendez-vous-{issue_key}.ics"
    text = Path(download.path()).read_bytes().decode("utf-8")
    assert text.startswith("BEGIN:VCALENDAR\r\n")
    start_utc = datetime.fromisoformat(slot).replace(tzinfo=ZoneInfo("Europe/Paris")).astimezone(ZoneInfo("UTC"))
    assert f"DTSTART:{start_utc:%Y%m%dT%H%M%S}Z" in text
