"""Forge product events, translated into the Connect webhook events that the sync code handles.

A Forge trigger may deliver a Jira event late, and retries a delivery that failed or timed out,
so copies arrive. Live chat replies therefore go through the app, and these events only
reconcile. Each event is stored in the same `WebhookEvent` inbox as a Connect webhook and is
processed in the background by the same handlers. Its dedupe key is the comment id and `updated`
time, or for issue events the issue id, `updated` time and changelog id.

A Forge payload differs from a Connect webhook. Atlassian's Forge Jira events reference documents
`eventType`, `issue`, `comment`, `atlassianId` and `associatedUsers`, and these differences follow:
- `avi:jira:commented:issue` is sent for a created and for an edited comment alike.
- The documented `User` has `accountId` only. Connect's `accountType` and `displayName`, which
  tell an agent from a customer or from our app user, are missing.
- The comment body is assumed to be ADF, as in REST API v3. `jsdPublic` and the comment
  properties are not documented, so a comment's visibility is unknown from the payload.
- There is no `timestamp` and no `webhookEvent`.
So a comment event is stored under its Forge name. When it is processed, the comment is read
again from Jira (`expand=properties`) and handed on as a Connect `comment_created` or
`comment_updated`, which also gives the newest version of the comment. Deletions and issue
updates need nothing more than the payload. They are stored under their Connect names, so that a
deleted comment's tombstone is the one `jira_to_chat` already looks for.
"""

import dataclasses
import hashlib
import json
import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from ...errors import InvalidInput
from ...models import WebhookEvent, utcnow
from .. import webhooks
from ..installations import get_active_installation
from ..jira_client import jira_client_for
from ..jira_errors import JiraError, JiraNotFound

log = logging.getLogger(__name__)

COMMENTED_ISSUE = "avi:jira:commented:issue"
DELETED_COMMENT = "avi:jira:deleted:comment"
UPDATED_ISSUE = "avi:jira:updated:issue"
EVENT_TYPES = (COMMENTED_ISSUE, DELETED_COMMENT, UPDATED_ISSUE)

# Unprocessed inbox rows this old are resubmitted by the scheduled sweep. It is far longer than the
# whole retry schedule of webhooks.py with its default delays (2 + 4 + 8 + 16 s), so no retry of
# a row is still pending when the sweep takes it.
STALLED_AFTER_SECS = 600
MAX_ID_CHARS = 40


@dataclasses.dataclass(frozen=True)
class Translated:
    """A Forge event as it is stored in the inbox: Connect name, Connect-shaped payload, dedupe key."""

    name: str
    issue_key: str | None
    payload: dict
    dedupe_key: str


class Ignored(Exception):
    """A well-formed event that the add-on does not process; the message gives the reason."""


def unwrap(body):
    """Return (event, retryContext or None) from either body shape Forge may send to a remote.

    Atlassian's page on sending events to a remote shows `{"payload": {..., "retryContext": {...}}}`.
    Some remote handlers read the event at the top level instead, so both shapes are accepted.
    """
    if not isinstance(body, dict):
        raise InvalidInput("The event body must be a JSON object with an eventType, or with a payload object.")
    event = body
    if "eventType" not in body and isinstance(body.get("payload"), dict):
        event = body["payload"]
    retry_context = event.get("retryContext") or body.get("retryContext")
    if not isinstance(event.get("eventType"), str) or not event["eventType"]:
        raise InvalidInput("The event has no eventType; expected e.g. avi:jira:commented:issue.")
    return event, retry_context if isinstance(retry_context, dict) else None


def translate(event):
    """Translate a supported Forge event into its inbox form, or raise Ignored or InvalidInput."""
    event_type = event["eventType"]
    if event_type not in EVENT_TYPES:
        raise Ignored(f"event type {event_type!r} is not handled")
    issue = _issue_of(event)
    if event_type == UPDATED_ISSUE:
        return _issue_updated(event, issue)

    comment = event.get("comment")
    if not isinstance(comment, dict) or not _is_id(comment.get("id")):
        raise InvalidInput(f"The {event_type} event has no comment with a valid id.")
    comment_id = str(comment["id"])
    updated = comment.get("updated") if isinstance(comment.get("updated"), str) else None
    # Every copy of one delivery carries the same updated time; an edit carries a newer one.
    version = updated[:64] if updated else _digest(comment)
    payload = {"issue": issue, "comment": comment, "forgeEventType": event_type}
    if event_type == DELETED_COMMENT:
        payload["webhookEvent"] = "comment_deleted"
        # `comment_deleted:<id>:` is the prefix of the tombstone that jira_to_chat looks for.
        return Translated("comment_deleted", issue.get("key"), payload, f"comment_deleted:{comment_id}:{version}")
    return Translated(COMMENTED_ISSUE, issue.get("key"), payload, f"{COMMENTED_ISSUE}:{comment_id}:{version}")


def _issue_of(event):
    issue = event.get("issue")
    if not isinstance(issue, dict) or not _is_id(issue.get("id")):
        raise InvalidInput(f"The {event['eventType']} event has no issue with a valid id.")
    key = issue.get("key")
    return {"id": str(issue["id"]), "key": key if isinstance(key, str) and len(key) <= 255 else None,
            "fields": issue.get("fields") if isinstance(issue.get("fields"), dict) else {}}


def _issue_updated(event, issue):
    changelog = event.get("changelog") if isinstance(event.get("changelog"), dict) else {}
    items = [item for item in changelog.get("items") or [] if isinstance(item, dict)]
    updated = issue["fields"].get("updated")
    version = updated[:64] if isinstance(updated, str) else _digest(items)
    # The changelog id makes each status change one chat event. When Forge sends none, one is
    # derived from the issue, its updated time and the changes, which every copy shares.
    changelog_id = changelog.get("id")
    if not _is_id(changelog_id):
        changelog_id = "forge-" + _digest([issue["id"], version, items])[:24]
    payload = {
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic",
        "issue": issue,
        "changelog": {"id": str(changelog_id), "items": items},
        "forgeEventType": UPDATED_ISSUE,
    }
    moment = _epoch_millis(updated)
    if moment is not None:
        payload["timestamp"] = moment
    if isinstance(event.get("atlassianId"), str):
        payload["user"] = {"accountId": event["atlassianId"]}
    return Translated("jira:issue_updated", issue["key"], payload,
                      f"jira:issue_updated:{issue['id']}:{version}:{changelog_id}"[:255])


def _is_id(value):
    return isinstance(value, (str, int)) and not isinstance(value, bool) and 0 < len(str(value)) <= MAX_ID_CHARS


def _digest(value):
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _epoch_millis(text):
    if not isinstance(text, str):
        return None
    try:
        return int(datetime.fromisoformat(text).timestamp() * 1000)
    except ValueError:
        return None


def receive(client_key, translated):
    """Store `translated` in the inbox and queue it; return its event id, or None for a copy."""
    return webhooks.accept(client_key, translated.name, translated.issue_key, translated.payload,
                           dedupe_key=translated.dedupe_key)


# -- processing ---------------------------------------------------------------------------------

@webhooks.on_webhook(COMMENTED_ISSUE)
def reconcile_comment(event):
    """Read the comment of a Forge comment event from Jira and hand it on as a Connect event."""
    from ...sync import webhook_handlers

    comment_id = str(event.payload["comment"]["id"])
    issue = event.payload["issue"]
    installation = get_active_installation(event.client_key)
    if installation is None:
        return
    try:
        with jira_client_for(installation) as jira:
            comment = jira.request("GET", f"rest/api/3/issue/{issue['id']}/comment/{comment_id}",
                                   params={"expand": "properties"})
    except JiraNotFound:
        # The comment was deleted before this late event was processed; its deletion event reconciles.
        log.info("Forge event %s: comment %s on %s (client_key %s) no longer exists; ignored",
                 event.id, comment_id, event.issue_key, event.client_key)
        return
    except JiraError as error:
        raise webhooks.RetryLater(f"Comment {comment_id} on {event.issue_key} could not be read: {error}") from None
    if not isinstance(comment, dict) or str(comment.get("id")) != comment_id:
        raise webhooks.RetryLater(f"Jira returned no comment {comment_id} on {event.issue_key}.")

    name = "comment_updated" if comment.get("updated") != comment.get("created") else "comment_created"
    payload = {"webhookEvent": name, "issue": issue, "comment": comment}
    webhook_handlers.route_to_conversation(dataclasses.replace(event, name=name, payload=payload))


# -- scheduled reconcile ------------------------------------------------------------------------

def start_sweep(client_key):
    """Queue a reconcile sweep of `client_key` on the webhook thread pool, without waiting for it."""
    app = current_app._get_current_object()
    executor = app.extensions.get("webhook_executor") or webhooks.init_app(app)
    executor.submit(_sweep, app, client_key)


def _sweep(app, client_key):
    with app.app_context():
        try:
            stalled = stalled_event_ids(client_key)
            webhooks.resubmit(app, stalled)
            outbox = app.extensions.get("outbox")
            if outbox is not None:
                # Messages already due are written now with the fresh token, not at the next poll.
                outbox.wake()
            log.info("Reconcile sweep of client_key %s: %d stalled webhook events resubmitted",
                     client_key, len(stalled))
        except Exception:  # the sweep runs on a pool thread, where an escaping error would be lost
            log.exception("Reconcile sweep of client_key %s failed", client_key)


def stalled_event_ids(client_key, now=None):
    """Return the ids of this tenant's inbox rows that no worker finished and none is retrying."""
    cutoff = (now or utcnow()) - timedelta(seconds=STALLED_AFTER_SECS)
    statement = select(WebhookEvent.id).where(
        WebhookEvent.client_key == client_key,
        WebhookEvent.processed_at.is_(None),
        WebhookEvent.attempts < webhooks.MAX_ATTEMPTS,
        WebhookEvent.received_at <= cutoff,
    ).order_by(WebhookEvent.id)
    return list(current_app.extensions["database"].session.execute(statement).scalars())
