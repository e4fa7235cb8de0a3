"""Forge product events reaching the chat, over real HTTP on loopback.

The local site runs the Forge app of tests/data/forge-manifest.yml with the add-on as its remote.
It sends comment and issue events to /forge/events with a FIT and the system token. The add-on
reads Jira back through the site's api.atlassian.com routes. The tenant is a Forge-only site,
made at the first call from a UI module.
"""

from datetime import timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from addon import create_app
from addon.atlassian.forge import events as forge_events
from addon.atlassian.forge.tenancy import installation_for
from addon.atlassian.forge.tenants import get_forge_installation
from addon.atlassian.installations import get_installation
from addon.chat.actions import Viewer, post_message
from addon.chat.models import (
    AuthorRole,
    Conversation,
    ConversationState,
    Message,
    MessageKind,
    Origin,
    SyncState,
    Visibility,
)
from addon.chat.start import start_chat
from addon.models import WebhookEvent, utcnow

from .conftest import addon_overrides
from .forge_support import OTHER_APP_ID, call, forge_overrides, mint
from .subscriptions import grant_defaults
from .support import AddonServer, free_port, wait_until

MANIFEST = Path(__file__).parent / "data" / "forge-manifest.yml"
DEADLINE_SECS = 30


@pytest.fixture
def forge_addon(database_url, jira_site, tmp_path):
    """The add-on as the Forge app's remote on the local site, with a tenant for the site.

    The outbox does not start, so chat messages stay unwritten and Jira holds only the comments
    that a test makes there.
    """
    port = free_port()
    overrides = forge_overrides(jira_site, WEBHOOK_RETRY_DELAY_SECS=0.3, OUTBOX_AUTOSTART=False)
    app = create_app(addon_overrides(database_url, jira_site, port, tmp_path, **overrides))
    server = AddonServer(app, port)
    installed = jira_site.control("POST", "/_devsite/forge/app/install",
                                  json={"remote_url": server.url, "manifest_path": str(MANIFEST)})
    assert [result["status"] for result in installed["lifecycle"]] == [200], installed
    jira_site.control("PUT", "/_devsite/forge/events/settings", json={"retry_interval_secs": 0.2})
    # Trigger tokens carry no site URL; the first call from a UI module brings it and makes the tenant.
    assert call(server, "/forge/ui/whoami", mint(jira_site, kind="ui", principal="cust-alice")).status_code == 200
    server.installation_id = installed["installation_id"]
    with app.app_context():
        tenant = installation_for(get_forge_installation(server.installation_id))
        server.client_key = tenant.client_key
    grant_defaults(app, server.client_key)
    yield server
    server.stop()


@pytest.fixture
def chat(forge_addon):
    """A conversation started by cust-alice on the Forge-only site."""
    return start_alice_chat(forge_addon)


def start_alice_chat(server):
    with server.app.app_context():
        installation = get_installation(server.client_key)
        viewer = Viewer(installation_id=installation.id, client_key=installation.client_key,
                        account_id="cust-alice", role=AuthorRole.CUSTOMER, project_key=None)
        return start_chat(viewer, summary="Relevé bancaire refusé", product_area="Comptabilité", impact="blocking",
                          message="Le fichier CAMT.053 est refusé.", client_message_id="first-1")


# -- helpers ------------------------------------------------------------------------------------

def settings(jira_site, **changes):
    return jira_site.control("PUT", "/_devsite/forge/events/settings", json=changes)


def comment(jira_site, chat, body="Bonjour Alice, le format est corrigé.", author="agent-camille", public=True):
    return jira_site.control("POST", "/_devsite/actions/comment", json={
        "issue_key": chat.issue_key, "author_account_id": author, "body": body, "public": public})


def deliveries(jira_site, event_type=None, comment_id=None, changed_field=None):
    return [entry for entry in jira_site.control("GET", "/_devsite/forge/events")
            if (event_type is None or entry["event_type"] == event_type)
            and (comment_id is None or entry["comment_id"] == comment_id)
            and (changed_field is None or changed_field in entry["changed_fields"])]


def wait_delivered(jira_site, count, **filters):
    """Wait until `count` deliveries matching `filters` succeeded; return every matching attempt."""
    wait_until(lambda: sum(1 for entry in deliveries(jira_site, **filters) if entry["status"] == 200) >= count,
               timeout=DEADLINE_SECS, message=f"{count} successful Forge deliveries of {filters}")
    return deliveries(jira_site, **filters)


def inbox(server):
    with Session(server.app.extensions["database"].engine) as session:
        return list(session.execute(select(WebhookEvent).order_by(WebhookEvent.id)).scalars())


def wait_processed(server):
    wait_until(lambda: all(row.processed_at is not None for row in inbox(server)), timeout=DEADLINE_SECS,
               message="every stored event to be processed")


def jira_messages(server, conversation_id, comment_id=None):
    with Session(server.app.extensions["database"].engine) as session:
        statement = select(Message).where(Message.conversation_id == conversation_id, Message.origin == Origin.JIRA)
        if comment_id is not None:
            statement = statement.where(Message.jira_comment_id == comment_id)
        return list(session.execute(statement.order_by(Message.seq)).scalars())


def stored_for_comment(server, comment_id):
    return [row for row in inbox(server) if str((row.payload.get("comment") or {}).get("id")) == comment_id]


def post_event(server, jira_site, body, **mint_options):
    minted = mint(jira_site, kind="trigger", module={"type": "core:endpoint", "key": "events-ep"}, **mint_options)
    return call(server, "/forge/events", minted, json=body)


# -- comments -----------------------------------------------------------------------------------

def test_agent_comment_reaches_chat_once(forge_addon, jira_site, chat):
    settings(jira_site, duplicates=2)

    created = comment(jira_site, chat)

    attempts = wait_delivered(jira_site, 3, event_type=forge_events.COMMENTED_ISSUE, comment_id=created["id"])
    wait_processed(forge_addon)
    assert sorted(entry["copy"] for entry in attempts) == [0, 1, 2]
    messages = jira_messages(forge_addon, chat.id, created["id"])
    assert len(messages) == 1
    assert messages[0].body == "Bonjour Alice, le format est corrigé."
    assert messages[0].visibility == Visibility.PUBLIC
    assert messages[0].author_role == AuthorRole.AGENT
    assert messages[0].author_name == "Camille Martin"
    stored = [row for row in inbox(forge_addon) if row.name == forge_events.COMMENTED_ISSUE]
    assert len(stored) == 1


def test_live_reply_not_repeated(forge_addon, jira_site, chat):
    settings(jira_site, duplicates=1)
    with forge_addon.app.app_context():
        installation = get_installation(forge_addon.client_key)
        agent = Viewer(installation_id=installation.id, client_key=installation.client_key,
                       account_id="agent-camille", role=AuthorRole.AGENT, project_key="SUP")
        reply, _ = post_message(agent, chat.id, "Merci, je regarde le fichier.", client_message_id="a-1")
    forge_addon.app.extensions["outbox"].start()

    comment_id = wait_until(lambda: synced_comment_id(forge_addon, reply.id), timeout=DEADLINE_SECS,
                            message="the reply written to Jira by the outbox")
    wait_delivered(jira_site, 2, event_type=forge_events.COMMENTED_ISSUE, comment_id=comment_id)
    wait_processed(forge_addon)

    assert jira_messages(forge_addon, chat.id) == []


def synced_comment_id(server, message_id):
    with Session(server.app.extensions["database"].engine) as session:
        message = session.get(Message, message_id)
        return message.jira_comment_id if message.sync_state == SyncState.SYNCED else None


def test_internal_comment_stays_internal(forge_addon, jira_site, chat):
    created = comment(jira_site, chat, body="Voir le ticket du fournisseur", public=False)

    wait_delivered(jira_site, 1, event_type=forge_events.COMMENTED_ISSUE, comment_id=created["id"])
    wait_processed(forge_addon)

    [message] = jira_messages(forge_addon, chat.id, created["id"])
    assert message.visibility == Visibility.INTERNAL


def test_late_create_after_edit(forge_addon, jira_site, chat):
    settings(jira_site, delay_secs=1.5)
    created = comment(jira_site, chat, body="Première version")
    settings(jira_site, delay_secs=0)
    jira_site.control("PUT", f"/_devsite/actions/comment/{chat.issue_key}/{created['id']}",
                      json={"actor_account_id": "agent-camille", "body": "Version corrigée"})

    attempts = wait_delivered(jira_site, 2, event_type=forge_events.COMMENTED_ISSUE, comment_id=created["id"])
    wait_processed(forge_addon)

    # The site logs attempts in the order it sent them: the edit's event went first.
    assert attempts[0]["comment_updated"] > attempts[-1]["comment_updated"]
    [message] = jira_messages(forge_addon, chat.id, created["id"])
    assert message.body == "Version corrigée"
    stored = [row for row in inbox(forge_addon) if row.name == forge_events.COMMENTED_ISSUE]
    assert len(stored) == 2  # two versions of the comment, two dedupe keys


def test_deleted_comment_hidden(forge_addon, jira_site, chat):
    created = comment(jira_site, chat)
    wait_delivered(jira_site, 1, event_type=forge_events.COMMENTED_ISSUE, comment_id=created["id"])
    wait_processed(forge_addon)

    jira_site.control("DELETE", f"/_devsite/actions/comment/{chat.issue_key}/{created['id']}"
                                "?actor_account_id=agent-camille")

    wait_delivered(jira_site, 1, event_type=forge_events.DELETED_COMMENT, comment_id=created["id"])
    wait_processed(forge_addon)
    [message] = jira_messages(forge_addon, chat.id, created["id"])
    assert message.deleted_at is not None
    assert message.body == ""


def test_create_after_delete_not_shown(forge_addon, jira_site, chat):
    settings(jira_site, delay_secs=1.5)
    created = comment(jira_site, chat)
    settings(jira_site, delay_secs=0)
    jira_site.control("DELETE", f"/_devsite/actions/comment/{chat.issue_key}/{created['id']}"
                                "?actor_account_id=agent-camille")

    wait_delivered(jira_site, 1, event_type=forge_events.COMMENTED_ISSUE, comment_id=created["id"])
    wait_processed(forge_addon)

    assert jira_messages(forge_addon, chat.id, created["id"]) == []


def test_retry_after_remote_error(forge_addon, jira_site, chat):
    failures = fail_first_events(forge_addon, 1)

    created = comment(jira_site, chat)

    attempts = wait_delivered(jira_site, 1, event_type=forge_events.COMMENTED_ISSUE, comment_id=created["id"])
    wait_processed(forge_addon)
    assert [(entry["status"], entry["retry_count"]) for entry in attempts] == [(500, 0), (200, 1)]
    assert failures == []
    assert len(jira_messages(forge_addon, chat.id, created["id"])) == 1


def fail_first_events(server, count):
    """Make the add-on return 500 to the next `count` POSTs to /forge/events; return the countdown list."""
    remaining = [None] * count
    inner = server.app.wsgi_app

    def failing(environ, start_response):
        if environ["PATH_INFO"] == "/forge/events" and remaining:
            remaining.pop()
            body = b'{"error": {"code": "internal_error", "message": "test failure"}}'
            start_response("500 INTERNAL SERVER ERROR", [("Content-Type", "application/json"),
                                                         ("Content-Length", str(len(body)))])
            return [body]
        return inner(environ, start_response)

    server.app.wsgi_app = failing
    return remaining


def test_bare_envelope_accepted(forge_addon, jira_site, chat):
    settings(jira_site, envelope="bare")

    created = comment(jira_site, chat)

    wait_delivered(jira_site, 1, event_type=forge_events.COMMENTED_ISSUE, comment_id=created["id"])
    wait_processed(forge_addon)
    assert len(jira_messages(forge_addon, chat.id, created["id"])) == 1


def test_comment_on_other_request_ignored(forge_addon, jira_site, chat):
    created = comment(jira_site, chat)
    other = jira_site.control("POST", "/_devsite/actions/comment", json={
        "issue_key": "SUP-1", "author_account_id": "agent-camille", "body": "Autre demande", "public": True})

    wait_delivered(jira_site, 1, event_type=forge_events.COMMENTED_ISSUE, comment_id=other["id"])
    wait_delivered(jira_site, 1, event_type=forge_events.COMMENTED_ISSUE, comment_id=created["id"])
    wait_processed(forge_addon)

    with Session(forge_addon.app.extensions["database"].engine) as session:
        from_jira = session.execute(select(Message.jira_comment_id).where(Message.origin == Origin.JIRA)).scalars()
        assert list(from_jira) == [created["id"]]


# -- issue updates ------------------------------------------------------------------------------

def test_resolved_status_reaches_chat(forge_addon, jira_site, chat):
    settings(jira_site, duplicates=1)

    jira_site.control("POST", "/_devsite/actions/transition", json={
        "issue_key": chat.issue_key, "actor_account_id": "agent-camille", "to_status": "Resolved",
        "resolution": "Done"})

    wait_delivered(jira_site, 2, event_type=forge_events.UPDATED_ISSUE, changed_field="status")
    wait_processed(forge_addon)
    with Session(forge_addon.app.extensions["database"].engine) as session:
        conversation = session.get(Conversation, chat.id)
        assert conversation.state == ConversationState.RESOLVED
        events = session.execute(select(Message).where(Message.conversation_id == chat.id,
                                                       Message.kind == MessageKind.EVENT)).scalars().all()
    assert [message.event_type for message in events] == ["request_resolved"]


# -- a site installed both ways ------------------------------------------------------------------

@pytest.fixture
def linked_addon(database_url, jira_site, tmp_path):
    """The add-on installed on the site as a Connect app and as the Forge app, whose installation
    is linked to the Connect one, so that both send webhooks and events for each change."""
    port = free_port()
    overrides = forge_overrides(jira_site, WEBHOOK_RETRY_DELAY_SECS=0.3, OUTBOX_AUTOSTART=False)
    app = create_app(addon_overrides(database_url, jira_site, port, tmp_path, **overrides))
    server = AddonServer(app, port)
    connect = jira_site.control("POST", "/_devsite/apps/install",
                                json={"descriptor_url": f"{server.url}/atlassian-connect.json"})
    assert connect["status"] in (200, 204), connect
    # The UI call's siteUrl equals the Connect installation's base URL, which links the two.
    assert call(server, "/forge/ui/whoami", mint(jira_site, kind="ui", principal="cust-alice")).status_code == 200
    installed = jira_site.control("POST", "/_devsite/forge/app/install",
                                  json={"remote_url": server.url, "manifest_path": str(MANIFEST)})
    with app.app_context():
        tenant = installation_for(get_forge_installation(installed["installation_id"]))
        assert tenant.client_key == connect["client_key"]
    server.client_key = connect["client_key"]
    grant_defaults(app, server.client_key)
    yield server
    server.stop()


def test_linked_site_status_once(linked_addon, jira_site):
    linked_chat = start_alice_chat(linked_addon)

    jira_site.control("POST", "/_devsite/actions/transition", json={
        "issue_key": linked_chat.issue_key, "actor_account_id": "agent-camille", "to_status": "Resolved",
        "resolution": "Done"})

    wait_delivered(jira_site, 1, event_type=forge_events.UPDATED_ISSUE, changed_field="status")
    wait_until(lambda: len(status_rows(linked_addon)) == 2, timeout=DEADLINE_SECS,
               message="the Connect webhook and the Forge event of the transition")
    wait_processed(linked_addon)
    changelog_ids = {row.payload["changelog"]["id"] for row in status_rows(linked_addon)}
    assert len(changelog_ids) == 1
    with Session(linked_addon.app.extensions["database"].engine) as session:
        events = session.execute(select(Message).where(Message.conversation_id == linked_chat.id,
                                                       Message.kind == MessageKind.EVENT)).scalars().all()
    assert [message.event_type for message in events] == ["request_resolved"]


def test_linked_site_comment_once(linked_addon, jira_site):
    linked_chat = start_alice_chat(linked_addon)

    created = comment(jira_site, linked_chat)

    wait_delivered(jira_site, 1, event_type=forge_events.COMMENTED_ISSUE, comment_id=created["id"])
    wait_until(lambda: len(comment_rows(linked_addon, created["id"])) == 3, timeout=DEADLINE_SECS,
               message="the two Connect webhooks and the Forge event of the comment")
    wait_processed(linked_addon)
    assert len(jira_messages(linked_addon, linked_chat.id, created["id"])) == 1


def status_rows(server):
    return [row for row in inbox(server) if row.name == "jira:issue_updated"
            and any(item.get("field") == "status" for item in (row.payload.get("changelog") or {}).get("items", []))]


def comment_rows(server, comment_id):
    return [row for row in inbox(server) if str((row.payload.get("comment") or {}).get("id")) == comment_id]


# -- rejected and ignored calls -----------------------------------------------------------------

def _comment_event(chat, comment_id="90001"):
    return {"payload": {"eventType": forge_events.COMMENTED_ISSUE, "issue": {"id": chat.issue_id, "key": chat.issue_key},
                        "comment": {"id": comment_id, "author": {"accountId": "agent-camille"},
                                    "created": "2026-12-05T10:00:00.000+0100",
                                    "updated": "2026-12-05T10:00:00.000+0100"}}}


@pytest.mark.parametrize("options", [{"app_id": OTHER_APP_ID}, {"forgery": "expired"}, {"forgery": "wrong_key"}])
def test_forged_event_rejected(forge_addon, jira_site, chat, options):
    response = post_event(forge_addon, jira_site, _comment_event(chat), **options)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "forge_token_invalid"
    assert stored_for_comment(forge_addon, "90001") == []


def test_unknown_event_ignored(forge_addon, jira_site, chat):
    response = post_event(forge_addon, jira_site, {"eventType": "avi:jira:created:issuelink", "id": "10001"})

    assert response.status_code == 200
    assert "avi:jira:created:issuelink" in response.json()["ignored"]
    assert [row for row in inbox(forge_addon) if "issuelink" in row.name + row.dedupe_key] == []


def test_malformed_event_rejected(forge_addon, jira_site, chat):
    body = _comment_event(chat)
    del body["payload"]["comment"]["id"]

    response = post_event(forge_addon, jira_site, body)

    assert response.status_code == 400
    assert "comment" in response.json()["error"]["message"]


def test_duplicate_post_stored_once(forge_addon, jira_site, chat):
    first = post_event(forge_addon, jira_site, _comment_event(chat))
    again = post_event(forge_addon, jira_site, _comment_event(chat))

    assert first.status_code == 200
    assert again.json() == {"ok": True, "duplicate": True}
    assert len(stored_for_comment(forge_addon, "90001")) == 1


def test_event_after_uninstall_ignored(forge_addon, jira_site, chat):
    result = jira_site.control("POST", "/_devsite/forge/app/uninstall")
    assert [call["status"] for call in result["pre_uninstall"]] == [200]

    response = post_event(forge_addon, jira_site, _comment_event(chat))

    assert response.status_code == 200
    assert "uninstalled" in response.json()["ignored"]
    assert stored_for_comment(forge_addon, "90001") == []


# -- scheduled reconcile ------------------------------------------------------------------------

def test_scheduled_sweep_resubmits_stalled(forge_addon, jira_site, chat):
    with forge_addon.app.app_context():
        database = forge_addon.app.extensions["database"]
        with database.transaction() as session:
            row = WebhookEvent(client_key=forge_addon.client_key, name="jira:issue_updated", issue_key="SUP-1",
                               payload={"issue": {"id": "10000", "key": "SUP-1"}, "changelog": {"items": []}},
                               dedupe_key="stalled-test-1", attempts=0,
                               received_at=utcnow() - timedelta(seconds=forge_events.STALLED_AFTER_SECS + 60))
            session.add(row)
        stalled_id = row.id

    results = jira_site.control("POST", "/_devsite/forge/scheduled")["scheduled"]

    assert [result["status"] for result in results] == [200]
    wait_until(lambda: next(r for r in inbox(forge_addon) if r.id == stalled_id).processed_at is not None,
               timeout=DEADLINE_SECS, message="the stalled event to be processed")


def test_scheduled_call_acknowledged_without_tenant(forge_addon, jira_site):
    response = call(forge_addon, "/forge/scheduled", mint(
        jira_site, kind="trigger", module={"type": "core:endpoint", "key": "schedule-ep"},
        installation_id="ari:cloud:ecosystem::installation/00000000-0000-4000-8000-00000000aaaa"), json={})

    assert response.status_code == 200
    assert response.json() == {"ok": True}
