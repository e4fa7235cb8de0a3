"""The local site's Forge host: manifest routing, and product events sent to a remote with FITs,
retries with retryContext, copies, delays and both envelopes.

A small recording server on loopback plays the remote. It returns the statuses a test queues
(200 once the queue is empty) and keeps every call it receives.
"""

import threading
from datetime import datetime
from pathlib import Path

import jwt
import pytest
import requests
from flask import Flask, request
from werkzeug.serving import make_server

from devsite.forge import manifest as forge_manifest

from .forge_support import APP_ID
from .support import free_port, wait_until

MANIFEST = Path(__file__).parent / "data" / "forge-manifest.yml"
DEADLINE_SECS = 20


class Remote:
    """A remote on loopback that records each call and returns the queued statuses."""

    def __init__(self):
        self.calls = []
        self.statuses = []
        self.lock = threading.Lock()
        app = Flask(__name__)
        app.add_url_rule("/<path:path>", "record", self._record, methods=["POST"])
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self._server = make_server("127.0.0.1", port, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def _record(self, path):
        with self.lock:
            status = self.statuses.pop(0) if self.statuses else 200
            self.calls.append({"path": "/" + path, "headers": dict(request.headers),
                               "body": request.get_json(silent=True), "status": status})
        headers = {"Location": f"{self.url}/moved"} if 300 <= status < 400 else {}
        return {"status": status}, status, headers

    def calls_to(self, path):
        with self.lock:
            return [call for call in self.calls if call["path"] == path]

    def stop(self):
        self._server.shutdown()
        self._thread.join(timeout=10)


@pytest.fixture
def remote():
    server = Remote()
    yield server
    server.stop()


@pytest.fixture
def installed(jira_site, remote):
    """The Forge app of the test manifest installed on the site, with the remote as its backend."""
    jira_site.control("PUT", "/_devsite/forge/events/settings", json={"retry_interval_secs": 0.05})
    result = jira_site.control("POST", "/_devsite/forge/app/install",
                               json={"remote_url": remote.url, "manifest_path": str(MANIFEST)})
    return result


def comment(jira_site, body="Bonjour", issue_key="SUP-1"):
    return jira_site.control("POST", "/_devsite/actions/comment", json={
        "issue_key": issue_key, "author_account_id": "agent-camille", "body": body, "public": True})


def event_of(call):
    body = call["body"]
    return body["payload"] if "payload" in body and "eventType" not in body else body


def events_for(remote, comment_id, expected):
    """Wait until the remote received `expected` event calls about `comment_id`; return them."""
    def matching():
        return [call for call in remote.calls_to("/forge/events")
                if (event_of(call).get("comment") or {}).get("id") == comment_id]
    wait_until(lambda: len(matching()) >= expected, timeout=DEADLINE_SECS,
               message=f"{expected} event calls for comment {comment_id}")
    return matching()


def verified_claims(jira_site, call):
    """Verify the call's FIT against the site's JWKS, as the remote would, and return its claims."""
    token = call["headers"]["Authorization"].removeprefix("Bearer ")
    keys = jwt.PyJWKClient(f"{jira_site.url}/forge/jwks.json")
    key = keys.get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=["RS256"], audience=APP_ID, issuer="forge/invocation-token")


# -- manifest -----------------------------------------------------------------------------------

def test_manifest_trigger_route():
    manifest = forge_manifest.load(MANIFEST, remote_urls={"chat-backend": "http://127.0.0.1:5999/"})

    [route] = manifest.trigger_routes("avi:jira:commented:issue")

    assert route.url == "http://127.0.0.1:5999/forge/events"
    assert (route.module_key, route.endpoint_key, route.remote_key) == ("comments", "events-ep", "chat-backend")
    assert route.system_token is True
    assert route.user_token is False


def test_project_manifest_routes_events():
    manifest = forge_manifest.load(remote_urls={"chat-backend": "http://remote"})

    for event_type in ("avi:jira:commented:issue", "avi:jira:deleted:comment", "avi:jira:updated:issue"):
        routes = manifest.trigger_routes(event_type)
        assert [route.url for route in routes] == ["http://remote/forge/events"], event_type
        assert routes[0].system_token, event_type
    assert [route.url for route in manifest.scheduled_routes()] == ["http://remote/forge/scheduled"]
    assert [route.url for route in manifest.trigger_routes("avi:forge:installed:app")] == ["http://remote/forge/lifecycle"]


def test_manifest_ui_route_tokens():
    manifest = forge_manifest.load(MANIFEST)

    route = manifest.ui_route("chat-agent", "/forge/ui/whoami")

    assert route.url == "https://chat.example.com/forge/ui/whoami"
    assert route.module_type == "jira:issuePanel"
    assert route.system_token and route.user_token


def test_manifest_other_routes():
    manifest = forge_manifest.load(MANIFEST, remote_urls={"chat-backend": "http://remote"})

    assert [r.url for r in manifest.trigger_routes("avi:forge:installed:app")] == ["http://remote/forge/lifecycle"]
    assert [r.url for r in manifest.scheduled_routes()] == ["http://remote/forge/scheduled"]
    assert [r.url for r in manifest.pre_uninstall_routes()] == ["http://remote/forge/pre-uninstall"]
    assert manifest.trigger_routes("avi:jira:created:issue") == []
    assert manifest.app_id == APP_ID


def test_manifest_undeclared_endpoint():
    manifest = forge_manifest.load(MANIFEST)

    with pytest.raises(forge_manifest.ManifestError, match="'missing-ep'"):
        manifest.route("trigger", "comments", "missing-ep")
    with pytest.raises(forge_manifest.ManifestError, match="no module has the key 'nope'"):
        manifest.ui_route("nope", "/x")


def test_manifest_unknown_remote():
    data = forge_manifest.parse_yaml(MANIFEST.read_text(encoding="utf-8"))
    data["modules"]["endpoint"][0]["remote"] = "elsewhere"

    with pytest.raises(forge_manifest.ManifestError, match="remote 'elsewhere'"):
        forge_manifest.Manifest(data)


def test_manifest_path_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DEVSITE_FORGE_MANIFEST", str(tmp_path / "m.yml"))

    assert forge_manifest.manifest_path() == tmp_path / "m.yml"
    with pytest.raises(forge_manifest.ManifestError, match="cannot be read"):
        forge_manifest.load()


def test_yaml_subset_reads_manifest():
    data = forge_manifest.parse_yaml(MANIFEST.read_text(encoding="utf-8"))

    assert len(data["permissions"]["scopes"]) == 7  # a flow sequence over two lines
    assert data["permissions"]["external"]["fetch"]["client"] == [{"remote": "chat-backend"},
                                                                  {"address": "wss://chat.example.com"}]
    assert data["remotes"][0]["baseUrl"] == {"default": "https://chat.example.com", "EU": "https://eu.chat.example.com"}
    panel = data["modules"]["jira:issuePanel"][0]
    assert panel == {"key": "chat-agent", "title": "Live chat", "icon": "resource:agent-ui;icon.svg",
                     "resource": "agent-ui", "resolver": {"endpoint": "ui"}}
    assert data["modules"]["trigger"][1]["events"][2] == "avi:jira:updated:issue"
    assert data["modules"]["endpoint"][0]["auth"] == {"appSystemToken": {"enabled": True},
                                                       "appUserToken": {"enabled": True}}


@pytest.mark.parametrize("text, message", [
    ("a: &anchor 1", "not supported"),
    ("a: [1, 2\nb: 3", "never closed"),
    ("a:\n\tb: 1", "tabs"),
    ("a: 1\na: 2", "appears twice"),
    ("a: 1\n   b: 2", "unexpected indentation"),
    ("a: 'open", "never closed"),
])
def test_yaml_subset_rejects(text, message):
    with pytest.raises(forge_manifest.ManifestError, match=message):
        forge_manifest.parse_yaml(text, "bad.yml")


# -- lifecycle, schedule, uninstall -------------------------------------------------------------

def test_install_sends_lifecycle_event(jira_site, remote, installed):
    [call] = remote.calls_to("/forge/lifecycle")

    claims = verified_claims(jira_site, call)
    assert claims["app"]["module"] == {"type": "core:endpoint", "key": "lifecycle-ep"}
    assert claims["app"]["installationId"] == installed["installation_id"]
    assert "principal" not in claims
    assert "context" not in claims
    assert call["headers"].get("X-Forge-Oauth-System")
    assert "X-Forge-Oauth-User" not in call["headers"]
    assert event_of(call)["eventType"] == "avi:forge:installed:app"
    assert installed["lifecycle"] == [{"url": f"{remote.url}/forge/lifecycle", "status": 200, "error": None}]


def test_install_requires_remote_url(jira_site):
    response = requests.post(f"{jira_site.url}/_devsite/forge/app/install",
                             json={"manifest_path": str(MANIFEST)}, timeout=10)

    assert response.status_code == 400
    assert "remote_url" in response.json()["error"]


def test_install_bad_manifest_path(jira_site, remote, tmp_path):
    response = requests.post(f"{jira_site.url}/_devsite/forge/app/install",
                             json={"manifest_path": str(tmp_path / "none.yml"), "remote_url": remote.url}, timeout=10)

    assert response.status_code == 400
    assert "cannot be read" in response.json()["error"]


def test_scheduled_trigger_call(jira_site, remote, installed):
    result = jira_site.control("POST", "/_devsite/forge/scheduled")

    [call] = remote.calls_to("/forge/scheduled")
    assert verified_claims(jira_site, call)["app"]["module"]["key"] == "schedule-ep"
    assert result["scheduled"][0]["status"] == 200


def test_uninstall_stops_events(jira_site, remote, installed):
    result = jira_site.control("POST", "/_devsite/forge/app/uninstall")
    assert [call["status"] for call in result["pre_uninstall"]] == [200]
    silent = comment(jira_site, body="Après désinstallation")

    jira_site.control("POST", "/_devsite/forge/app/install", json={"remote_url": remote.url,
                                                                 "manifest_path": str(MANIFEST)})
    reinstalled = comment(jira_site, body="Après réinstallation")

    events_for(remote, reinstalled["id"], 1)
    assert events_for(remote, silent["id"], 0) == []
    assert len(remote.calls_to("/forge/pre-uninstall")) == 1


def test_no_events_before_install(jira_site, remote):
    before = comment(jira_site, body="Avant installation")
    jira_site.control("POST", "/_devsite/forge/app/install", json={"remote_url": remote.url,
                                                                 "manifest_path": str(MANIFEST)})
    after = comment(jira_site, body="Après installation")

    events_for(remote, after["id"], 1)
    assert events_for(remote, before["id"], 0) == []


def test_reset_forgets_app(jira_site, installed):
    jira_site.control("POST", "/_devsite/reset")

    assert jira_site.control("GET", "/_devsite/forge/app") is None


# -- product events -----------------------------------------------------------------------------

def test_comment_event_fields(jira_site, remote, installed):
    created = comment(jira_site, body="Le relevé est importé")

    [call] = events_for(remote, created["id"], 1)

    event = event_of(call)
    assert set(call["body"]) == {"payload"}
    assert event["eventType"] == "avi:jira:commented:issue"
    assert event["issue"]["key"] == "SUP-1"
    assert event["atlassianId"] == "agent-camille"
    assert event["comment"]["author"] == {"accountId": "agent-camille"}
    assert event["comment"]["body"]["type"] == "doc"
    assert set(event["comment"]) == {"id", "author", "body", "updateAuthor", "created", "updated"}
    assert "retryContext" not in event
    claims = verified_claims(jira_site, call)
    assert claims["app"]["module"] == {"type": "core:endpoint", "key": "events-ep"}
    assert call["headers"].get("X-Forge-Oauth-System")


def test_deleted_comment_event(jira_site, remote, installed):
    created = comment(jira_site)
    events_for(remote, created["id"], 1)

    jira_site.control("DELETE", f"/_devsite/actions/comment/SUP-1/{created['id']}?actor_account_id=agent-camille")

    calls = events_for(remote, created["id"], 2)
    assert [event_of(call)["eventType"] for call in calls] == ["avi:jira:commented:issue", "avi:jira:deleted:comment"]


def test_issue_update_event(jira_site, remote, installed):
    jira_site.control("POST", "/_devsite/actions/transition", json={
        "issue_key": "SUP-1", "actor_account_id": "agent-camille", "to_status": "Resolved", "resolution": "Done"})

    wait_until(lambda: remote.calls_to("/forge/events"), timeout=DEADLINE_SECS, message="the issue event")
    [call] = remote.calls_to("/forge/events")
    event = event_of(call)
    assert event["eventType"] == "avi:jira:updated:issue"
    assert any(item["field"] == "status" and item["toString"] == "Resolved" for item in event["changelog"]["items"])
    assert event["changelog"]["id"]


def test_retries_carry_retry_context(jira_site, remote, installed):
    remote.statuses[:] = [500, 503]

    created = comment(jira_site)

    calls = events_for(remote, created["id"], 3)
    assert [call["status"] for call in calls] == [500, 503, 200]
    assert "retryContext" not in event_of(calls[0])
    assert [event_of(call)["retryContext"]["retryCount"] for call in calls[1:]] == [1, 2]
    assert {event_of(call)["retryContext"]["retryReason"] for call in calls[1:]} == {"INVALID_REMOTE_INVOCATION_ERROR"}
    assert {event_of(call)["retryContext"]["retryData"] for call in calls[1:]} == {None}
    jtis = {verified_claims(jira_site, call)["jti"] for call in calls}
    assert len(jtis) == 3
    log = [entry for entry in jira_site.control("GET", "/_devsite/forge/events") if entry["comment_id"] == created["id"]]
    assert [(entry["attempt"], entry["status"]) for entry in log] == [(1, 500), (2, 503), (3, 200)]


def test_gives_up_after_four_retries(jira_site, remote, installed):
    remote.statuses[:] = [500] * 5

    failed = comment(jira_site, body="Jamais reçu")
    events_for(remote, failed["id"], 5)
    # A later event succeeds; by then a sixth attempt of the first would have come long ago.
    later = comment(jira_site, body="Reçu")
    events_for(remote, later["id"], 1)

    log = [entry for entry in jira_site.control("GET", "/_devsite/forge/events") if entry["comment_id"] == failed["id"]]
    assert [entry["attempt"] for entry in log] == [1, 2, 3, 4, 5]
    assert all(entry["status"] == 500 for entry in log)


def test_rejected_token_retry_reason(jira_site, remote, installed):
    remote.statuses[:] = [401]

    created = comment(jira_site)

    calls = events_for(remote, created["id"], 2)
    assert event_of(calls[1])["retryContext"]["retryReason"] == "INVALID_FORGE_INVOCATION_TOKEN"


def test_redirect_is_failure(jira_site, remote, installed):
    remote.statuses[:] = [302]

    created = comment(jira_site)

    calls = events_for(remote, created["id"], 2)
    assert [call["status"] for call in calls] == [302, 200]
    assert remote.calls_to("/moved") == []


def test_duplicates_same_event(jira_site, remote, installed):
    jira_site.control("PUT", "/_devsite/forge/events/settings", json={"duplicates": 2})

    created = comment(jira_site)

    calls = events_for(remote, created["id"], 3)
    assert len({repr(sorted(event_of(call).items())) for call in calls}) == 1
    assert len({verified_claims(jira_site, call)["jti"] for call in calls}) == 3
    copies = [entry["copy"] for entry in jira_site.control("GET", "/_devsite/forge/events")
              if entry["comment_id"] == created["id"]]
    assert sorted(copies) == [0, 1, 2]


def test_delay_postpones_delivery(jira_site, remote, installed):
    jira_site.control("PUT", "/_devsite/forge/events/settings", json={"delay_secs": 1})

    created = comment(jira_site)

    events_for(remote, created["id"], 1)
    [entry] = [entry for entry in jira_site.control("GET", "/_devsite/forge/events")
               if entry["comment_id"] == created["id"]]
    created_millis = datetime.fromisoformat(created["created"]).timestamp() * 1000
    assert entry["at"] - created_millis >= 1000


def test_bare_envelope(jira_site, remote, installed):
    jira_site.control("PUT", "/_devsite/forge/events/settings", json={"envelope": "bare"})
    remote.statuses[:] = [500]

    created = comment(jira_site)

    calls = events_for(remote, created["id"], 2)
    assert calls[0]["body"]["eventType"] == "avi:jira:commented:issue"
    assert "payload" not in calls[0]["body"]
    assert calls[1]["body"]["retryContext"]["retryCount"] == 1


@pytest.mark.parametrize("change, message", [
    ({"delay_secs": 181}, "between 0 and 180"),
    ({"delay_secs": "soon"}, "must be a number"),
    ({"duplicates": 1.5}, "whole number"),
    ({"duplicates": 6}, "whole number"),
    ({"retry_interval_secs": 0}, "above 0"),
    ({"envelope": "wrapped"}, "envelope must be one of"),
    ({"retries": 2}, "unknown"),
])
def test_settings_validation(jira_site, change, message):
    response = requests.put(f"{jira_site.url}/_devsite/forge/events/settings", json=change, timeout=10)

    assert response.status_code == 400
    assert message in response.json()["error"]


def test_settings_defaults(jira_site):
    settings = jira_site.control("GET", "/_devsite/forge/events/settings")

    assert settings == {"delay_secs": 0.0, "duplicates": 0, "retry_interval_secs": 60.0, "envelope": "payload"}
