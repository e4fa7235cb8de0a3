"""Webhook delivery to installed apps, as Jira Cloud does it.

`on_event` is a state listener: it runs under the site lock, right after a mutation, and builds
one payload per matching `webhooks` module entry of every installed, enabled app. Delivery runs
on one background thread per app, so the mutating request returns first and each app receives
its events in order. A delivery is retried when the app returns 408, 409, 425, 429 or 5xx or
the connection fails, with `X-Atlassian-Webhook-Retry: <n>`, after the delays of
DEVSITE_WEBHOOK_RETRY_DELAYS (seconds, comma-separated).
"""

import json
import logging
import os
import queue
import threading
import time
import uuid

import requests

from . import connect_auth
from .jql import jql_matchers
from .records import epoch_millis, now
from .representations import comment_json, issue_fields, rest_url, text_to_adf, user_json
from .state import SiteError, site

log = logging.getLogger(__name__)

RETRY_STATUSES = {408, 409, 425, 429}
DELIVERY_TIMEOUT_SECS = 10
COMMENT_EVENTS = {"comment_created", "comment_updated", "comment_deleted"}

_workers = {}  # app key -> queue of pending deliveries
_workers_lock = threading.Lock()
_generation = 0  # bumped on reset so that queued deliveries of a previous state are dropped


def retry_delays():
    raw = os.environ.get("DEVSITE_WEBHOOK_RETRY_DELAYS", "0.5,1,2")
    return [float(part) for part in raw.split(",") if part.strip()]


def reset():
    global _generation
    _generation += 1


# -- payloads ------------------------------------------------------------------------------

def _issue_summary(issue, property_keys):
    fields = issue_fields(issue, version=2)
    body = {
        "id": issue.id,
        "self": rest_url(f"/rest/api/2/issue/{issue.id}"),
        "key": issue.key,
        "fields": {name: fields[name] for name in
                   ("summary", "issuetype", "project", "assignee", "priority", "status", "resolution",
                    "labels", "reporter", "created", "updated")},
    }
    if property_keys:
        # NOTE: Jira's documentation does not show this shape; we send the list of {key, value}
        # objects that the REST API's EntityProperty beans use.
        body["properties"] = [{"key": key, "value": issue.properties[key]}
                              for key in property_keys if key in issue.properties]
    return body


def _comment(issue, comment):
    body = comment_json(issue, comment, version=2)
    if site.switches["webhook_comment_body"] == "adf":
        body["body"] = text_to_adf(comment.body)
    return body


def build_payload(event, issue, actor_account_id, details, property_keys):
    payload = {"timestamp": epoch_millis(now()), "webhookEvent": event}
    comment = details.get("comment")
    if event in COMMENT_EVENTS:
        payload["comment"] = _comment(issue, comment)
        payload["issue"] = _issue_summary(issue, property_keys)
        return payload
    if event.startswith("issue_property_"):
        payload["property"] = {"key": details["property_key"], "value": issue.properties.get(details["property_key"])}
        payload["issue"] = _issue_summary(issue, property_keys)
        return payload
    payload["issue_event_type_name"] = details.get("issue_event_type_name", "issue_generic")
    if actor_account_id:
        payload["user"] = user_json(actor_account_id)
    payload["issue"] = _issue_summary(issue, property_keys)
    if event == "jira:issue_updated":
        # One change has one changelog id, which every app's payload and the Forge event share.
        changelog_id = details.setdefault("changelog_id", str(uuid.uuid4().int % 10**8))
        payload["changelog"] = {"id": changelog_id, "items": details.get("changelog", [])}
    if comment is not None:
        payload["comment"] = _comment(issue, comment)
    return payload


def _substitute(url, issue):
    desk = site.service_desks[issue.service_desk_id]
    for name, value in (("issue.key", issue.key), ("issue.id", issue.id),
                        ("project.key", desk.project_key), ("project.id", desk.project_id)):
        url = url.replace("${" + name + "}", value)
    return url


def _filter_matches(jql, issue):
    try:
        return all(matcher(issue) for matcher in jql_matchers(jql))
    except SiteError:
        log.warning("Webhook filter %r is not supported by this local site; delivering anyway", jql)
        return True


def on_event(event, issue, actor_account_id, details):
    """State listener: queue the deliveries of `event` to every subscribed app."""
    for app in list(site.apps.values()):
        if not (app.installed and app.enabled):
            continue
        for entry in app.modules("webhooks"):
            if entry.get("event") != event or not entry.get("url"):
                continue
            if entry.get("filter") and not _filter_matches(entry["filter"], issue):
                continue
            url = app.base_url.rstrip("/") + _substitute(entry["url"], issue)
            body = None
            if not entry.get("excludeBody"):
                payload = build_payload(event, issue, actor_account_id, details, entry.get("propertyKeys") or [])
                body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            _enqueue(app.key, {"event": event, "url": url, "body": body, "issue_key": issue.key,
                               "identifier": str(uuid.uuid4()), "generation": _generation})


# -- delivery ------------------------------------------------------------------------------

def _enqueue(app_key, delivery):
    with _workers_lock:
        pending = _workers.get(app_key)
        if pending is None:
            pending = queue.Queue()
            _workers[app_key] = pending
            threading.Thread(target=_work, args=(app_key, pending), name=f"webhooks-{app_key}",
                             daemon=True).start()
    pending.put(delivery)


def _work(app_key, pending):
    while True:
        delivery = pending.get()
        try:
            _deliver(app_key, delivery)
        except Exception:  # keep the worker alive; a bug in one delivery must not stop the rest
            log.exception("Webhook delivery of %s to %s failed", delivery["event"], app_key)


def _deliver(app_key, delivery):
    delays = retry_delays()
    for attempt in range(len(delays) + 1):
        if delivery["generation"] != _generation:
            return
        app = site.app(app_key)
        if app is None or not (app.installed and app.enabled):
            return
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Atlassian Webhook HTTP Client",
            "X-Atlassian-Webhook-Identifier": delivery["identifier"],
            "Authorization": "JWT " + connect_auth.app_token(app, "POST", delivery["url"]),
        }
        if attempt:
            headers["X-Atlassian-Webhook-Retry"] = str(attempt)
        status, error = None, None
        try:
            response = requests.post(delivery["url"], data=delivery["body"] or b"", headers=headers,
                                     timeout=DELIVERY_TIMEOUT_SECS)
            status = response.status_code
        except requests.RequestException as exc:
            error = type(exc).__name__
        with site.lock:
            site.webhook_log.append({
                "event": delivery["event"], "url": delivery["url"], "status": status, "attempt": attempt + 1,
                "retry_header": headers.get("X-Atlassian-Webhook-Retry"), "app_key": app_key,
                "issue_key": delivery["issue_key"], "identifier": delivery["identifier"], "error": error})
        retry = status is None or status in RETRY_STATUSES or status >= 500
        if not retry:
            return
        if attempt < len(delays):
            log.info("Webhook %s to %s returned %s; retrying in %s s", delivery["event"], delivery["url"],
                     status if status is not None else error, delays[attempt])
            time.sleep(delays[attempt])
    log.warning("Webhook %s to %s failed after %d attempts", delivery["event"], delivery["url"], len(delays) + 1)
