"""The chat transcript: its content for each audience, escaping, authorization, and the public copy
attached once to the request when it is resolved, on the local Jira site."""

import pytest
import requests
from sqlalchemy import select

from addon.atlassian.installations import get_installation
from addon.atlassian.jira_client import jira_client_for
from addon.chat import transcript_attach
from addon.chat.transcript_models import TranscriptAttachment, TranscriptState

from .solution_support import AGENT, CUSTOMER, agent_reply, move_to
from .support import wait_until
from .wsclient import chat_site, serve_chat_site  # noqa: F401  (fixture)

OTHER_CUSTOMER = "cust-chloe"  # a key user of another organisation
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)> & "quotes"'
NOTE = "Note interne : le client a une ancienne version du module."
REPLY = "Videz le cache du module Ventes, puis relancez la validation."


def transcript(site, conversation_id, account_id, **params):
    return site.api("GET", f"/chats/{conversation_id}/transcript", account_id, params=params)


def chat_with_note(site):
    """Start a chat with a hostile first message, then add a public reply and an internal note."""
    conversation = site.start_chat(CUSTOMER, message=HOSTILE)
    agent_reply(site, conversation["id"], REPLY)
    agent_reply(site, conversation["id"], NOTE, visibility="internal")
    return conversation


def test_agent_transcript_content(chat_site):
    conversation = chat_with_note(chat_site)

    response = transcript(chat_site, conversation["id"], AGENT, lang="fr")

    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/html")
    assert "no-store" in response.headers["Cache-Control"]
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert f'filename="transcript-{conversation["issue_key"]}.html"' in response.headers["Content-Disposition"]
    page = response.text
    assert conversation["issue_key"] in page
    assert "Facture bloquée" in page
    assert "Fromagerie Durand" in page
    assert "Alice Durand" in page
    assert "Camille Martin" in page
    assert REPLY in page
    assert NOTE in page
    assert 'data-visibility="internal"' in page
    assert "contient les notes internes" in page
    assert "@media print" in page


def test_hostile_text_escaped(chat_site):
    conversation = chat_with_note(chat_site)

    page = transcript(chat_site, conversation["id"], AGENT).text

    assert "<script>" not in page
    assert "<img" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; &#34;quotes&#34;" in page


def test_key_user_sees_no_internal_note(chat_site):
    conversation = chat_with_note(chat_site)

    response = transcript(chat_site, conversation["id"], CUSTOMER)

    assert response.status_code == 200, response.text
    page = response.text
    assert REPLY in page
    assert NOTE not in page
    assert 'data-visibility="internal"' not in page
    assert "contient les notes internes" not in page


def test_agent_previews_public_version(chat_site):
    conversation = chat_with_note(chat_site)

    page = transcript(chat_site, conversation["id"], AGENT, audience="public").text

    assert REPLY in page
    assert NOTE not in page


def test_download_disposition(chat_site):
    conversation = chat_with_note(chat_site)

    response = transcript(chat_site, conversation["id"], CUSTOMER, download="1")

    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")


def test_unknown_audience_rejected(chat_site):
    conversation = chat_with_note(chat_site)

    response = transcript(chat_site, conversation["id"], AGENT, audience="everyone", lang="en")

    assert response.status_code == 400
    assert "Unknown audience 'everyone'" in response.json()["error"]["message"]


@pytest.mark.parametrize(("lang", "expected"), [("fr", "Transcription de la discussion avec le support."),
                                                ("en", "Transcript of the chat with support.")])
def test_transcript_language(chat_site, lang, expected):
    conversation = chat_with_note(chat_site)

    page = transcript(chat_site, conversation["id"], CUSTOMER, lang=lang).text

    assert f'<html lang="{lang}">' in page
    assert expected in page


@pytest.mark.parametrize(("lang", "label"), [("fr", "Généré le"), ("en", "Generated on")])
def test_transcript_generation_date_label(chat_site, lang, label):
    conversation = chat_with_note(chat_site)

    page = transcript(chat_site, conversation["id"], CUSTOMER, lang=lang).text

    assert f"<dt>{label}</dt>" in page
    assert "Édité" not in page


def test_transcript_authorization(chat_site):
    conversation = chat_with_note(chat_site)
    path = chat_site.url + f"/api/chats/{conversation['id']}/transcript"

    assert requests.get(path, timeout=10).status_code == 401
    assert requests.get(path, headers={"Authorization": "JWT not-a-token"}, timeout=10).status_code == 401
    assert transcript(chat_site, conversation["id"], OTHER_CUSTOMER).status_code == 404
    assert transcript(chat_site, conversation["id"] + 1000, AGENT).status_code == 404


# -- attached on resolution ------------------------------------------------------------------------

@pytest.fixture
def attaching_site(database_url, jira_site, tmp_path):
    """The chat site with the transcript job on, ticking fast, with short retry delays."""
    sites = serve_chat_site(database_url, jira_site, tmp_path, TRANSCRIPT_ATTACH_JOB=True,
                            TRANSCRIPT_ATTACH_TICK_SECS=0.2, TRANSCRIPT_ATTACH_RETRY_BASE_SECS=0.5,
                            JIRA_RETRY_BASE_SECS=0.05, JIRA_RETRY_MAX_SECS=0.1, JIRA_MAX_RETRIES=1)
    site = next(sites)
    try:
        yield site
    finally:
        transcript_attach.stop(site.server.app)
        sites.close()


def request_attachments(site, issue_key):
    """The request's attachments as the app user sees them: [(filename, content text)]."""
    app = site.server.app
    with app.app_context():
        installation = get_installation(site.client_key)
        with jira_client_for(installation) as jira:
            page = jira.request("GET", f"rest/servicedeskapi/request/{issue_key}/attachment") or {}
            found = []
            for attachment in page.get("values", []):
                content = jira.jira.get(attachment["_links"]["content"], not_json_response=True, absolute=True)
                found.append((attachment["filename"], content.decode("utf-8")))
            return found


def transcript_rows(site):
    app = site.server.app
    with app.app_context():
        session = app.extensions["database"].session
        rows = list(session.execute(select(TranscriptAttachment).order_by(TranscriptAttachment.id)).scalars())
        session.expunge_all()
        app.extensions["database"].remove_session()
        return rows


def attached_rows(site, count):
    def done():
        rows = [row for row in transcript_rows(site) if row.state == TranscriptState.ATTACHED]
        return rows if len(rows) >= count else None

    return wait_until(done, timeout=30, message=f"{count} transcript(s) attached")


def transcripts_on(site, issue_key):
    return [item for item in request_attachments(site, issue_key) if item[0].startswith("transcript-")]


def test_attached_once_on_resolution(attaching_site, jira_site):
    conversation = chat_with_note(attaching_site)
    issue_key = conversation["issue_key"]

    move_to(jira_site, issue_key, "Resolved")
    rows = attached_rows(attaching_site, 1)

    files = transcripts_on(attaching_site, issue_key)
    assert [name for name, _content in files] == [rows[0].filename]
    assert rows[0].filename == f"transcript-{issue_key}-{rows[0].resolution_seq}.html"
    content = files[0][1]
    assert REPLY in content
    assert NOTE not in content
    assert "<script>" not in content
    # More ticks of the job, and a hand-run one, attach nothing more.
    with attaching_site.server.app.app_context():
        assert transcript_attach.notice_resolutions() == 0
        assert transcript_attach.attach_due() == []
    assert len(transcripts_on(attaching_site, issue_key)) == 1
    assert rows[0].attempts == 1


def test_new_version_after_reopen(attaching_site, jira_site):
    conversation = chat_with_note(attaching_site)
    issue_key = conversation["issue_key"]
    move_to(jira_site, issue_key, "Resolved")
    attached_rows(attaching_site, 1)

    jira_site.control("POST", "/_devsite/actions/transition", json={
        "issue_key": issue_key, "actor_account_id": AGENT, "to_status": "Waiting for support", "resolution": None})
    agent_reply(attaching_site, conversation["id"], "Deuxième réponse après réouverture.")
    move_to(jira_site, issue_key, "Resolved")
    rows = attached_rows(attaching_site, 2)

    files = dict(transcripts_on(attaching_site, issue_key))
    assert sorted(files) == sorted(row.filename for row in rows)
    assert "Deuxième réponse après réouverture." not in files[rows[0].filename]
    assert "Deuxième réponse après réouverture." in files[rows[1].filename]


def test_retry_after_jira_failure(attaching_site, jira_site):
    # Every attach call fails until the rule is cleared, beyond the client's own retries.
    jira_site.control("PUT", "/_devsite/faults", json={
        "method": "POST", "path": r"/request/[^/]+/attachment$", "mode": "error", "status": 503, "times": 0})
    conversation = chat_with_note(attaching_site)
    issue_key = conversation["issue_key"]
    move_to(jira_site, issue_key, "Resolved")

    failed = wait_until(lambda: next((row for row in transcript_rows(attaching_site) if row.last_error), None),
                        timeout=30, message="a failed attempt recorded")
    assert failed.state in (TranscriptState.PENDING, TranscriptState.SENDING)
    assert "503" in failed.last_error
    assert transcripts_on(attaching_site, issue_key) == []
    jira_site.control("DELETE", "/_devsite/faults")
    rows = attached_rows(attaching_site, 1)

    assert rows[0].attempts >= 2
    assert rows[0].last_error is None
    assert len(transcripts_on(attaching_site, issue_key)) == 1


def test_unclear_outcome_not_attached_twice(attaching_site, jira_site):
    # The attach call is processed, but its response is lost: the next attempt finds the file.
    jira_site.control("PUT", "/_devsite/faults", json={
        "method": "POST", "path": r"/request/[^/]+/attachment$", "mode": "drop_after", "times": 1})
    conversation = chat_with_note(attaching_site)
    issue_key = conversation["issue_key"]

    move_to(jira_site, issue_key, "Resolved")
    rows = attached_rows(attaching_site, 1)

    assert rows[0].attempts == 2
    assert len(transcripts_on(attaching_site, issue_key)) == 1
