"""Jira comments and status changes reaching the chat, over real HTTP with the local Jira site.

Cases driven by the site's control API get the webhooks Jira would send. Duplicate and
out-of-order cases post the signed fixture payloads of tests/data/webhooks to the add-on, one at a
time, each processed before the next is sent.
"""

import copy
import json
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from addon import create_app
from addon.atlassian.installations import get_installation, shared_secret_of
from addon.atlassian.webhooks import EVENTS_BY_SLUG, dedupe_key_of
from addon.chat.actions import Viewer, history, post_message
from addon.chat.fanout import channel_of
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
from addon.models import WebhookEvent
from addon.sync.echoes import memo_of

from .conftest import addon_overrides
from .subscriptions import grant_defaults
from .signing import hs256_token
from .support import AddonServer, free_port, wait_until

DATA_DIR = Path(__file__).parent / "data" / "webhooks"
SLUGS = {name: slug for slug, name in EVENTS_BY_SLUG.items()}


@pytest.fixture
def addon(database_url, jira_site, tmp_path):
    """The add-on installed into the local site, retrying failed webhook events after 0.3 s.

    Its outbox does not run unless a test starts it, so that chat messages stay in the sync state
    the test gives them.
    """
    port = free_port()
    app = create_app(addon_overrides(database_url, jira_site, port, tmp_path, WEBHOOK_RETRY_DELAY_SECS=0.3,
                                     OUTBOX_AUTOSTART=False))
    server = AddonServer(app, port)
    result = jira_site.control("POST", "/_devsite/apps/install",
                               json={"descriptor_url": f"{server.url}/atlassian-connect.json"})
    assert result["status"] in (200, 204), result
    server.client_key = result["client_key"]
    grant_defaults(app, result["client_key"])
    yield server
    app.extensions["outbox"].stop()
    server.stop()


@pytest.fixture
def chat(addon):
    """A conversation started by cust-alice, as the portal would start it."""
    with addon.app.app_context():
        installation = get_installation(addon.client_key)
        conversation = start_chat(viewer(installation, "cust-alice"), summary="Impossible de valider une facture",
                                  product_area="Comptabilité", impact="blocking",
                                  message="Erreur E1024 à la validation.", client_message_id="first-1")
    wait_until(lambda: all_processed(addon), message="the webhooks of the chat start")
    return conversation


def viewer(installation, account_id, role=AuthorRole.CUSTOMER):
    return Viewer(installation_id=installation.id, client_key=installation.client_key, account_id=account_id,
                  role=role, project_key="SUP" if role == AuthorRole.AGENT else None)


# -- helpers ------------------------------------------------------------------------------------

def fixture(name, conversation, comment_id=None, **comment_changes):
    """Load a fixture payload, pointed at `conversation`'s issue, with comment fields replaced."""
    payload = json.loads((DATA_DIR / name).read_text(encoding="utf-8"))
    payload["issue"]["id"] = conversation.issue_id
    payload["issue"]["key"] = conversation.issue_key
    if "comment" in payload:
        payload["comment"].update(comment_changes)
        if comment_id is not None:
            payload["comment"]["id"] = comment_id
    return payload


def send(addon, payload, retry=None):
    """Post `payload` to the add-on's webhook route, signed as the site does."""
    slug = SLUGS[payload["webhookEvent"]]
    with addon.app.app_context():
        secret = shared_secret_of(get_installation(addon.client_key))
    token = hs256_token("POST", f"/webhooks/{slug}", secret=secret, client_key=addon.client_key)
    headers = {"Authorization": f"JWT {token}"}
    if retry is not None:
        headers["X-Atlassian-Webhook-Retry"] = str(retry)
    return requests.post(f"{addon.url}/webhooks/{slug}", json=payload, headers=headers, timeout=10)


def deliver(addon, payload):
    """Send `payload` and wait until the add-on has processed it."""
    response = send(addon, payload)
    assert response.status_code == 204
    key = dedupe_key_of(payload["webhookEvent"], payload)
    wait_until(lambda: event_row(addon, key) is not None and event_row(addon, key).processed_at is not None,
               message=f"webhook {key} to be processed")


def event_row(addon, dedupe_key):
    with Session(addon.app.extensions["database"].engine) as session:
        return session.execute(select(WebhookEvent).where(WebhookEvent.dedupe_key == dedupe_key)).scalar_one_or_none()


def events(addon):
    with Session(addon.app.extensions["database"].engine) as session:
        return list(session.execute(select(WebhookEvent).order_by(WebhookEvent.id)).scalars())


def all_processed(addon):
    return all(row.processed_at is not None for row in events(addon))


def processed_for_comment(addon, comment_id):
    """Count the processed deliveries that carry comment `comment_id`."""
    return sum(1 for row in events(addon)
               if row.processed_at is not None and str((row.payload.get("comment") or {}).get("id")) == comment_id)


def jira_messages(addon, conversation_id):
    with Session(addon.app.extensions["database"].engine) as session:
        statement = select(Message).where(Message.conversation_id == conversation_id, Message.origin == Origin.JIRA,
                                          Message.kind == MessageKind.MESSAGE).order_by(Message.seq)
        return list(session.execute(statement).scalars())


def status_events(addon, conversation_id):
    with Session(addon.app.extensions["database"].engine) as session:
        statement = select(Message).where(Message.conversation_id == conversation_id,
                                          Message.kind == MessageKind.EVENT).order_by(Message.seq)
        return list(session.execute(statement).scalars())


def load_conversation(addon, conversation_id):
    with Session(addon.app.extensions["database"].engine) as session:
        return session.get(Conversation, conversation_id)


def change_message(addon, message_id, **fields):
    with Session(addon.app.extensions["database"].engine) as session, session.begin():
        session.execute(update(Message).where(Message.id == message_id).values(**fields))


def comment_in_jira(jira_site, chat, author="agent-camille", body="Bonjour Alice", public=True, properties=None):
    comment = jira_site.control("POST", "/_devsite/actions/comment", json={
        "issue_key": chat.issue_key, "author_account_id": author, "body": body, "public": public,
        "properties": properties})
    return str(comment["id"])


def customer_history(addon, conversation_id, account_id="cust-alice", role=AuthorRole.CUSTOMER):
    with addon.app.app_context():
        installation = get_installation(addon.client_key)
        return [m.body for m in history(conversation_id, viewer(installation, account_id, role))]


# -- comments written in Jira -------------------------------------------------------------------

def test_public_comment_becomes_message(addon, jira_site, chat):
    comment_id = comment_in_jira(jira_site, chat, body="Bonjour Alice, quelle est la *date* de la facture ?")
    # comment_created and jira:issue_updated (issue_commented) both carry the comment.
    wait_until(lambda: processed_for_comment(addon, comment_id) == 2, message="both deliveries")

    [message] = jira_messages(addon, chat.id)
    assert message.jira_comment_id == comment_id
    assert message.body == "Bonjour Alice, quelle est la date de la facture ?"
    assert message.author_account_id == "agent-camille"
    assert message.author_role == AuthorRole.AGENT
    assert message.author_name == "Camille Martin"
    assert message.visibility == Visibility.PUBLIC
    assert message.sync_state == SyncState.NOT_APPLICABLE
    assert message.seq == 2
    assert message.body in customer_history(addon, chat.id)


def test_internal_comment_agents_only(addon, jira_site, chat):
    comment_id = comment_in_jira(jira_site, chat, body="Vérifier la période comptable", public=False)
    wait_until(lambda: processed_for_comment(addon, comment_id) == 2, message="both deliveries")

    [message] = jira_messages(addon, chat.id)
    assert message.visibility == Visibility.INTERNAL
    assert "Vérifier la période comptable" not in customer_history(addon, chat.id)
    assert "Vérifier la période comptable" in customer_history(addon, chat.id, "agent-camille", AuthorRole.AGENT)


def test_customer_comment_role(addon, jira_site, chat):
    comment_id = comment_in_jira(jira_site, chat, author="cust-bruno", body="Je confirme le problème")
    wait_until(lambda: processed_for_comment(addon, comment_id) == 2, message="both deliveries")

    [message] = jira_messages(addon, chat.id)
    assert message.author_role == AuthorRole.CUSTOMER


def test_adf_webhook_body(addon, jira_site, chat):
    jira_site.control("PUT", "/_devsite/switches", json={"webhook_comment_body": "adf"})
    comment_id = comment_in_jira(jira_site, chat, body="Première ligne\n\nSeconde ligne")
    wait_until(lambda: processed_for_comment(addon, comment_id) == 2, message="both deliveries")

    [message] = jira_messages(addon, chat.id)
    assert message.body == "Première ligne\n\nSeconde ligne"


def test_adf_mention_renders_name(addon, chat):
    deliver(addon, fixture("comment_created_adf.json", chat))

    [message] = jira_messages(addon, chat.id)
    assert message.body.startswith("@Alice Durand la période comptable de novembre est fermée.")
    assert "Erreur E1024 (" in message.body


def test_request_without_chat_ignored(addon, jira_site, chat):
    comment_id = jira_site.control("POST", "/_devsite/actions/comment", json={
        "issue_key": "SUP-1", "author_account_id": "agent-camille", "body": "Bonjour", "public": True})["id"]
    wait_until(lambda: processed_for_comment(addon, str(comment_id)) == 2, message="both deliveries")

    with Session(addon.app.extensions["database"].engine) as session:
        origins = list(session.execute(select(Message.origin)).scalars())
    assert origins == [Origin.CHAT]


# -- duplicates and order -----------------------------------------------------------------------

def test_created_and_issue_updated_once(addon, chat):
    deliver(addon, fixture("comment_created_v2.json", chat))
    deliver(addon, fixture("issue_updated_commented.json", chat))

    messages = jira_messages(addon, chat.id)
    assert len(messages) == 1
    assert messages[0].body == "Bonjour Alice, pouvez-vous nous envoyer le numéro de la facture ?"


def test_retried_delivery_once(addon, chat):
    payload = fixture("comment_created_v2.json", chat)
    deliver(addon, payload)
    again = send(addon, payload, retry=1)

    assert again.status_code == 204
    assert len(jira_messages(addon, chat.id)) == 1


def test_concurrent_duplicates_once(addon, chat):
    created = fixture("comment_created_v2.json", chat)
    commented = fixture("issue_updated_commented.json", chat)
    assert send(addon, created).status_code == 204
    assert send(addon, commented).status_code == 204
    wait_until(lambda: processed_for_comment(addon, "10100") == 2, message="both deliveries")

    assert len(jira_messages(addon, chat.id)) == 1


def test_update_before_create(addon, chat):
    deliver(addon, fixture("comment_updated.json", chat))
    deliver(addon, fixture("comment_created_v2.json", chat))

    [message] = jira_messages(addon, chat.id)
    assert message.body == "Bonjour Alice, pouvez-vous nous envoyer le numéro et la date de la facture ?"
    assert message.edited_at is not None


def test_updates_in_reverse_order(addon, chat):
    deliver(addon, fixture("comment_created_v2.json", chat))
    newer = fixture("comment_updated.json", chat, body="Version 2", updated="2025-12-04T10:20:00.000+0100")
    older = fixture("comment_updated.json", chat, body="Version 1", updated="2025-12-04T10:18:00.000+0100")
    older["timestamp"] = newer["timestamp"] + 1  # another delivery, not a copy of the first
    deliver(addon, newer)
    deliver(addon, older)

    [message] = jira_messages(addon, chat.id)
    assert message.body == "Version 2"
    assert message.jira_comment_updated == "2025-12-04T10:20:00.000+0100"


def test_update_in_other_timezone(addon, chat):
    deliver(addon, fixture("comment_created_v2.json", chat))
    # 09:16 UTC is later than the creation at 10:15 +0100, although it sorts first as text.
    deliver(addon, fixture("comment_updated.json", chat, body="Plus récent", updated="2025-12-04T09:16:00.000+0000"))

    [message] = jira_messages(addon, chat.id)
    assert message.body == "Plus récent"


def test_delete_after_create(addon, chat):
    deliver(addon, fixture("comment_created_v2.json", chat))
    deliver(addon, fixture("comment_deleted.json", chat))

    [message] = jira_messages(addon, chat.id)
    assert message.deleted_at is not None
    assert message.body == ""


def test_delete_before_create(addon, chat):
    deliver(addon, fixture("comment_deleted.json", chat))
    deliver(addon, fixture("comment_created_v2.json", chat))
    deliver(addon, fixture("comment_updated.json", chat))

    assert jira_messages(addon, chat.id) == []


def test_update_after_delete_ignored(addon, chat):
    deliver(addon, fixture("comment_created_v2.json", chat))
    deliver(addon, fixture("comment_deleted.json", chat))
    deliver(addon, fixture("comment_updated.json", chat))

    [message] = jira_messages(addon, chat.id)
    assert message.body == ""


def test_missing_jsd_public_is_internal(addon, chat):
    payload = fixture("comment_created_v2.json", chat)
    del payload["comment"]["jsdPublic"]
    deliver(addon, payload)

    [message] = jira_messages(addon, chat.id)
    assert message.visibility == Visibility.INTERNAL


# -- our own comments coming back ---------------------------------------------------------------

def post_as_alice(addon, chat, body="Voici le numéro : F-2025-118"):
    with addon.app.app_context():
        installation = get_installation(addon.client_key)
        message, _ = post_message(viewer(installation, "cust-alice"), chat.id, body, client_message_id="c-2")
    return message


def test_linked_comment_not_repeated(addon, chat):
    message = post_as_alice(addon, chat)
    change_message(addon, message.id, jira_comment_id="10100", sync_state=SyncState.SYNCED)
    alice = {"accountId": "cust-alice", "displayName": "Alice Durand", "accountType": "customer"}
    deliver(addon, fixture("comment_created_v2.json", chat, author=alice, body="Voici le numéro : F-2025-118"))

    assert jira_messages(addon, chat.id) == []


def test_property_marks_own_comment(addon, jira_site, chat):
    message = post_as_alice(addon, chat)
    comment_id = comment_in_jira(jira_site, chat, author="cust-alice", body=message.body,
                                 properties={"supportchat.messages": {"messageIds": [message.id]}})
    wait_until(lambda: processed_for_comment(addon, comment_id) == 2, message="both deliveries")

    assert jira_messages(addon, chat.id) == []


def test_app_user_comment_ignored(addon, jira_site, chat):
    app_user = "addon-com.example.support-chat"
    comment_id = comment_in_jira(jira_site, chat, author=app_user, body="Alice Durand : Merci")
    wait_until(lambda: processed_for_comment(addon, comment_id) == 2, message="both deliveries")

    assert jira_messages(addon, chat.id) == []


def test_sending_outbox_defers(addon, chat):
    message = post_as_alice(addon, chat)
    change_message(addon, message.id, sync_state=SyncState.SENDING)
    alice = {"accountId": "cust-alice", "displayName": "Alice Durand", "accountType": "customer"}
    payload = fixture("comment_created_v2.json", chat, comment_id="10150", author=alice, body=message.body)
    key = dedupe_key_of("comment_created", payload)
    assert send(addon, payload).status_code == 204

    # The first attempt ends with an error stored; the retry may already have succeeded.
    wait_until(lambda: event_row(addon, key) is not None
               and (event_row(addon, key).last_error or event_row(addon, key).processed_at),
               message="the end of the first attempt")
    # The outbox finishes: it records the comment it wrote.
    change_message(addon, message.id, jira_comment_id="10150", sync_state=SyncState.SYNCED)
    wait_until(lambda: event_row(addon, key).processed_at is not None, message="the retry")

    assert event_row(addon, key).attempts == 2
    assert jira_messages(addon, chat.id) == []


def test_outbox_comments_not_repeated(addon, chat):
    with addon.app.app_context():
        installation = get_installation(addon.client_key)
        alice_message, _ = post_message(viewer(installation, "cust-alice"), chat.id, "Voici le numéro",
                                        client_message_id="c-2")
        agent = viewer(installation, "agent-camille", AuthorRole.AGENT)
        agent_message, _ = post_message(agent, chat.id, "Merci, je regarde", client_message_id="a-1")
    addon.app.extensions["outbox"].start()

    def comment_ids():
        with Session(addon.app.extensions["database"].engine) as session:
            rows = session.execute(select(Message).where(Message.id.in_([alice_message.id, agent_message.id])))
            return [m.jira_comment_id for m in rows.scalars() if m.sync_state == SyncState.SYNCED]

    ids = wait_until(lambda: len(comment_ids()) == 2 and comment_ids(), message="both messages written to Jira")
    echoes = memo_of(addon.app)
    for comment_id in ids:
        # Each echo is either dropped at receipt, when the outbox had the comment's id by then, or
        # stored and ignored by the handlers.
        wait_until(lambda: processed_for_comment(addon, comment_id) + echoes.dropped(addon.client_key, comment_id) == 2,
                   message=f"the webhooks of {comment_id}")

    assert jira_messages(addon, chat.id) == []


def test_unknown_comment_of_participant(addon, chat):
    post_as_alice(addon, chat)
    alice = {"accountId": "cust-alice", "displayName": "Alice Durand", "accountType": "customer"}
    deliver(addon, fixture("comment_created_v2.json", chat, comment_id="10160", author=alice,
                           body="Écrit directement dans le portail"))

    [message] = jira_messages(addon, chat.id)
    assert message.body == "Écrit directement dans le portail"


# -- status changes -----------------------------------------------------------------------------

def test_resolve_then_reopen(addon, jira_site, chat):
    jira_site.control("POST", "/_devsite/actions/transition", json={
        "issue_key": chat.issue_key, "actor_account_id": "agent-camille", "to_status": "Resolved",
        "resolution": "Done"})
    wait_until(lambda: len(status_events(addon, chat.id)) == 1, message="the resolve event")
    assert load_conversation(addon, chat.id).state == ConversationState.RESOLVED

    jira_site.control("POST", "/_devsite/actions/transition", json={
        "issue_key": chat.issue_key, "actor_account_id": "agent-camille", "to_status": "Waiting for support"})
    wait_until(lambda: len(status_events(addon, chat.id)) == 2, message="the reopen event")

    resolved, reopened = status_events(addon, chat.id)
    assert resolved.event_type == "request_resolved"
    assert resolved.body == "Demande résolue"
    assert resolved.visibility == Visibility.PUBLIC
    assert reopened.event_type == "request_reopened"
    assert reopened.body == "Demande rouverte"
    conversation = load_conversation(addon, chat.id)
    assert conversation.state == ConversationState.OPEN
    assert conversation.jira_status == "Waiting for support"


def test_close_event(addon, jira_site, chat):
    # The workflow closes only a resolved request.
    jira_site.control("POST", "/_devsite/actions/transition", json={
        "issue_key": chat.issue_key, "actor_account_id": "agent-camille", "to_status": "Resolved",
        "resolution": "Done"})
    jira_site.control("POST", "/_devsite/actions/transition", json={
        "issue_key": chat.issue_key, "actor_account_id": "agent-camille", "to_status": "Closed"})
    wait_until(lambda: len(status_events(addon, chat.id)) == 2, message="the close event")

    [_resolved, closed] = status_events(addon, chat.id)
    assert closed.body == "Demande clôturée"
    assert load_conversation(addon, chat.id).state == ConversationState.CLOSED


def test_other_status_internal_event(addon, jira_site, chat):
    jira_site.control("POST", "/_devsite/actions/transition", json={
        "issue_key": chat.issue_key, "actor_account_id": "agent-camille", "to_status": "In Progress"})
    wait_until(lambda: status_events(addon, chat.id), message="the status event")

    [changed] = status_events(addon, chat.id)
    assert changed.event_type == "status_changed"
    assert changed.body == "In Progress"
    assert changed.visibility == Visibility.INTERNAL
    assert load_conversation(addon, chat.id).jira_status == "In Progress"


def test_status_fixture_once(addon, chat):
    payload = fixture("issue_updated_status.json", chat)
    deliver(addon, payload)
    again = copy.deepcopy(payload)
    again["timestamp"] += 1  # a second delivery of the same changelog
    deliver(addon, again)

    [resolved] = status_events(addon, chat.id)
    assert resolved.author_name == "Camille Martin"
    assert load_conversation(addon, chat.id).state == ConversationState.RESOLVED


def test_late_status_keeps_state(addon, chat):
    resolved = fixture("issue_updated_status.json", chat)
    reopened = copy.deepcopy(resolved)
    reopened["timestamp"] += 60_000
    reopened["changelog"] = {"id": "10532", "items": [
        {"field": "status", "fieldtype": "jira", "fieldId": "status", "from": "5", "fromString": "Resolved",
         "to": "1", "toString": "Open"}]}
    deliver(addon, reopened)
    deliver(addon, resolved)

    assert len(status_events(addon, chat.id)) == 2
    assert load_conversation(addon, chat.id).state == ConversationState.OPEN


# -- mentions and live delivery -----------------------------------------------------------------

def test_wiki_mention_renders_name(addon, chat):
    deliver(addon, fixture("comment_created_v2.json", chat, body="[~accountid:cust-alice] merci pour le retour"))

    [message] = jira_messages(addon, chat.id)
    assert message.body == "@Alice Durand merci pour le retour"


@contextmanager
def live_jira_messages(addon, chat):
    """Collect the live payloads of Jira's messages in the chat while the block runs."""
    received = []

    def collect(payload):
        # The chat start's own message may still be on its way, so it is left out.
        if payload.get("origin") == Origin.JIRA:
            received.append(payload)

    subscription = addon.app.extensions["pubsub"].subscribe(channel_of(chat.installation_id, chat.id), collect)
    try:
        yield received
    finally:
        subscription.close()


def test_update_published_same_seq(addon, chat):
    with live_jira_messages(addon, chat) as received:
        deliver(addon, fixture("comment_created_v2.json", chat))
        deliver(addon, fixture("comment_updated.json", chat))
        wait_until(lambda: len(received) == 2, message="two live messages")

    created, updated = received
    assert created["type"] == "message"
    assert updated["seq"] == created["seq"]
    assert created["edited_at"] is None
    assert updated["edited_at"] is not None
    assert updated["body"].endswith("la date de la facture ?")


def test_delete_published_empty_body(addon, chat):
    with live_jira_messages(addon, chat) as received:
        deliver(addon, fixture("comment_created_v2.json", chat))
        deliver(addon, fixture("comment_deleted.json", chat))
        wait_until(lambda: len(received) == 2, message="two live messages")

    deleted = received[1]
    assert deleted["deleted"] is True
    assert deleted["body"] == ""
