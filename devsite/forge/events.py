"""The local site as a Forge host, second part: product and lifecycle events sent to a remote.

When the Forge app is installed on the site (POST /_devsite/forge/app/install, which sends
avi:forge:installed:app to the manifest's lifecycle trigger), comment and issue changes are sent
as Forge events to the endpoint of every trigger module that subscribes to them. Atlassian's page
"Sending Atlassian app and lifecycle events to a remote" sets the contract followed here: a POST
with a Forge Invocation Token (`app.module.type` core:endpoint) and, when
`endpoint.auth.appSystemToken` is enabled, the system token. The timeout is 5 s. A non-2xx
response, a timeout or a network error is retried 60 s later, up to 4 times, with `retryContext`
{retryData null, retryCount, retryReason} inside `{"payload": ...}`. 3xx responses count as errors.

Forge events may arrive late and more than once. The control API can therefore delay deliveries
(0 to 180 s), send extra copies and shorten the retry interval for tests. It can also send the
event bare, without the `payload` wrapper, as some handlers expect.

Payloads follow the Forge Jira events reference: `eventType`, `issue` {id, key, fields},
`atlassianId`, and `comment` or `changelog`. Its `User` type has only `accountId`, so comments
carry no `accountType`, `displayName`, `jsdPublic` or properties here, and the app must read those
from Jira.
"""

import logging
import secrets
import threading
import uuid

import requests
from flask import Blueprint, jsonify, request

from ..records import epoch_millis, now
from ..representations import comment_json, issue_fields
from ..state import NotFound, SiteError, site
from . import manifest as forge_manifest
from . import signer

log = logging.getLogger(__name__)

bp = Blueprint("forge_events", __name__, url_prefix="/_devsite/forge")

COMMENTED_ISSUE = "avi:jira:commented:issue"
DELETED_COMMENT = "avi:jira:deleted:comment"
UPDATED_ISSUE = "avi:jira:updated:issue"
INSTALLED_APP = "avi:forge:installed:app"
# Site events (as devsite/state.py emits them) and the Forge event each one becomes.
FORGE_EVENT_OF = {"comment_created": COMMENTED_ISSUE, "comment_updated": COMMENTED_ISSUE,
                  "comment_deleted": DELETED_COMMENT, "jira:issue_updated": UPDATED_ISSUE}

TIMEOUT_SECS = 5
MAX_RETRIES = 4
MAX_DELAY_SECS = 180
MAX_DUPLICATES = 5
DEFAULT_SETTINGS = {"delay_secs": 0.0, "duplicates": 0, "retry_interval_secs": 60.0, "envelope": "payload"}
ENVELOPES = ("payload", "bare")
# retryReason values that Forge documents for remotes, by the failure of the previous attempt.
REASON_ERROR = "INVALID_REMOTE_INVOCATION_ERROR"
REASON_TIMEOUT = "TIMEOUT_ERROR"
REASON_TOKEN = "INVALID_FORGE_INVOCATION_TOKEN"
LOG_MAX_ENTRIES = 1000


class _State:
    """The Forge app installed on the site (at most one), the delivery settings and the log."""

    def __init__(self):
        self.condition = threading.Condition()
        self.generation = 0
        self.reset()

    def reset(self):
        with self.condition:
            self.generation += 1
            self.app = None  # {"app_id", "installation_id", "manifest", "installed"}
            self.settings = dict(DEFAULT_SETTINGS)
            self.log = []
            self.condition.notify_all()

    def sleep(self, seconds, generation):
        """Wait `seconds`; return False at once when the site is reset meanwhile."""
        with self.condition:
            return not self.condition.wait_for(lambda: self.generation != generation, timeout=seconds)


state = _State()


def reset():
    """Forget the Forge app and drop pending deliveries (the site's reset calls it)."""
    state.reset()


# -- control routes -----------------------------------------------------------------------------

@bp.errorhandler(SiteError)
def site_error(error):
    return jsonify({"error": str(error)}), error.status


@bp.errorhandler(forge_manifest.ManifestError)
def manifest_error(error):
    return jsonify({"error": str(error)}), 400


@bp.post("/app/install")
def install_app():
    """Install the Forge app and send avi:forge:installed:app to its lifecycle trigger.

    JSON body: `remote_url` (the URL that replaces every remote's baseUrl, e.g. the add-on on
    loopback) or `remote_urls` {remote key: URL}, optional `manifest_path`, `app_id` (default:
    the manifest's) and `installation_id` (default: the site's installation of that app).
    """
    body = _json_object()
    remote_urls = body.get("remote_urls") or {}
    if body.get("remote_url"):
        remote_urls = {"*": body["remote_url"]}
    if not remote_urls or not all(isinstance(url, str) and url.startswith(("http://", "https://"))
                                  for url in remote_urls.values()):
        raise SiteError("remote_url is required: the http(s) URL of the remote, e.g. the add-on on loopback.")
    manifest = forge_manifest.load(body.get("manifest_path"))
    if "*" in remote_urls:
        remote_urls = {key: remote_urls["*"] for key in manifest.remotes}
    manifest.remote_urls.update(remote_urls)
    app_id = body.get("app_id") or manifest.app_id
    if not isinstance(app_id, str) or not app_id.startswith("ari:cloud:ecosystem::app/"):
        raise SiteError("app_id is missing or invalid: expected ari:cloud:ecosystem::app/<uuid>.")
    installation_id = body.get("installation_id") or signer.installation_id_for(app_id)

    with state.condition:
        state.app = {"app_id": app_id, "installation_id": installation_id, "manifest": manifest, "installed": True}
    event = {"eventType": INSTALLED_APP, "id": installation_id, "installerAccountId": "admin-lea",
             "app": {"id": app_id, "version": "1"},
             "environment": {"id": f"ari:cloud:ecosystem::environment/{app_id.rsplit('/', 1)[-1]}/production"},
             "context": _context_ari()}
    results = [_deliver_now(route, event) for route in manifest.trigger_routes(INSTALLED_APP)]
    log.info("Forge app %s installed as %s; lifecycle deliveries %s", app_id, installation_id, results)
    return jsonify({"app_id": app_id, "installation_id": installation_id, "lifecycle": results})


@bp.post("/app/uninstall")
def uninstall_app():
    """Send the preUninstall call, then stop sending events."""
    app = _installed_app()
    event = {"eventType": "avi:forge:uninstalled:app", "id": app["installation_id"], "context": _context_ari()}
    results = [_deliver_now(route, event) for route in app["manifest"].pre_uninstall_routes()]
    with state.condition:
        app["installed"] = False
    return jsonify({"installation_id": app["installation_id"], "pre_uninstall": results})


@bp.post("/scheduled")
def run_scheduled():
    """Call every scheduledTrigger endpoint now, as the hourly schedule would."""
    app = _installed_app()
    event = {"context": {"cloudId": site.cloud_id}}
    return jsonify({"scheduled": [_deliver_now(route, event) for route in app["manifest"].scheduled_routes()]})


@bp.get("/app")
def app_state():
    with state.condition:
        app = state.app
        return jsonify(None if app is None else {
            "app_id": app["app_id"], "installation_id": app["installation_id"], "installed": app["installed"],
            "manifest": app["manifest"].source, "remote_urls": app["manifest"].remote_urls})


@bp.put("/events/settings")
def change_settings():
    """Change `delay_secs` (0 to 180), `duplicates` (extra copies, 0 to 5), `retry_interval_secs`
    (seconds between retries, Forge uses 60) or `envelope` ("payload" or "bare")."""
    body = _json_object()
    changes = {}
    for name, value in body.items():
        if name not in DEFAULT_SETTINGS:
            raise SiteError(f"Setting {name!r} is unknown; use one of {sorted(DEFAULT_SETTINGS)}.")
        changes[name] = _checked_setting(name, value)
    with state.condition:
        state.settings.update(changes)
        return jsonify(dict(state.settings))


@bp.get("/events/settings")
def get_settings():
    with state.condition:
        return jsonify(dict(state.settings))


@bp.get("/events")
def delivery_log():
    """List every delivery attempt: event type, URL, attempt, retry count, copy, HTTP status or error."""
    with state.condition:
        return jsonify(list(state.log))


def _checked_setting(name, value):
    if name == "envelope":
        if value not in ENVELOPES:
            raise SiteError(f"envelope must be one of {list(ENVELOPES)}, not {value!r}.")
        return value
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise SiteError(f"{name} must be a number, not {value!r}.")
    if name == "delay_secs" and not 0 <= value <= MAX_DELAY_SECS:
        raise SiteError(f"delay_secs must be between 0 and {MAX_DELAY_SECS} seconds, not {value}.")
    if name == "duplicates" and (int(value) != value or not 0 <= value <= MAX_DUPLICATES):
        raise SiteError(f"duplicates is the number of extra copies, a whole number from 0 to {MAX_DUPLICATES}.")
    if name == "retry_interval_secs" and not 0 < value <= 600:
        raise SiteError(f"retry_interval_secs must be above 0 and at most 600, not {value}.")
    return int(value) if name == "duplicates" else float(value)


def _json_object():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise SiteError("The request body must be a JSON object.")
    return body


def _installed_app():
    with state.condition:
        app = state.app
    if app is None or not app["installed"]:
        raise NotFound("The Forge app is not installed on this site; POST /_devsite/forge/app/install first.")
    return app


def _context_ari():
    return f"ari:cloud:jira::site/{site.cloud_id}"


# -- product events -----------------------------------------------------------------------------

def on_event(event, issue, actor_account_id, details):
    """State listener: queue the Forge event of a site change for every trigger that subscribes."""
    event_type = FORGE_EVENT_OF.get(event)
    # The site also emits jira:issue_updated for a comment; Forge sends only the comment event then.
    if event_type is None or (event == "jira:issue_updated" and details.get("comment") is not None):
        return
    with state.condition:
        app, settings, generation = state.app, dict(state.settings), state.generation
    if app is None or not app["installed"]:
        return
    routes = app["manifest"].trigger_routes(event_type)
    if not routes:
        return

    payload = build_event(event_type, issue, actor_account_id, details)
    for route in routes:
        for copy in range(settings["duplicates"] + 1):
            delivery = {"id": str(uuid.uuid4()), "event": payload, "route": route, "app": app, "copy": copy,
                        "settings": settings, "generation": generation}
            threading.Thread(target=_run, args=(delivery,), name=f"forge-event-{delivery['id'][:8]}",
                             daemon=True).start()


def build_event(event_type, issue, actor_account_id, details):
    """Build a Forge event payload with the documented fields only."""
    fields = issue_fields(issue, version=3)
    event = {
        "eventType": event_type,
        "context": _context_ari(),
        "issue": {"id": issue.id, "key": issue.key,
                  "fields": {name: fields[name] for name in ("summary", "issuetype", "creator", "created", "project",
                                                              "reporter", "assignee", "updated", "status")}},
    }
    if actor_account_id:
        event["atlassianId"] = actor_account_id
        event["associatedUsers"] = [{"accountId": actor_account_id}]
    comment = details.get("comment")
    if event_type in (COMMENTED_ISSUE, DELETED_COMMENT):
        full = comment_json(issue, comment, version=3)
        event["comment"] = {"id": full["id"], "author": {"accountId": full["author"]["accountId"]},
                            "body": full["body"], "updateAuthor": {"accountId": full["updateAuthor"]["accountId"]},
                            "created": full["created"], "updated": full["updated"]}
    if event_type == UPDATED_ISSUE:
        # The same id as the Connect webhooks of this change carry (devsite/webhooks.py).
        changelog_id = details.setdefault("changelog_id", str(uuid.uuid4().int % 10**8))
        event["changelog"] = {"id": changelog_id, "items": details.get("changelog", [])}
    return event


# -- delivery -----------------------------------------------------------------------------------

def _deliver_now(route, event):
    """Make the first attempt of a lifecycle or schedule call now and queue its retries if it failed."""
    with state.condition:
        app, settings, generation = state.app, dict(state.settings), state.generation
    delivery = {"id": str(uuid.uuid4()), "event": event, "route": route, "app": app, "copy": 0,
                "settings": settings, "generation": generation}
    status, error = _attempt(delivery, 0)
    if not _succeeded(status):
        delivery["retry_reason"] = _retry_reason(status, error)
        threading.Thread(target=_run, args=(delivery, 1), daemon=True).start()
    return {"url": route.url, "status": status, "error": error}


def _run(delivery, first_attempt=0):
    settings, generation = delivery["settings"], delivery["generation"]
    if first_attempt == 0 and settings["delay_secs"] and not state.sleep(settings["delay_secs"], generation):
        return
    for attempt in range(first_attempt, MAX_RETRIES + 1):
        if attempt and not state.sleep(settings["retry_interval_secs"], generation):
            return
        if state.generation != generation:
            return
        status, error = _attempt(delivery, attempt)
        if _succeeded(status):
            return
        delivery["retry_reason"] = _retry_reason(status, error)
    log.warning("Forge event %s to %s failed after %d attempts", delivery["event"].get("eventType"),
                delivery["route"].url, MAX_RETRIES + 1)


def _attempt(delivery, attempt):
    """POST one attempt with a fresh FIT; log it and return (status or None, error name or None)."""
    route, app, event = delivery["route"], delivery["app"], dict(delivery["event"])
    if attempt:
        event["retryContext"] = {"retryCount": attempt, "retryReason": delivery.get("retry_reason", REASON_ERROR),
                                 "retryData": None}
    body = {"payload": event} if delivery["settings"]["envelope"] == "payload" else event
    status, error = None, None
    try:
        response = requests.post(route.url, json=body, headers=_headers(app, route), timeout=TIMEOUT_SECS,
                                 allow_redirects=False)
        status = response.status_code
    except requests.RequestException as exc:
        error = type(exc).__name__
    entry = {"delivery_id": delivery["id"], "event_type": event.get("eventType"), "url": route.url,
             "module_key": route.module_key, "attempt": attempt + 1, "retry_count": attempt,
             "copy": delivery["copy"], "status": status, "error": error,
             "issue_key": (event.get("issue") or {}).get("key"),
             "comment_id": (event.get("comment") or {}).get("id"),
             "comment_updated": (event.get("comment") or {}).get("updated"),
             "changed_fields": [item.get("field") for item in (event.get("changelog") or {}).get("items", [])],
             "at": epoch_millis(now())}
    with state.condition:
        if state.generation == delivery["generation"]:
            state.log.append(entry)
            del state.log[:-LOG_MAX_ENTRIES]
    if not _succeeded(status):
        log.info("Forge event %s to %s: attempt %d returned %s", entry["event_type"], route.url, attempt + 1,
                 status if status is not None else error)
    return status, error


def _retry_reason(status, error):
    if error in ("Timeout", "ReadTimeout", "ConnectTimeout"):
        return REASON_TIMEOUT
    return REASON_TOKEN if status == 401 else REASON_ERROR


def _succeeded(status):
    return status is not None and 200 <= status < 300


def _headers(app, route):
    claims = signer.fit_claims(app["app_id"], "trigger", {
        "installation_id": app["installation_id"],
        "module": {"type": signer.ENDPOINT_MODULE_TYPE, "key": route.endpoint_key},
    })
    headers = {"Authorization": f"Bearer {signer.sign(claims)}", "Content-Type": "application/json",
               "x-b3-traceid": secrets.token_hex(8), "x-b3-spanid": secrets.token_hex(8)}
    if route.system_token:
        headers["x-forge-oauth-system"] = signer.oauth_token(app["installation_id"], "system", None)
    return headers
