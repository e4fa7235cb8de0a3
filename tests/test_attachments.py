"""Chat attachments: the Jira client's JSM attachment calls against the local Jira site, then the
add-on's upload, limits, magic-number check, authorization, durability and Jira authorship."""

import pytest
from sqlalchemy.orm import Session

from addon.atlassian.installations import get_installation
from addon.atlassian.jira_client import jira_client_for
from addon.atlassian.jira_errors import JiraError
from addon.chat.attachments_models import ChatAttachment

from .solution_support import comment_with
from .support import wait_until
from .test_jira_client import fast_addon, install  # noqa: F401 (fixture)
from .wsclient import serve_chat_site

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
       b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d"
       b"\x00\x00\x00\x00IEND\xaeB`\x82")


@pytest.fixture
def jira(fast_addon, jira_site):  # noqa: F811
    client_key = install(jira_site, fast_addon)
    with fast_addon.app.app_context():
        client = jira_client_for(get_installation(client_key))
        yield client
        client.close()


def site_issue(site, key):
    return site.control("GET", f"/_devsite/issues/{key}")


# The JiraClient calls.

def test_customer_attaches_a_file_publicly_as_themselves(jira, jira_site):
    alice = jira.as_user("cust-alice")
    temporary_ids = alice.attach_temporary_file("1", "ecran.png", PNG, "image/png")
    assert len(temporary_ids) == 1
    result = alice.attach_to_request("SUP-1", temporary_ids, public=True, comment="Voici l'écran")
    attachment = result["attachments"]["values"][0]
    assert attachment["filename"] == "ecran.png"
    assert attachment["author"]["accountId"] == "cust-alice"
    assert attachment["_links"]["jiraRest"].rstrip("/").rsplit("/", 1)[1].isdigit()
    assert result["comment"]["public"] is True
    stored = site_issue(jira_site, "SUP-1")["attachments"]
    assert [(a["filename"], a["author"], a["public"], a["size"]) for a in stored] == [
        ("ecran.png", "cust-alice", True, len(PNG))]


def test_customer_may_not_attach_internally(jira):
    alice = jira.as_user("cust-alice")
    temporary_ids = alice.attach_temporary_file("1", "ecran.png", PNG, "image/png")
    with pytest.raises(JiraError) as failure:
        alice.attach_to_request("SUP-1", temporary_ids, public=False)
    assert failure.value.status == 403


def test_temporary_file_uploader_only_once(jira):
    alice = jira.as_user("cust-alice")
    temporary_ids = alice.attach_temporary_file("1", "notes.txt", b"bonjour", "text/plain")
    with pytest.raises(JiraError) as failure:
        jira.as_user("agent-camille").attach_to_request("SUP-1", temporary_ids)
    assert failure.value.status == 400
    alice.attach_to_request("SUP-1", temporary_ids)
    with pytest.raises(JiraError):
        alice.attach_to_request("SUP-1", temporary_ids)


def test_agent_attaches_and_the_content_reads_back(jira, jira_site):
    camille = jira.as_user("agent-camille")
    result = camille.attach_to_request(
        "SUP-2", camille.attach_temporary_file("1", "guide.pdf", b"%PDF-1.4 test", "application/pdf"))
    content_url = result["attachments"]["values"][0]["_links"]["content"]
    response = camille.session.get(content_url)
    assert response.content == b"%PDF-1.4 test"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# The chat's files, over the JSON API.

MIB = 1024 * 1024
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48
CUSTOMER, PLAIN_CUSTOMER, OTHER_CUSTOMER = "cust-alice", "cust-bruno", "cust-chloe"
AGENT, ADMIN = "agent-camille", "admin-lea"
FAST = {"OUTBOX_RETRY_BASE_SECS": 0.1, "OUTBOX_RETRY_MAX_SECS": 0.3, "OUTBOX_POLL_SECS": 1,
        "JIRA_RETRY_BASE_SECS": 0.05, "JIRA_RETRY_MAX_SECS": 0.1, "JIRA_MAX_RETRIES": 1}


@pytest.fixture
def site(database_url, jira_site, tmp_path):
    yield from serve_chat_site(database_url, jira_site, tmp_path, **FAST)


def send_file(site, conversation_id, account_id, filename, data, content_type="application/octet-stream",
              **form):
    return site.api("POST", f"/chats/{conversation_id}/attachments", account_id,
                    files={"file": (filename, data, content_type)}, data=form)


def stored(site, attachment_id):
    with Session(site.server.app.extensions["database"].engine) as session:
        row = session.get(ChatAttachment, attachment_id)
        session.expunge(row)
        return row


def synced(site, attachment_id, timeout=20):
    return wait_until(lambda: (lambda row: row if row.sync_state == "synced" else None)(stored(site, attachment_id)),
                      timeout=timeout, message=f"attachment {attachment_id} in Jira")


def test_key_user_file_authored_in_jira(site, jira_site):
    conversation = site.start_chat(CUSTOMER)
    response = send_file(site, conversation["id"], CUSTOMER, "écran <b>.png", PNG, "image/png",
                         client_message_id="file-1")

    assert response.status_code == 201, response.text
    message = response.json()["message"]
    attachment = message["attachment"]
    assert attachment["filename"] == "écran <b>.png"
    assert attachment["is_image"] and attachment["content_type"] == "image/png"
    assert attachment["size_bytes"] == len(PNG)
    assert message["event_type"] == "attachment"
    row = synced(site, attachment["id"])
    assert row.jira_author_account_id == CUSTOMER
    [jira_attachment] = site_issue(jira_site, conversation["issue_key"])["attachments"]
    assert jira_attachment["id"] == row.jira_attachment_id
    assert (jira_attachment["author"], jira_attachment["public"]) == (CUSTOMER, True)
    assert jira_attachment["filename"] == "écran <b>.png"
    comment = comment_with(jira_site, conversation["issue_key"], "écran <b>.png")
    assert comment["author"] == CUSTOMER
    assert comment["public"] is True
    # A resend after a lost response stores nothing more.
    again = send_file(site, conversation["id"], CUSTOMER, "écran <b>.png", PNG, "image/png",
                      client_message_id="file-1")
    assert again.status_code == 200
    assert again.json()["message"]["id"] == message["id"]


def test_agent_pdf_downloads_for_key_user(site, jira_site):
    conversation = site.start_chat(CUSTOMER)
    sent = send_file(site, conversation["id"], AGENT, "procédure.pdf", PDF, "application/pdf")
    assert sent.status_code == 201, sent.text
    attachment = sent.json()["message"]["attachment"]

    response = site.api("GET", f"/chats/{conversation['id']}/attachments/{attachment['id']}", CUSTOMER)
    assert response.status_code == 200
    assert response.content == PDF
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''proc%C3%A9dure.pdf" in response.headers["Content-Disposition"]
    row = synced(site, attachment["id"])
    assert row.jira_author_account_id == AGENT
    [jira_attachment] = site_issue(jira_site, conversation["issue_key"])["attachments"]
    assert jira_attachment["author"] == AGENT
    assert jira_attachment["public"] is True


def test_images_are_inline_and_history_carries_the_attachment(site):
    conversation = site.start_chat(CUSTOMER)
    attachment = send_file(site, conversation["id"], CUSTOMER, 'a"b.png', PNG).json()["message"]["attachment"]

    response = site.api("GET", f"/chats/{conversation['id']}/attachments/{attachment['id']}", AGENT,
                        params={"project_key": "SUP"})
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["Content-Disposition"].startswith('inline; filename="a_b.png"')
    history = site.api("GET", f"/chats/{conversation['id']}/messages", CUSTOMER).json()["messages"]
    assert [m["attachment"]["filename"] for m in history if m.get("attachment")] == ['a"b.png']


# Limits.

def test_default_limit_names_10_mb(site):
    conversation = site.start_chat(CUSTOMER)
    response = send_file(site, conversation["id"], CUSTOMER, "gros.pdf", b"%PDF-" + b"0" * (10 * MIB))

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"
    assert "10 Mo" in response.json()["error"]["message"]
    assert "10 MB" in response.json()["error"]["message"]


def test_configured_limits_apply_and_are_published(site):
    conversation = site.start_chat(CUSTOMER)
    refused = site.api("PUT", "/admin/attachments", AGENT, json={"max_bytes": 4096})
    assert refused.status_code == 403
    bad = site.api("PUT", "/admin/attachments", ADMIN, json={"max_bytes": 4096, "kinds": ["videos"]})
    assert bad.status_code == 400
    assert "videos" in bad.json()["error"]["message"]
    too_big = site.api("PUT", "/admin/attachments", ADMIN, json={"max_bytes": 60 * 1024 * 1024})
    assert too_big.status_code == 400
    assert "(reçu 60 Mo)" in too_big.json()["error"]["message"]
    changed = site.api("PUT", "/admin/attachments", ADMIN, json={"max_bytes": 4096, "kinds": ["images"]})
    assert changed.status_code == 200, changed.text

    limits = site.api("GET", "/attachments/limits", CUSTOMER).json()["limits"]
    assert limits["max_bytes"] == 4096
    assert limits["kinds"] == ["images"]
    assert "pdf" not in limits["extensions"]
    assert "png" in limits["extensions"]
    too_big = send_file(site, conversation["id"], CUSTOMER, "grand.png", PNG + b"\x00" * 5000, "image/png")
    assert too_big.status_code == 413
    assert "4 Ko" in too_big.json()["error"]["message"]
    english = site.api("POST", f"/chats/{conversation['id']}/attachments", CUSTOMER, params={"lang": "en"},
                       files={"file": ("grand.png", PNG + b"\x00" * 5000, "image/png")})
    assert english.json()["error"]["message"].startswith("The file")
    assert "4 KB" in english.json()["error"]["message"]
    pdf = send_file(site, conversation["id"], CUSTOMER, "note.pdf", PDF, "application/pdf")
    assert pdf.status_code == 415
    assert "images (PNG" in pdf.json()["error"]["message"]


@pytest.mark.parametrize("filename, data, content_type", [
    ("capture.png", EXE, "image/png"),  # a renamed executable
    ("journal.log", b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 40, "text/plain"),
    ("outil.exe", EXE, "application/x-msdownload"),
    ("page.png", PNG, "text/html"),  # the declared type does not fit the extension
    ("archive.zip", b"Rar!\x1a\x07\x00" + b"\x00" * 20, "application/zip"),
    ("image.svg", b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "image/svg+xml"),
])
def test_bytes_extension_and_type_must_agree(site, filename, data, content_type):
    conversation = site.start_chat(CUSTOMER)
    response = send_file(site, conversation["id"], CUSTOMER, filename, data, content_type)

    assert response.status_code == 415, response.text
    assert filename in response.json()["error"]["message"]
    assert not [m for m in site.api("GET", f"/chats/{conversation['id']}/messages", CUSTOMER).json()["messages"]
                if m.get("attachment")]


@pytest.mark.parametrize("filename, data", [
    ("journal.log", "2026-12-05 ERREUR à la validation\r\n".encode("latin-1")),
    ("export.csv", "code;libellé\n1;Fromage\n".encode()),
    ("photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"),
    ("anim.gif", b"GIF89a\x01\x00\x01\x00"),
    ("logs.tar.gz", b"\x1f\x8b\x08\x00" + b"\x00" * 10),
    ("base.7z", b"7z\xbc\xaf\x27\x1c\x00\x04"),
])
def test_accepted_kinds(site, filename, data):
    conversation = site.start_chat(CUSTOMER)
    response = send_file(site, conversation["id"], CUSTOMER, filename, data)
    assert response.status_code == 201, response.text


# Authorization.

def test_who_may_send_and_download(site):
    conversation = site.start_chat(CUSTOMER)
    public = send_file(site, conversation["id"], CUSTOMER, "ecran.png", PNG).json()["message"]["attachment"]
    note = send_file(site, conversation["id"], AGENT, "interne.pdf", PDF, visibility="internal")
    assert note.status_code == 201, note.text
    internal = note.json()["message"]["attachment"]

    def get(attachment, account_id):
        return site.api("GET", f"/chats/{conversation['id']}/attachments/{attachment['id']}", account_id).status_code

    assert get(public, PLAIN_CUSTOMER) == 200  # a member of the organisation reads the chat
    assert get(public, OTHER_CUSTOMER) == 404
    assert get(internal, CUSTOMER) == 404
    assert get(internal, AGENT) == 200
    assert send_file(site, conversation["id"], PLAIN_CUSTOMER, "ecran.png", PNG).status_code == 403
    assert send_file(site, conversation["id"], CUSTOMER, "ecran.png", PNG, visibility="internal").status_code == 403
    assert send_file(site, conversation["id"], OTHER_CUSTOMER, "ecran.png", PNG).status_code == 404
    other = site.start_chat("cust-chloe")
    # A file is reached only through its own conversation.
    assert site.api("GET", f"/chats/{other['id']}/attachments/{public['id']}", "cust-chloe").status_code == 404
    seen = site.api("GET", f"/chats/{conversation['id']}/messages", CUSTOMER).json()["messages"]
    assert "interne.pdf" not in str(seen)


# Durability.

@pytest.mark.parametrize("fault", [
    {"mode": "error", "status": 503},
    {"mode": "rate_limit", "retry_after": 0},
])
def test_jira_outage_loses_no_file(site, jira_site, fault):
    conversation = site.start_chat(CUSTOMER)
    jira_site.control("PUT", "/_devsite/faults", json=dict(fault, method="POST", path="attachTemporaryFile",
                                                           times=0))
    attachment = send_file(site, conversation["id"], CUSTOMER, "ecran.png", PNG).json()["message"]["attachment"]

    failed = wait_until(lambda: (lambda row: row if row.sync_attempts >= 2 else None)(stored(site, attachment["id"])),
                        timeout=20, message="two failed attempts")
    assert failed.sync_state in ("failed", "sending")
    assert failed.jira_attachment_id is None
    jira_site.control("DELETE", "/_devsite/faults")
    row = synced(site, attachment["id"])
    [jira_attachment] = site_issue(jira_site, conversation["issue_key"])["attachments"]
    assert jira_attachment["id"] == row.jira_attachment_id
    assert jira_attachment["author"] == CUSTOMER


def test_lost_response_attaches_once(site, jira_site):
    conversation = site.start_chat(CUSTOMER)
    jira_site.control("PUT", "/_devsite/faults", json={
        "mode": "drop_after", "method": "POST", "path": r"/request/[^/]+/attachment$", "times": 1})
    attachment = send_file(site, conversation["id"], CUSTOMER, "ecran.png", PNG).json()["message"]["attachment"]

    row = synced(site, attachment["id"])
    attachments = site_issue(jira_site, conversation["issue_key"])["attachments"]
    assert [a["id"] for a in attachments] == [row.jira_attachment_id]


def test_refused_impersonation_attaches_as_the_app(site, jira_site):
    jira_site.control("PUT", "/_devsite/switches", json={"impersonate_customers": False})
    conversation = site.start_chat(CUSTOMER)
    attachment = send_file(site, conversation["id"], CUSTOMER, "ecran.png", PNG).json()["message"]["attachment"]

    row = synced(site, attachment["id"])
    assert row.jira_author_account_id is None
    [jira_attachment] = site_issue(jira_site, conversation["issue_key"])["attachments"]
    assert jira_attachment["author"].startswith("addon-")


def test_lost_response_as_app_attaches_once(site, jira_site):
    jira_site.control("PUT", "/_devsite/switches", json={"impersonate_customers": False})
    jira_site.control("PUT", "/_devsite/faults", json={
        "mode": "drop_after", "method": "POST", "path": r"/request/[^/]+/attachment$", "times": 1})
    conversation = site.start_chat(CUSTOMER)
    attachment = send_file(site, conversation["id"], CUSTOMER, "ecran.png", PNG).json()["message"]["attachment"]

    row = synced(site, attachment["id"])
    assert row.jira_author_account_id is None
    attachments = site_issue(jira_site, conversation["issue_key"])["attachments"]
    assert [a["id"] for a in attachments] == [row.jira_attachment_id]


# Live frames.

def test_socket_frames_show_the_jira_state(site):
    conversation = site.start_chat(CUSTOMER)
    customer = site.ready_socket(CUSTOMER)
    agent = site.ready_socket(AGENT, "SUP")
    for client in (customer, agent):
        client.send(type="subscribe", conversation_id=conversation["id"], after_seq=1)
    sent = send_file(site, conversation["id"], AGENT, "interne.pdf", PDF, visibility="internal").json()["message"]
    public = send_file(site, conversation["id"], CUSTOMER, "ecran.png", PNG).json()["message"]

    [shown] = customer.receive_messages(1)
    assert shown["id"] == public["id"]
    assert shown["attachment"]["filename"] == "ecran.png"
    synced_ids = set()

    def jira_state(frame):
        if frame.get("type") == "attachment" and frame["attachment"]["sync_state"] == "synced":
            synced_ids.add(frame["message_id"])
        return synced_ids == {sent["id"], public["id"]}

    agent.receive_until(jira_state, timeout=20)
    frames = customer.receive_until(
        lambda frame: frame.get("type") == "attachment" and frame["attachment"]["sync_state"] == "synced",
        timeout=20)
    assert frames[-1]["message_id"] == public["id"]
    assert frames[-1]["attachment"]["jira_attachment_id"]
    # The agent's internal file never reaches the key user's socket, as a message or as a frame.
    assert sent["id"] not in {frame.get("message_id") for frame in frames}
    assert sent["id"] not in {frame.get("id") for frame in frames}
