"""The comment outbox against the local Jira site: exactly once, in order, by the right author."""

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from addon import create_app
from addon.atlassian.installations import get_installation
from addon.chat.actions import Viewer, post_message
from addon.chat.fanout import channel_of
from addon.chat.models import AuthorRole, Conversation, Message, SyncState, Visibility
from addon.settings import set_setting
from addon.sync import outbox as outbox_module

from .conftest import addon_overrides
from .subscriptions import grant_defaults
from .support import AddonServer, free_port, wait_until

APP_ACCOUNT_ID = "addon-com.example.support-chat"
COMMENT_POST = r"/comment$"
# Short client and outbox delays keep retried tests fast; a Retry-After of 1 s is still honoured.
FAST_SETTINGS = {
    "JIRA_RETRY_BASE_SECS": 0.05,
    "JIRA_RETRY_MAX_SECS": 0.2,
    "JIRA_MAX_RETRIES": 2,
    "OUTBOX_RETRY_BASE_SECS": 0.05,
    "OUTBOX_RETRY_MAX_SECS": 0.2,
    "OUTBOX_POLL_SECS": 1,
    "OUTBOX_AUTOSTART": False,
}
SYNC_TIMEOUT_SECS = 30


class Chat:
    """The add-on installed on the local site, its outbox (not started) and helpers on its rows."""

    def __init__(self, server, site, client_key):
        self.server = server
        self.app = server.app
        self.site = site
        with self.app.app_context():
            self.installation = get_installation(client_key)
        self.outbox = self.app.extensions.get("outbox") or outbox_module.init_app(self.app)

    def viewer(self, account_id, role, name):
        return Viewer(installation_id=self.installation.id, client_key=self.installation.client_key,
                      account_id=account_id, role=role, display_name=name)

    def customer(self, account_id="cust-alice", name="Alice Durand"):
        return self.viewer(account_id, AuthorRole.CUSTOMER, name)

    def agent(self, account_id="agent-camille", name="Camille Martin"):
        return self.viewer(account_id, AuthorRole.AGENT, name)

    def conversation(self, issue_key, opened_by):
        issue = self.site.control("GET", f"/_devsite/issues/{issue_key}")
        with self.app.app_context(), self._session() as session:
            conversation = Conversation(
                installation_id=self.installation.id, issue_id=str(issue["id"]), issue_key=issue_key,
                project_key="SUP", service_desk_id="1", request_type_id="10",
                opened_by_account_id=opened_by, summary="Facture bloquée", impact="question",
                organization_id=(issue.get("organizations") or [None])[0],
            )
            session.add(conversation)
            session.commit()
            return conversation.id

    def post(self, viewer, conversation_id, body, visibility=Visibility.PUBLIC):
        with self.app.app_context():
            message, created = post_message(viewer, conversation_id, body, visibility=visibility,
                                            client_message_id=f"client-{body}")
        assert created
        return message.id

    def set_window(self, seconds):
        with self.app.app_context():
            set_setting(self.installation.id, "comment_batch_window_secs", seconds)

    def _session(self):
        return Session(self.app.extensions["database"].engine)

    def rows(self, ids):
        with self._session() as session:
            statement = select(Message).where(Message.id.in_(ids)).order_by(Message.seq)
            return list(session.execute(statement).scalars())

    def move_created(self, message_id, seconds):
        with self._session() as session:
            message = session.get(Message, message_id)
            message.created_at = message.created_at + timedelta(seconds=seconds)
            session.commit()

    def wait_synced(self, ids, timeout=SYNC_TIMEOUT_SECS):
        return wait_until(lambda: all(row.sync_state == SyncState.SYNCED for row in self.rows(ids)),
                          timeout=timeout, message=f"messages {ids} to reach Jira")

    def comments(self, issue_key):
        return self.site.control("GET", f"/_devsite/issues/{issue_key}")["comments"]

    def new_comments(self, issue_key, before):
        known = {comment["id"] for comment in before}
        return [comment for comment in self.comments(issue_key) if comment["id"] not in known]


@pytest.fixture
def chat(database_url, jira_site, tmp_path):
    port = free_port()
    app = create_app(addon_overrides(database_url, jira_site, port, tmp_path, **FAST_SETTINGS))
    server = AddonServer(app, port)
    try:
        result = jira_site.control("POST", "/_devsite/apps/install",
                                   json={"descriptor_url": f"{server.url}/atlassian-connect.json"})
        assert result["status"] in (200, 204), result
        grant_defaults(app, result["client_key"])
        chat = Chat(server, jira_site, result["client_key"])
        yield chat
        chat.outbox.stop()
    finally:
        server.stop()


def carried_ids(comment):
    return comment["properties"]["supportchat.messages"]["messageIds"]


def posted_statuses(site, path):
    return [entry["status"] for entry in site.control("GET", "/_devsite/requests")
            if entry["method"] == "POST" and entry["path"] == path]


def set_faults(site, *rules):
    site.control("PUT", "/_devsite/faults", json=list(rules))


# Exactly once and in order.


def test_outbox_faults_exactly_once_in_order(chat, jira_site):
    conversation = chat.conversation("SUP-1", "cust-alice")
    before = chat.comments("SUP-1")
    ids = [
        chat.post(chat.agent(), conversation, "Bonjour, je regarde votre facture."),
        chat.post(chat.customer(), conversation, "Merci, c'est la facture F-2024-118."),
        chat.post(chat.agent(), conversation, "Client sous contrat premium.", Visibility.INTERNAL),
        chat.post(chat.agent(), conversation, "Le correctif est en ligne."),
    ]
    # The first write meets a 500, then a 429 whose retry is committed but gets no response.
    set_faults(
        jira_site,
        {"method": "POST", "path": COMMENT_POST, "mode": "error", "status": 500, "times": 1},
        {"method": "POST", "path": COMMENT_POST, "mode": "rate_limit", "retry_after": 1, "times": 1},
        {"method": "POST", "path": COMMENT_POST, "mode": "drop_after", "times": 1},
    )

    chat.outbox.start()
    chat.wait_synced(ids)

    comments = chat.new_comments("SUP-1", before)
    assert len(comments) == 4
    assert [carried_ids(comment) for comment in comments] == [[ids[0]], [ids[1]], [ids[2]], [ids[3]]]
    assert [comment["author"] for comment in comments] == [
        "agent-camille", "cust-alice", "agent-camille", "agent-camille"]
    assert [comment["public"] for comment in comments] == [True, True, False, True]
    rows = chat.rows(ids)
    assert [row.jira_comment_id for row in rows] == [comment["id"] for comment in comments]
    assert rows[0].sync_attempts == 2
    assert all(row.sync_uncertain_since is None for row in rows)
    # The dropped write was found by the look-up, not posted again.
    assert posted_statuses(jira_site, "/rest/api/3/issue/SUP-1/comment") == [500, 429, 201, 201, 201]
    assert posted_statuses(jira_site, "/rest/servicedeskapi/request/SUP-1/comment") == [201]


def test_outbox_customer_drop_after_found(chat, jira_site):
    conversation = chat.conversation("SUP-1", "cust-alice")
    before = chat.comments("SUP-1")
    message_id = chat.post(chat.customer(), conversation, "La facture reste bloquée.")
    # The JSM comment is committed but its response is lost, so its property is not set yet.
    set_faults(jira_site, {"method": "POST", "path": r"/servicedeskapi/request/.*/comment$",
                           "mode": "drop_after", "times": 1})

    chat.outbox.start()
    chat.wait_synced([message_id])

    comments = chat.new_comments("SUP-1", before)
    assert len(comments) == 1
    assert comments[0]["author"] == "cust-alice"
    assert carried_ids(comments[0]) == [message_id]
    assert chat.rows([message_id])[0].jira_comment_id == comments[0]["id"]
    assert posted_statuses(jira_site, "/rest/servicedeskapi/request/SUP-1/comment") == [201]


# Authors and visibility.


def test_outbox_customer_impersonated(chat, jira_site):
    conversation = chat.conversation("SUP-1", "cust-alice")
    before = chat.comments("SUP-1")
    message_id = chat.post(chat.customer(), conversation, "Erreur E1024 à la validation.")

    chat.outbox.start()
    chat.wait_synced([message_id])

    comments = chat.new_comments("SUP-1", before)
    assert len(comments) == 1
    assert comments[0]["author"] == "cust-alice"
    assert comments[0]["public"] is True
    assert comments[0]["body"] == "Erreur E1024 à la validation."
    property_value = comments[0]["properties"]["supportchat.messages"]
    assert property_value == {"messageIds": [message_id], "authorAccountId": "cust-alice"}


def test_outbox_impersonation_refused_app_writes(chat, jira_site):
    jira_site.control("PUT", "/_devsite/switches", json={"impersonate_customers": False})
    conversation = chat.conversation("SUP-1", "cust-alice")
    before = chat.comments("SUP-1")
    message_id = chat.post(chat.customer(), conversation, "Toujours bloqué.")

    chat.outbox.start()
    chat.wait_synced([message_id])

    comments = chat.new_comments("SUP-1", before)
    assert len(comments) == 1
    assert comments[0]["author"] == APP_ACCOUNT_ID
    assert comments[0]["public"] is True
    assert comments[0]["body"] == "Alice Durand (via la discussion) :\n\nToujours bloqué."
    assert comments[0]["properties"]["supportchat.messages"]["authorAccountId"] == "cust-alice"
    assert carried_ids(comments[0]) == [message_id]


def test_outbox_internal_note_stays_internal(chat, jira_site):
    conversation = chat.conversation("SUP-1", "cust-alice")
    before = chat.comments("SUP-1")
    message_id = chat.post(chat.agent(), conversation, "Voir avec l'équipe finance.", Visibility.INTERNAL)

    chat.outbox.start()
    chat.wait_synced([message_id])

    comments = chat.new_comments("SUP-1", before)
    assert len(comments) == 1
    assert comments[0]["author"] == "agent-camille"
    assert comments[0]["public"] is False
    assert comments[0]["properties"]["sd.public.comment"] == {"internal": True}


# Batching.


def test_outbox_batch_within_window(chat, jira_site):
    conversation = chat.conversation("SUP-1", "cust-alice")
    before = chat.comments("SUP-1")
    ids = [chat.post(chat.agent(), conversation, text) for text in ("Première étape", "Deuxième", "Fin")]

    chat.outbox.start()
    chat.wait_synced(ids)

    comments = chat.new_comments("SUP-1", before)
    assert len(comments) == 1
    assert carried_ids(comments[0]) == ids
    paragraphs = comments[0]["body"].split("\n\n")
    assert [paragraph.split(" — ", 1)[1] for paragraph in paragraphs] == ["Première étape", "Deuxième", "Fin"]
    assert all(paragraph[2] == ":" for paragraph in paragraphs)


def test_outbox_batch_outside_window(chat, jira_site):
    conversation = chat.conversation("SUP-1", "cust-alice")
    before = chat.comments("SUP-1")
    first = chat.post(chat.agent(), conversation, "Je lance l'export.")
    second = chat.post(chat.agent(), conversation, "L'export est terminé.")
    chat.move_created(second, 61)

    chat.outbox.start()
    chat.wait_synced([first, second])

    comments = chat.new_comments("SUP-1", before)
    assert [carried_ids(comment) for comment in comments] == [[first], [second]]
    assert [comment["body"] for comment in comments] == ["Je lance l'export.", "L'export est terminé."]


def test_outbox_batch_window_setting(chat, jira_site):
    chat.set_window(0)
    conversation = chat.conversation("SUP-1", "cust-alice")
    before = chat.comments("SUP-1")
    ids = [chat.post(chat.agent(), conversation, text) for text in ("Un", "Deux")]

    chat.outbox.start()
    chat.wait_synced(ids)

    assert len(chat.new_comments("SUP-1", before)) == 2


# Order and retries.


def test_outbox_blocked_head_keeps_order(chat, jira_site):
    blocked = chat.conversation("SUP-1", "cust-alice")
    other = chat.conversation("SUP-2", "cust-chloe")
    before = chat.comments("SUP-1")
    head = chat.post(chat.agent(), blocked, "Premier message")
    later = chat.post(chat.agent("agent-hugo", "Hugo Bernard"), blocked, "Second message")
    elsewhere = chat.post(chat.agent(), other, "Autre demande")
    set_faults(jira_site, {"method": "POST", "path": r"/issue/SUP-1/comment$", "mode": "error",
                           "status": 500, "times": 0})

    chat.outbox.start()
    chat.wait_synced([elsewhere])
    wait_until(lambda: chat.rows([head])[0].sync_attempts >= 3, timeout=SYNC_TIMEOUT_SECS,
               message="three failed attempts on the blocked head")

    head_row, later_row = chat.rows([head, later])
    assert head_row.sync_state == SyncState.FAILED
    assert later_row.sync_state == SyncState.PENDING
    assert later_row.sync_attempts == 0
    assert chat.new_comments("SUP-1", before) == []

    jira_site.control("DELETE", "/_devsite/faults")
    chat.outbox.wake()
    chat.wait_synced([head, later])
    comments = chat.new_comments("SUP-1", before)
    assert [carried_ids(comment) for comment in comments] == [[head], [later]]


def test_outbox_exhausted_retries_written_later(chat, jira_site):
    conversation = chat.conversation("SUP-1", "cust-alice")
    before = chat.comments("SUP-1")
    events = []
    with chat.app.app_context():
        channel = channel_of(chat.installation.id, conversation)
    subscription = chat.app.extensions["pubsub"].subscribe(
        channel, lambda payload: events.append(payload) if payload.get("type") == "sync" else None)
    # 503 means "not processed", so the client retries it until its retries run out.
    set_faults(jira_site, {"method": "POST", "path": COMMENT_POST, "mode": "error", "status": 503, "times": 0})
    message_id = chat.post(chat.agent(), conversation, "Pouvez-vous réessayer ?")

    chat.outbox.start()
    wait_until(lambda: chat.rows([message_id])[0].sync_attempts >= 2, timeout=SYNC_TIMEOUT_SECS,
               message="two failed attempts")
    failed = chat.rows([message_id])[0]
    assert failed.sync_state == SyncState.FAILED
    assert "503" in failed.sync_error
    assert chat.new_comments("SUP-1", before) == []

    jira_site.control("DELETE", "/_devsite/faults")
    chat.outbox.wake()
    chat.wait_synced([message_id])
    wait_until(lambda: any(event["sync_state"] == SyncState.SYNCED for event in events),
               message="the synced event")
    subscription.close()

    comments = chat.new_comments("SUP-1", before)
    assert len(comments) == 1
    synced_row = chat.rows([message_id])[0]
    assert synced_row.sync_error is None
    assert events[0]["sync_state"] == SyncState.FAILED
    assert events[0]["visibility"] == Visibility.INTERNAL
    assert events[-1] == {"type": "sync", "conversation_id": conversation, "message_ids": [message_id],
                          "sync_state": SyncState.SYNCED, "jira_comment_id": comments[0]["id"],
                          "visibility": Visibility.INTERNAL}


@pytest.mark.postgresql_only
def test_outbox_two_workers_once(chat, jira_site, database_url):
    conversation = chat.conversation("SUP-1", "cust-alice")
    before = chat.comments("SUP-1")
    ids = [chat.post(chat.agent(), conversation, "Message A"),
           chat.post(chat.customer(), conversation, "Message B"),
           chat.post(chat.agent(), conversation, "Message C")]
    second = outbox_module.Outbox(chat.app)

    chat.outbox.start()
    second.start()
    try:
        chat.wait_synced(ids)
    finally:
        second.stop()

    comments = chat.new_comments("SUP-1", before)
    assert [carried_ids(comment) for comment in comments] == [[ids[0]], [ids[1]], [ids[2]]]
