"""Receipt of Jira webhooks: verify, store once, acknowledge, then process in the background.

Jira retries a delivery that fails or times out, so a slow handler would cause duplicates, and
duplicates arrive anyway. Each delivery is therefore verified and stored under a dedupe key, where
a unique constraint admits the first copy only. It is acknowledged with 204 and then handed to a
small thread pool, which runs the handlers registered with `on_webhook` inside the app context.
The events of one issue run one at a time, in the order this process received them, so that a
quick "Resolved" then "Closed" reach the chat in that order.

Handlers must be idempotent: a failed event is retried once, and every handler of the event runs
again then, including those that succeeded the first time.
"""

import hashlib
import json
import logging
import threading
from collections import defaultdict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from flask import Blueprint, current_app, g, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..errors import InvalidInput
from ..models import WebhookEvent, utcnow
from .auth import require_jwt

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

# URL slug of each webhook route (as in the descriptor) and the Jira event it receives.
EVENTS_BY_SLUG = {
    "comment-created": "comment_created",
    "comment-updated": "comment_updated",
    "comment-deleted": "comment_deleted",
    "issue-updated": "jira:issue_updated",
}

WORKERS = 2
# A failed event is retried after 2, 4, 8 and 16 s (doubling from WEBHOOK_RETRY_DELAY_SECS): long
# enough for the outbox to finish a write that a comment webhook overtook, short enough that the
# chat stays live.
RETRY_DELAY_SECS = 2.0
MAX_ATTEMPTS = 5
MAX_ERROR_CHARS = 1000

_handlers = defaultdict(list)
_receipt_filters = []
_executor_lock = threading.Lock()
# (app id, client_key, issue key) of an issue whose event is being processed -> the ids of the
# events of that issue received since, oldest first.
_issue_queues = {}
_issue_queues_lock = threading.Lock()


class RetryLater(Exception):
    """Raised by a handler that cannot process the event yet; it is retried, logged without a trace."""


@dataclass(frozen=True)
class Event:
    """A stored webhook delivery, as handlers receive it."""

    id: int
    client_key: str
    name: str
    issue_key: str | None
    received_at: datetime
    payload: dict = field(repr=False)


def on_webhook(event_name):
    """Register the decorated `handler(event)` for the Jira event `event_name`."""
    def decorator(handler):
        _handlers[event_name].append(handler)
        return handler

    return decorator


def drop_at_receipt(predicate):
    """Register `predicate(client_key, name, payload)`, which returns True for an event that needs
    neither storing nor handling (the sync layer's own echoes). Registered once per process."""
    if predicate not in _receipt_filters:
        _receipt_filters.append(predicate)
    return predicate


def _dropped(client_key, name, payload):
    return any(predicate(client_key, name, payload) for predicate in _receipt_filters)


def init_app(app):
    """Create the app's webhook thread pool. create_app calls it once."""
    with _executor_lock:
        if "webhook_executor" not in app.extensions:
            workers = int(app.config.get("WEBHOOK_WORKERS", WORKERS))
            app.extensions["webhook_executor"] = ThreadPoolExecutor(workers, thread_name_prefix="webhooks")
    return app.extensions["webhook_executor"]


def shutdown(app, wait=True):
    """Stop the app's webhook thread pool (tests and orderly exits)."""
    executor = app.extensions.pop("webhook_executor", None)
    if executor is not None:
        executor.shutdown(wait=wait, cancel_futures=True)


@bp.post("/<slug>")
@require_jwt("computed")
def receive(slug):
    client_key = g.connect.client_key
    expected_name = EVENTS_BY_SLUG.get(slug)
    payload = request.get_json(force=True, silent=True)
    if payload is None:
        raise InvalidInput("The webhook body is not valid JSON.")
    if not isinstance(payload, dict):
        raise InvalidInput("The webhook body must be a JSON object.")
    name = payload.get("webhookEvent") or expected_name
    issue_key = _issue_key_of(payload)

    if expected_name is None or name != expected_name:
        log.info("Ignored webhook %s on /webhooks/%s from client_key %s, issue %s",
                 name, slug, client_key, issue_key)
        return "", 204
    if _dropped(client_key, name, payload):
        log.debug("Dropped webhook %s from client_key %s, issue %s: the echo of our own comment",
                  name, client_key, issue_key)
        return "", 204

    event_id = _store(client_key, name, issue_key, payload)
    if event_id is None:
        log.info("Ignored duplicate webhook %s from client_key %s, issue %s (retry header %s)",
                 name, client_key, issue_key, request.headers.get("X-Atlassian-Webhook-Retry"))
        return "", 204

    log.info("Received webhook %s from client_key %s, issue %s", name, client_key, issue_key)
    _submit_in_order(current_app._get_current_object(), event_id, client_key, issue_key)
    return "", 204


def dedupe_key_of(name, payload):
    """Return the key shared by every delivery of one event: name, comment or issue id, timestamp."""
    entity = payload.get("comment") if name.startswith("comment_") else payload.get("issue")
    entity_id = entity.get("id") if isinstance(entity, dict) else None
    timestamp = payload.get("timestamp")
    if entity_id is not None and timestamp is not None:
        key = f"{name}:{entity_id}:{timestamp}"
        if len(key) <= 255:
            return key
    # Without those fields, identical bodies are taken as copies of one delivery.
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return f"{name}:sha256:{hashlib.sha256(body.encode('utf-8')).hexdigest()}"


def accept(client_key, name, issue_key, payload, dedupe_key=None):
    """Store an event from another source (Forge product events) and queue it for the handlers.

    Return the stored id, or None when a copy with the same dedupe key is already stored or the
    event is dropped at receipt.
    """
    if _dropped(client_key, name, payload):
        log.debug("Dropped event %s from client_key %s, issue %s: the echo of our own comment",
                  name, client_key, issue_key)
        return None
    event_id = _store(client_key, name, issue_key, payload, dedupe_key)
    if event_id is not None:
        _submit_in_order(current_app._get_current_object(), event_id, client_key, issue_key)
    return event_id


def resubmit(app, event_ids):
    """Queue stored events again, e.g. rows whose worker died; processed ones are skipped."""
    for event_id in event_ids:
        _submit(app, event_id)


def _store(client_key, name, issue_key, payload, dedupe_key=None):
    """Insert the event and return its id, or None when a copy of it is already stored."""
    database = current_app.extensions["database"]
    row = WebhookEvent(
        client_key=client_key, name=name, issue_key=issue_key, payload=payload,
        dedupe_key=dedupe_key or dedupe_key_of(name, payload), received_at=utcnow(), attempts=0,
    )
    try:
        with database.transaction() as session:
            session.add(row)
    except IntegrityError:
        # Only the (client_key, dedupe_key) constraint means "duplicate"; anything else is a bug.
        copy = database.session.scalar(
            select(WebhookEvent.id).where(
                WebhookEvent.client_key == client_key, WebhookEvent.dedupe_key == row.dedupe_key
            )
        )
        if copy is None:
            raise
        return None
    return row.id


def _submit_in_order(app, event_id, client_key, issue_key):
    """Queue a newly received event behind the events of its issue that are not processed yet."""
    if issue_key is None:
        _submit(app, event_id)
        return
    key = (id(app), client_key, issue_key)
    with _issue_queues_lock:
        waiting = _issue_queues.get(key)
        if waiting is not None:
            waiting.append(event_id)
            return
        _issue_queues[key] = deque()
    _submit_for_issue(app, event_id, key)


def _submit_for_issue(app, event_id, key):
    executor = app.extensions.get("webhook_executor") or init_app(app)
    try:
        executor.submit(_process_for_issue, app, event_id, key)
    except RuntimeError:
        with _issue_queues_lock:
            dropped = _issue_queues.pop(key, None) or ()
        log.warning("Webhook events %s not processed: the webhook thread pool was shut down",
                    [event_id, *dropped])


def _process_for_issue(app, event_id, key):
    """Process one event of an issue, then hand the issue's next waiting event to the pool."""
    try:
        _process(app, event_id)
    finally:
        with _issue_queues_lock:
            waiting = _issue_queues.get(key)
            next_id = waiting.popleft() if waiting else None
            if next_id is None:
                _issue_queues.pop(key, None)
        if next_id is not None:
            _submit_for_issue(app, next_id, key)


def _submit(app, event_id, delay_secs=0.0):
    executor = app.extensions.get("webhook_executor") or init_app(app)
    if delay_secs <= 0:
        executor.submit(_process, app, event_id)
        return
    timer = threading.Timer(delay_secs, _submit_later, args=(app, event_id))
    timer.daemon = True
    timer.start()


def _submit_later(app, event_id):
    executor = app.extensions.get("webhook_executor")
    if executor is None:
        log.warning("Webhook event %s not retried: the webhook thread pool was shut down", event_id)
        return
    try:
        executor.submit(_process, app, event_id)
    except RuntimeError:
        log.warning("Webhook event %s not retried: the webhook thread pool was shut down", event_id)


def _process(app, event_id):
    # NOTE: an event whose worker dies with the process (restart, crash) keeps processed_at empty
    # and is not picked up again; a sweep of old unprocessed rows would recover it.
    with app.app_context():
        database = app.extensions["database"]
        with database.transaction() as session:
            row = session.get(WebhookEvent, event_id)
            if row is None or row.processed_at is not None:
                return
            row.attempts += 1
            attempts = row.attempts
            event = Event(id=row.id, client_key=row.client_key, name=row.name, issue_key=row.issue_key,
                          received_at=row.received_at, payload=row.payload)

        error = _run_handlers(event)

        with database.transaction() as session:
            row = session.get(WebhookEvent, event_id)
            if error is None:
                row.processed_at = utcnow()
                row.last_error = None
            else:
                row.last_error = error[:MAX_ERROR_CHARS]

        if error is not None and attempts < MAX_ATTEMPTS:
            delay = float(app.config.get("WEBHOOK_RETRY_DELAY_SECS", RETRY_DELAY_SECS)) * 2 ** (attempts - 1)
            log.info("Retrying webhook %s event %s of client_key %s, issue %s in %s s",
                     event.name, event.id, event.client_key, event.issue_key, delay)
            _submit(app, event_id, delay)


def _run_handlers(event):
    """Run the handlers of `event` and return None, or the first failure as "Type: message"."""
    for handler in list(_handlers.get(event.name, ())):
        try:
            handler(event)
        except RetryLater as exc:
            log.info("Webhook %s event %s of client_key %s, issue %s deferred: %s",
                     event.name, event.id, event.client_key, event.issue_key, exc)
            return f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a handler's bug must not stop the worker, so it is logged and stored
            log.exception("Webhook handler %s failed on %s event %s of client_key %s, issue %s",
                          getattr(handler, "__qualname__", handler), event.name, event.id,
                          event.client_key, event.issue_key)
            return f"{type(exc).__name__}: {exc}"
    return None


def _issue_key_of(payload):
    issue = payload.get("issue")
    key = issue.get("key") if isinstance(issue, dict) else None
    return key if isinstance(key, str) and len(key) <= 255 else None
