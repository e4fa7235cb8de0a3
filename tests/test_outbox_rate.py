"""The comment outbox against a site that allows a fixed rate of comment writes (429 beyond it)."""

from datetime import timedelta

from addon.atlassian import jira_session
from addon.chat.models import SyncState
from addon.models import utcnow
from addon.sync.outbox_queue import aware

from .test_outbox import chat, carried_ids, set_faults  # noqa: F401 (fixture)

COMMENT_POST = r"/comment$"


def test_outbox_rate_limit_exactly_once(chat, jira_site):
    chat.set_window(0)  # one comment per message, so that the writes outnumber the allowed rate
    conversations = {key: chat.conversation(key, "cust-alice") for key in ("SUP-1", "SUP-2")}
    before = {key: chat.comments(key) for key in conversations}
    ids = {key: [chat.post(chat.agent(), conversation, f"Réponse {number} sur {key}")
                 for number in range(5)]
           for key, conversation in conversations.items()}
    set_faults(jira_site, {"method": "POST", "path": COMMENT_POST, "mode": "allowed_rate",
                           "rate_per_sec": 4, "burst": 2})

    chat.outbox.start()
    chat.wait_synced([message_id for key_ids in ids.values() for message_id in key_ids])

    rule = jira_site.control("GET", "/_devsite/faults")[0]
    assert rule["rejected"] > 0
    # Every admitted POST is one of the ten comments: no message was written twice.
    assert rule["admitted"] == 10
    for key, key_ids in ids.items():
        comments = chat.new_comments(key, before[key])
        assert [carried_ids(comment) for comment in comments] == [[message_id] for message_id in key_ids]


def test_outbox_rate_limited_waits_retry_after(chat, jira_site):
    conversation = chat.conversation("SUP-1", "cust-alice")
    message_id = chat.post(chat.agent(), conversation, "Je regarde tout de suite.")
    # More 429s than the client retries (JIRA_MAX_RETRIES = 2 here), each asking for 1 s.
    set_faults(jira_site, {"method": "POST", "path": COMMENT_POST, "mode": "rate_limit",
                           "retry_after": 1, "times": 3})

    started = utcnow()
    with chat.app.app_context():
        chat.outbox.sync_conversation(conversation)
    finished = utcnow()

    row = chat.rows([message_id])[0]
    assert row.sync_state == SyncState.FAILED
    assert row.sync_attempts == 1
    # Jira's Retry-After (1 s), capped by OUTBOX_RETRY_MAX_SECS (0.2 s here), sets the next
    # attempt; the doubling backoff would give OUTBOX_RETRY_BASE_SECS (0.05 s).
    next_sync_at = aware(row.next_sync_at)
    assert next_sync_at >= started + timedelta(seconds=0.2)
    assert next_sync_at <= finished + timedelta(seconds=0.2)


def test_site_hold_delays_other_calls(monkeypatch):
    slept = []
    monkeypatch.setattr(jira_session.time, "sleep", slept.append)
    jira_session.hold_site("https://hold.example.net", 2.0)

    jira_session.wait_for_site("https://hold.example.net")
    jira_session.wait_for_site("https://other.example.net")

    assert len(slept) == 1
    assert 1.5 < slept[0] <= 2.0
