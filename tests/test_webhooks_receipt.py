"""Webhook receipt over real HTTP: verification, dedupe, acknowledgement before processing."""

import logging
import threading
from collections import defaultdict
from types import SimpleNamespace

import pytest
import requests
from flask import current_app, has_app_context
from sqlalchemy import select

from addon import create_app
from addon.atlassian import webhooks
from addon.models import WebhookEvent
from addon.sync.echoes import memo_of

from .conftest import addon_overrides
from .signing import CLIENT_KEY, hs256_token, store_tenant
from .support import AddonServer, free_port, wait_until

UNUSED_SITE = SimpleNamespace(url="http://127.0.0.1:9")


@pytest.fixture
def addon(database_url, tmp_path, monkeypatch):
    port = free_port()
    app = create_app(addon_overrides(database_url, UNUSED_SITE, port, tmp_path, WEBHOOK_RETRY_DELAY_SECS=0.05))
    # The registry is replaced only after create_app has imported the modules that register the
    # product's handlers, so that they land in the real registry, which is restored afterwards.
    monkeypatch.setattr(webhooks, "_handlers", defaultdict(list))
    webhooks.init_app(app)
    store_tenant(app)
    server = AddonServer(app, port)
    yield server
    webhooks.shutdown(app)
    server.stop()


@pytest.fixture
def handlers(addon):
    """The test's own handler registry, empty at the start."""
    return webhooks._handlers


def comment_payload(comment_id="10001", timestamp=1765000000000, body="Bonjour, ma facture est bloquée"):
    return {
        "timestamp": timestamp,
        "webhookEvent": "comment_created",
        "comment": {"id": comment_id, "body": body, "jsdPublic": True,
                    "author": {"accountId": "cust-alice", "accountType": "customer"}},
        "issue": {"id": "10000", "key": "SUP-1", "fields": {"summary": "Facture"}},
    }


def post(addon, slug, payload=None, data=None, headers=None):
    token = hs256_token("POST", f"/webhooks/{slug}")
    headers = {"Authorization": f"JWT {token}", **(headers or {})}
    return requests.post(f"{addon.url}/webhooks/{slug}", json=payload, data=data, headers=headers, timeout=10)


def stored_events(addon):
    with addon.app.extensions["database"].engine.connect() as connection:
        return connection.execute(select(WebhookEvent.__table__).order_by(WebhookEvent.id)).all()


def processed(addon):
    return [row for row in stored_events(addon) if row.processed_at is not None]


def test_webhook_stored_and_processed(addon, handlers):
    seen = []
    handlers["comment_created"].append(seen.append)
    assert post(addon, "comment-created", comment_payload()).status_code == 204
    wait_until(lambda: processed(addon), message="the event to be processed")
    [event] = seen
    assert event.client_key == CLIENT_KEY
    assert event.name == "comment_created"
    assert event.issue_key == "SUP-1"
    assert event.payload["comment"]["id"] == "10001"
    [row] = stored_events(addon)
    assert row.dedupe_key == "comment_created:10001:1765000000000"
    assert row.attempts == 1


def test_webhook_duplicate_processed_once(addon, handlers):
    seen = []
    handlers["comment_created"].append(seen.append)
    first = post(addon, "comment-created", comment_payload())
    wait_until(lambda: processed(addon), message="the first delivery to be processed")
    second = post(addon, "comment-created", comment_payload(), headers={"X-Atlassian-Webhook-Retry": "1"})
    assert first.status_code == 204
    assert second.status_code == 204
    assert len(stored_events(addon)) == 1
    assert len(seen) == 1


def test_webhook_same_comment_new_timestamp(addon, handlers):
    post(addon, "comment-updated", {**comment_payload(), "webhookEvent": "comment_updated"})
    post(addon, "comment-updated", {**comment_payload(timestamp=1765000000999), "webhookEvent": "comment_updated"})
    assert len(stored_events(addon)) == 2


def test_webhook_ack_before_processing(addon, handlers):
    started = threading.Event()
    release = threading.Event()

    def blocking(event):
        started.set()
        release.wait(timeout=30)

    handlers["comment_created"].append(blocking)
    try:
        response = post(addon, "comment-created", comment_payload())
        assert response.status_code == 204
        assert started.wait(timeout=10)
        assert processed(addon) == []
    finally:
        release.set()
    wait_until(lambda: processed(addon), message="the event to be processed after release")


def test_webhook_handler_app_context(addon, handlers):
    seen = []
    handlers["jira:issue_updated"].append(
        lambda event: seen.append((has_app_context(), current_app.config["ADDON_BASE_URL"]))
    )
    payload = {"timestamp": 1, "webhookEvent": "jira:issue_updated", "issue": {"id": "10000", "key": "SUP-1"}}
    assert post(addon, "issue-updated", payload).status_code == 204
    wait_until(lambda: seen, message="the handler to run")
    assert seen == [(True, addon.url)]


def test_webhook_handler_error_retried(addon, handlers, caplog):
    caplog.set_level(logging.INFO, logger="addon.atlassian.webhooks")
    calls = []

    def failing(event):
        calls.append(event.id)
        raise ValueError("lookup failed")

    handlers["comment_created"].append(failing)
    post(addon, "comment-created", comment_payload())
    wait_until(lambda: [row for row in stored_events(addon) if row.attempts == 2 and row.last_error],
               message="the retry to fail too")
    [row] = stored_events(addon)
    assert row.processed_at is None
    assert row.last_error == "ValueError: lookup failed"
    assert len(calls) == 2
    failures = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert CLIENT_KEY in failures[0].getMessage()
    assert "SUP-1" in failures[0].getMessage()


def test_webhook_handler_retry_succeeds(addon, handlers):
    calls = []

    def flaky(event):
        calls.append(event.id)
        if len(calls) == 1:
            raise RuntimeError("Jira unavailable")

    handlers["comment_created"].append(flaky)
    post(addon, "comment-created", comment_payload())
    wait_until(lambda: processed(addon), message="the retry to succeed")
    [row] = stored_events(addon)
    assert row.attempts == 2
    assert row.last_error is None


def test_webhook_unknown_route_ignored(addon, caplog):
    caplog.set_level(logging.INFO, logger="addon.atlassian.webhooks")
    payload = {"timestamp": 1, "webhookEvent": "jira:issue_created", "issue": {"id": "1", "key": "SUP-9"}}
    assert post(addon, "issue-created", payload).status_code == 204
    assert stored_events(addon) == []
    assert any("Ignored webhook" in record.getMessage() for record in caplog.records)


def test_webhook_other_event_ignored(addon):
    payload = {**comment_payload(), "webhookEvent": "comment_deleted"}
    assert post(addon, "comment-created", payload).status_code == 204
    assert stored_events(addon) == []


def test_webhook_invalid_json(addon):
    response = post(addon, "comment-created", data="{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]["message"]


def test_webhook_body_not_object(addon):
    response = post(addon, "comment-created", payload=[1, 2])
    assert response.status_code == 400


def test_webhook_needs_token(addon):
    response = requests.post(f"{addon.url}/webhooks/comment-created", json=comment_payload(), timeout=10)
    assert response.status_code == 401
    assert stored_events(addon) == []


def test_webhook_log_has_ids_not_body(addon, caplog):
    caplog.set_level(logging.DEBUG)
    post(addon, "comment-created", comment_payload(body="Texte confidentiel du client"))
    received = [record.getMessage() for record in caplog.records if "Received webhook" in record.getMessage()]
    assert received == [f"Received webhook comment_created from client_key {CLIENT_KEY}, issue SUP-1"]
    assert not any("confidentiel" in record.getMessage() for record in caplog.records)


def test_dedupe_key_without_ids():
    payload = {"webhookEvent": "comment_created", "comment": {"body": "x"}}
    assert webhooks.dedupe_key_of("comment_created", payload) == webhooks.dedupe_key_of("comment_created", dict(payload))
    assert webhooks.dedupe_key_of("comment_created", payload).startswith("comment_created:sha256:")


def _issue_commented(comment_id, changelog_items=()):
    payload = comment_payload(comment_id)
    payload["webhookEvent"] = "jira:issue_updated"
    payload["issue_event_type_name"] = "issue_commented"
    if changelog_items:
        payload["changelog"] = {"id": "1", "items": list(changelog_items)}
    return payload


def test_outbox_echo_dropped_at_receipt(addon, handlers):
    """Jira's two webhooks for a comment the outbox wrote are acknowledged, not stored or handled.

    An edit of that comment, a status change with it and another comment still reach the handlers.
    """
    seen = []
    for name in ("comment_created", "comment_updated", "jira:issue_updated"):
        handlers[name].append(seen.append)
    memo = memo_of(addon.app)
    memo.remember(CLIENT_KEY, "10001")

    assert post(addon, "comment-created", comment_payload("10001")).status_code == 204
    assert post(addon, "issue-updated", _issue_commented("10001")).status_code == 204
    assert stored_events(addon) == []
    assert memo.dropped(CLIENT_KEY, "10001") == 2

    edited = comment_payload("10001", timestamp=1765000000001, body="Corrigé")
    edited["webhookEvent"] = "comment_updated"
    assert post(addon, "comment-updated", edited).status_code == 204
    transition = _issue_commented("10001", [{"field": "status", "fromString": "Ouvert", "toString": "Résolu"}])
    transition["timestamp"] = 1765000000002
    assert post(addon, "issue-updated", transition).status_code == 204
    assert post(addon, "comment-created", comment_payload("10002")).status_code == 204

    wait_until(lambda: len(processed(addon)) == 3, message="the three events that are not echoes")
    assert sorted((event.name, event.payload["comment"]["id"]) for event in seen) == [
        ("comment_created", "10002"), ("comment_updated", "10001"), ("jira:issue_updated", "10001")]
    assert memo.dropped(CLIENT_KEY, "10001") == 2


def test_issue_events_run_in_order(addon, handlers):
    """An issue's second event waits for its first, while another issue's event runs meanwhile."""
    release = threading.Event()
    order = []

    def handler(event):
        comment_id = event.payload["comment"]["id"]
        if comment_id == "10001":
            release.wait(timeout=30)
        order.append(comment_id)

    handlers["comment_created"].append(handler)
    other_issue = comment_payload("10003")
    other_issue["issue"] = {"id": "10001", "key": "SUP-2"}
    try:
        for payload in (comment_payload("10001"), comment_payload("10002"), other_issue):
            assert post(addon, "comment-created", payload).status_code == 204
        wait_until(lambda: order == ["10003"], message="the other issue's event, while SUP-1 waits")
    finally:
        release.set()
    wait_until(lambda: len(order) == 3, message="the events of SUP-1")
    assert order == ["10003", "10001", "10002"]
