"""The chat's file routes called as `requestRemote` calls them from a Custom UI page: a FIT without
OAuth tokens, which the host may send several times, multipart uploads, binary downloads and CORS
for the site's origin. Also the local site's `requestRemote` token route."""

import uuid
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest
import requests
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from addon.chat.attachments_models import ChatAttachment
from addon.chat.models import Message

from .forge_support import APP_ID, host_frame_id, mint, snapshot
from .subscriptions import grant_defaults
from .support import wait_until
from .test_attachments import PNG, site_issue
from .test_forge_ui_api import AGENT, AGENT_MODULE, CUSTOMER, OTHER_CUSTOMER, forge_chat  # noqa: F401
from .wsclient import ChatSite, install

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def _remote_fit(chat, account_id=CUSTOMER, module=None, **body):
    """Mint the headers requestRemote sends: a FIT, and no x-forge-oauth-* token."""
    minted = chat.minted(account_id, module=module, system_token=False, user_token=False, **body)
    assert not any(name.startswith("x-forge-oauth") for name in minted["headers"])
    return minted


def _upload(chat, conversation_id, minted, filename="capture.png", data=PNG, content_type="image/png",
            headers=None):
    all_headers = dict(minted["headers"])
    all_headers.update(headers or {})
    return requests.post(f"{chat.server.url}/api/chats/{conversation_id}/attachments?lang=fr",
                         headers=all_headers, files={"file": (filename, data, content_type)},
                         data={"client_message_id": str(uuid.uuid4()), "visibility": "public"}, timeout=40)


def _get(chat, path, minted, headers=None):
    all_headers = dict(minted["headers"])
    all_headers.update(headers or {})
    return requests.get(chat.server.url + path, headers=all_headers, timeout=40)


def _counts(chat):
    with Session(chat.server.app.extensions["database"].engine) as session:
        return (session.scalar(select(func.count()).select_from(ChatAttachment)),
                session.scalar(select(func.count()).select_from(Message)))


def _synced(chat, attachment_id):
    def state():
        with Session(chat.server.app.extensions["database"].engine) as session:
            row = session.get(ChatAttachment, attachment_id)
            return row.jira_attachment_id if row.sync_state == "synced" else None

    return wait_until(state, timeout=30, message=f"attachment {attachment_id} in Jira")


@pytest.fixture
def conversation(forge_chat):  # noqa: F811
    started = forge_chat.start_chat()
    assert started.status_code == 201, started.text
    return started.json()["conversation"]


# -- a FIT without OAuth tokens, sent again while it is valid ---------------------------------------

def test_upload_reaches_request_with_reused_fit(forge_chat, jira_site, conversation):
    minted = _remote_fit(forge_chat)

    first = _upload(forge_chat, conversation["id"], minted)
    second = _upload(forge_chat, conversation["id"], minted, "facture.pdf", PDF, "application/pdf")

    assert first.status_code == 201, first.text
    assert second.status_code == 201, second.text
    attachment = first.json()["message"]["attachment"]
    assert attachment["filename"] == "capture.png"
    assert first.json()["message"]["author"]["account_id"] == CUSTOMER
    jira_id = _synced(forge_chat, attachment["id"])
    stored = [a for a in site_issue(jira_site, conversation["issue_key"])["attachments"] if a["id"] == jira_id]
    assert len(stored) == 1
    assert stored[0]["filename"] == "capture.png"
    assert stored[0]["author"] == CUSTOMER


def test_download_returns_bytes_with_reused_fit(forge_chat, conversation):
    uploaded = _upload(forge_chat, conversation["id"], _remote_fit(forge_chat)).json()["message"]["attachment"]
    minted = _remote_fit(forge_chat, AGENT, module=AGENT_MODULE)

    image = _get(forge_chat, uploaded["url"], minted)
    again = _get(forge_chat, uploaded["url"], minted)

    assert image.status_code == 200, image.text
    assert image.content == PNG
    assert image.headers["Content-Type"] == "image/png"
    assert again.status_code == 200, again.text
    assert again.content == PNG


def test_concurrent_first_uses_of_fit(forge_chat, conversation):
    uploaded = _upload(forge_chat, conversation["id"], _remote_fit(forge_chat)).json()["message"]["attachment"]
    minted = _remote_fit(forge_chat)

    # The page loads several images at once, each with the same cached FIT.
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda _: _get(forge_chat, uploaded["url"], minted), range(4)))

    for response in responses:
        assert response.status_code == 200, response.text
        assert response.content == PNG


def test_transcript_and_invitation_take_reused_fit(forge_chat, conversation):
    minted = _remote_fit(forge_chat, AGENT, module=AGENT_MODULE)
    path = f"/api/chats/{conversation['id']}/transcript?project_key=SUP&lang=fr"

    page = _get(forge_chat, path, minted, {"Accept": "text/html"})
    again = _get(forge_chat, path, minted, {"Accept": "text/html"})
    invitation = _get(forge_chat, f"/api/chats/{conversation['id']}/moves/999999/invitation.ics", minted)

    assert page.status_code == 200, page.text
    assert page.headers["Content-Type"].startswith("text/html")
    assert "Bonjour, la facture 42 est bloquée." in page.text
    assert again.status_code == 200, again.text
    # The FIT passed: the route itself returns that the move does not exist.
    assert invitation.status_code == 404, invitation.text
    assert invitation.json()["error"]["code"] != "forge_token_invalid"


# -- rejected FITs change nothing --------------------------------------------------------------------

def test_fit_of_json_call_not_reusable(forge_chat, conversation):
    minted = _remote_fit(forge_chat)
    assert forge_chat.api("GET", "/me", minted=minted).status_code == 200
    before = _counts(forge_chat)

    replayed = _upload(forge_chat, conversation["id"], minted)

    assert replayed.status_code == 401, replayed.text
    assert "already used" in replayed.json()["error"]["message"]
    assert _counts(forge_chat) == before


def test_fit_of_file_call_single_use_elsewhere(forge_chat, conversation):
    minted = _remote_fit(forge_chat)
    assert _upload(forge_chat, conversation["id"], minted).status_code == 201
    before = _counts(forge_chat)

    replayed = forge_chat.api("POST", f"/chats/{conversation['id']}/messages", minted=minted,
                              json={"body": "Rejoué", "client_message_id": str(uuid.uuid4())})

    assert replayed.status_code == 401, replayed.text
    assert "already used" in replayed.json()["error"]["message"]
    assert _counts(forge_chat) == before


@pytest.mark.parametrize("forgery", ["expired", "wrong_aud", "alg_none", "missing_jti"])
def test_forged_fit_rejected_on_upload(forge_chat, conversation, forgery):
    before = _counts(forge_chat)
    tables = snapshot(forge_chat.server)

    response = _upload(forge_chat, conversation["id"], _remote_fit(forge_chat, forgery=forgery))

    assert response.status_code == 401, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "forge_token_invalid"
    assert _counts(forge_chat) == before
    assert snapshot(forge_chat.server) == tables


def test_other_user_cannot_upload_or_download(forge_chat, conversation):
    uploaded = _upload(forge_chat, conversation["id"], _remote_fit(forge_chat)).json()["message"]["attachment"]
    before = _counts(forge_chat)
    minted = _remote_fit(forge_chat, OTHER_CUSTOMER)

    upload = _upload(forge_chat, conversation["id"], minted)
    download = _get(forge_chat, uploaded["url"], minted)
    transcript = _get(forge_chat, f"/api/chats/{conversation['id']}/transcript", minted)

    for response in (upload, download, transcript):
        assert response.status_code in (403, 404), response.text
        assert response.headers["Content-Type"] == "application/json"
        assert response.json()["error"]["code"]
    assert _counts(forge_chat) == before


def test_other_conversation_id_not_reached(forge_chat, conversation):
    uploaded = _upload(forge_chat, conversation["id"], _remote_fit(forge_chat)).json()["message"]["attachment"]
    other = forge_chat.start_chat(OTHER_CUSTOMER).json()["conversation"]
    minted = _remote_fit(forge_chat, OTHER_CUSTOMER)

    # The other customer's own conversation, with the attachment id of the first one.
    response = _get(forge_chat, f"/api/chats/{other['id']}/attachments/{uploaded['id']}", minted)

    assert response.status_code == 404, response.text
    assert response.headers["Content-Type"] == "application/json"


def test_other_tenant_conversation_not_reached(forge_chat, jira_site):
    # A second tenant: the Connect installation of the same site, with its own client_key.
    client_key, secret = install(jira_site, forge_chat.server)
    grant_defaults(forge_chat.server.app, client_key)
    connect_site = ChatSite(forge_chat.server, client_key, secret)
    try:
        theirs = connect_site.start_chat(CUSTOMER)
        before = _counts(forge_chat)
        minted = _remote_fit(forge_chat)

        upload = _upload(forge_chat, theirs["id"], minted)
        transcript = _get(forge_chat, f"/api/chats/{theirs['id']}/transcript", minted)

        for response in (upload, transcript):
            assert response.status_code in (403, 404), response.text
            assert response.headers["Content-Type"] == "application/json"
        assert _counts(forge_chat) == before
    finally:
        connect_site.close()


# -- CORS for the site's origin ---------------------------------------------------------------------

def _preflight(chat, path, origin, method="POST"):
    return requests.options(chat.server.url + path, timeout=40, headers={
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization"})


def test_preflight_allows_forge_site_only(forge_chat, jira_site, conversation):
    path = f"/api/chats/{conversation['id']}/attachments"

    allowed = _preflight(forge_chat, path, jira_site.url)
    stranger = _preflight(forge_chat, path, "https://evil.example")
    json_route = _preflight(forge_chat, f"/api/chats/{conversation['id']}/messages", jira_site.url)

    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == jira_site.url
    assert "authorization" in allowed.headers["Access-Control-Allow-Headers"].lower()
    assert "POST" in allowed.headers["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Origin" not in stranger.headers
    assert "Access-Control-Allow-Origin" not in json_route.headers


def test_download_exposes_disposition_to_site(forge_chat, jira_site, conversation):
    minted = _remote_fit(forge_chat, AGENT, module=AGENT_MODULE)
    path = f"/api/chats/{conversation['id']}/transcript?download=1"

    response = _get(forge_chat, path, minted, {"Origin": jira_site.url})
    rejected = _get(forge_chat, path, mint(forge_chat.jira_site, principal=AGENT, forgery="expired"),
                    {"Origin": jira_site.url})

    assert response.status_code == 200, response.text
    assert response.headers["Access-Control-Allow-Origin"] == jira_site.url
    assert "Content-Disposition" in response.headers["Access-Control-Expose-Headers"]
    assert response.headers["Content-Disposition"].startswith("attachment")
    # The host page must read a rejection too, to hand the bridge its status.
    assert rejected.status_code == 401
    assert rejected.headers["Access-Control-Allow-Origin"] == jira_site.url


# -- the local site's requestRemote token ------------------------------------------------------------

def _remote_token(jira_site, account_id, frame_owner=None, **body):
    if "frame" not in body:
        body["frame"] = host_frame_id(jira_site, frame_owner or account_id)
    body.setdefault("remote_key", "chat-backend")
    cookies = {"devsite_user": account_id} if account_id else {}
    return requests.post(jira_site.url + "/_devsite/forge/host/remote-token", json=body, cookies=cookies, timeout=40)


def test_host_remote_token_is_a_module_fit(forge_chat, jira_site):
    jira_site.control("POST", "/_devsite/forge/app/install",
                      json={"remote_url": forge_chat.server.url, "app_id": APP_ID})

    granted = _remote_token(jira_site, CUSTOMER, extension={"type": "jira:issuePanel", "issue": {"key": "SUP-1"}})
    anonymous = _remote_token(jira_site, None, frame_owner=CUSTOMER)
    unknown_remote = _remote_token(jira_site, CUSTOMER, remote_key="elsewhere")
    unknown_frame = _remote_token(jira_site, CUSTOMER, frame="no-such-frame")

    assert granted.status_code == 200, granted.text
    grant = granted.json()
    claims = jwt.decode(grant["token"], options={"verify_signature": False})
    assert grant["base_url"] == forge_chat.server.url
    assert grant["expires_at"] == claims["exp"]
    assert claims["principal"] == CUSTOMER
    assert claims["app"]["module"] == {"type": "jiraServiceManagement:portalFooter", "key": "chat-launcher"}
    # The frame's context, not the one the page claims.
    assert claims["context"]["extension"] == {"type": "jiraServiceManagement:portalFooter", "portal": {"id": "1"}}
    assert set(grant) == {"token", "expires_at", "base_url"}
    assert anonymous.status_code == 401
    assert unknown_remote.status_code == 400
    assert "elsewhere" in unknown_remote.json()["error"]
    assert unknown_frame.status_code == 400
    assert "no-such-frame" in unknown_frame.json()["error"]
