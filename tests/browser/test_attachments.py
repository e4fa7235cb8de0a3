"""Files in the chat on screen, in two browser sessions on the local Jira site's pages: the key user
pastes a screenshot and the agent sees its thumbnail, with the file on the request as the key
user's attachment; the agent picks a PDF and the key user gets a link to it; a file over the
limit is refused on the page with a message naming the limit."""

import base64
import re
import struct
import zlib

import pytest
from playwright.sync_api import expect

from tests.browser.test_chat_journey import (
    FOOTER_FRAME,
    GLANCE_FRAME,
    PORTAL,
    frame_of,
    logged_in_page,
    serious_violations,
    start_chat,
)
from tests.support import wait_until

pytestmark = pytest.mark.browser

CUSTOMER = "cust-alice"
AGENT = "agent-camille"


def png_image(width, height, rgb=(0, 82, 204)):
    """A PNG of one colour, built by hand: signature, IHDR, one IDAT, IEND."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


PNG = png_image(160, 90)
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
# Puts a PNG on a synthetic clipboard and pastes it into the message box, as a screenshot would.
PASTE_SCRIPT = """([bytes]) => {
  const data = Uint8Array.from(atob(bytes), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([data], "image.png", {type: "image/png"}));
  const box = document.querySelector(".chat-input");
  box.focus();
  box.dispatchEvent(new ClipboardEvent("paste", {clipboardData: transfer, bubbles: true, cancelable: true}));
}"""


def attachments_of(jira_site, issue_key, count):
    def fetch():
        found = jira_site.control("GET", f"/_devsite/issues/{issue_key}")["attachments"]
        return found if len(found) >= count else None

    return wait_until(fetch, timeout=20, message=f"{count} attachments on {issue_key}")


def test_attachment_round_trip(browser, jira_site, chat_addon, artifacts_dir):
    customer = logged_in_page(browser, jira_site.url, CUSTOMER, PORTAL)
    issue_key = start_chat(customer)
    footer = customer.frame_locator(FOOTER_FRAME)
    agent = logged_in_page(browser, jira_site.url, AGENT, f"/browse/{issue_key}")
    agent.locator("[data-glance-toggle]").click()
    glance = agent.frame_locator(GLANCE_FRAME)
    expect(glance.get_by_role("button", name="Joindre un fichier")).to_be_visible()

    # The key user pastes a screenshot. The agent panel shows its thumbnail, and the request has the file.
    expect(footer.get_by_role("button", name="Joindre un fichier")).to_be_visible()
    frame_of(customer, FOOTER_FRAME).evaluate(PASTE_SCRIPT, [base64.b64encode(PNG).decode()])
    thumbnail = glance.locator(".chat-attachment-thumbnail img")
    expect(thumbnail).to_have_count(1)
    expect(thumbnail).to_have_attribute("alt", re.compile(r"^Image jointe : capture-\d{8}-\d{6}\.png$"))
    expect(thumbnail).to_have_js_property("naturalWidth", 160)
    expect(glance.locator(".chat-attachment-jira[data-jira-state='synced']")).to_have_count(1)
    [screenshot] = attachments_of(jira_site, issue_key, 1)
    assert screenshot["author"] == CUSTOMER
    assert screenshot["public"] is True
    assert re.fullmatch(r"capture-\d{8}-\d{6}\.png", screenshot["filename"])
    expect(footer.locator(".chat-attachment-thumbnail img")).to_have_js_property("naturalWidth", 160)

    # The agent picks a PDF: the key user gets a link with its name and size.
    glance.locator(".chat-composer input[type='file']").set_input_files(
        files=[{"name": "procédure <clôture>.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    link = footer.get_by_role("link", name="Télécharger procédure <clôture>.pdf")
    expect(link).to_be_visible()
    expect(link).to_have_text("procédure <clôture>.pdf")
    expect(footer.locator(".chat-message--attachment", has=link).locator(".chat-attachment-size")).to_have_text(
        f"{len(PDF)} o")
    attachments = attachments_of(jira_site, issue_key, 2)
    assert (attachments[1]["filename"], attachments[1]["author"]) == ("procédure <clôture>.pdf", AGENT)

    # A file sent as an internal note turns the switch off, as a note does: the next file is public.
    switch = glance.get_by_role("switch", name="Note interne")
    switch.check()
    glance.locator(".chat-composer input[type='file']").set_input_files(
        files=[{"name": "note.txt", "mimeType": "text/plain", "buffer": b"pour l'equipe"}])
    expect(glance.locator(".chat-message--attachment", has_text="note.txt")).to_have_count(1)
    expect(switch).not_to_be_checked()
    expect(footer.locator(".chat-message--attachment", has_text="note.txt")).to_have_count(0)

    # A file over the 10 MB limit is refused before it leaves the page, naming the limit.
    footer.locator(".chat-composer input[type='file']").set_input_files(
        files=[{"name": "journal.log", "mimeType": "text/plain", "buffer": b"x" * (10 * 1024 * 1024 + 1)}])
    expect(footer.locator(".chat-attach-error")).to_contain_text("dépasse la taille maximale de 10 Mo")
    expect(footer.locator(".chat-message--attachment")).to_have_count(2)

    # A program renamed as a picture passes the page's checks, and the server refuses it by its
    # first bytes: the bubble then says "not sent", no longer "sending".
    footer.locator(".chat-composer input[type='file']").set_input_files(
        files=[{"name": "photo.png", "mimeType": "image/png", "buffer": b"MZ\x90\x00" + b"\x00" * 60}])
    refused = footer.locator(".chat-message--rejected", has_text="photo.png")
    expect(refused.locator(".chat-delivery")).to_have_text("Non envoyé")
    expect(refused).not_to_contain_text("Envoi du fichier")
    # The server's reason shows once, under the composer, as its own sentence after a full stop.
    refusal = footer.locator(".chat-attach-error")
    expect(refusal).to_have_text(re.compile(r"^Le fichier « photo\.png » n'a pas été envoyé\. [A-ZÀ-Ý]"))

    customer.screenshot(path=str(artifacts_dir / "chat-attachments-portal.png"), full_page=True)
    agent.screenshot(path=str(artifacts_dir / "chat-attachments-agent.png"), full_page=True)
    assert serious_violations(frame_of(customer, FOOTER_FRAME)) == []
    assert serious_violations(frame_of(agent, GLANCE_FRAME)) == []
