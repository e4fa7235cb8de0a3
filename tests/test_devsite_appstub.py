"""A minimal Connect app for the local Jira site's tests: serves a descriptor, records its
lifecycle callbacks and webhooks, and signs REST calls to the site like an app does.

Imported by the other test_devsite_* modules; it never imports the add-on.
"""

import json
import threading
import time

import jwt
import pytest
import requests
from atlassian_jwt.url_utils import hash_url
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from .support import free_port

APP_KEY = "com.example.devsite-stub"


class StubApp:
    def __init__(self, base_path=""):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}{base_path}"
        self.base_path = base_path
        self.calls = []  # every request received: {"method", "path", "query", "headers", "body"}
        self.installed_payload = None
        self.install_status = 204
        self.webhook_statuses = []  # statuses to return next, in order, then 204
        self._lock = threading.Lock()
        self.descriptor = {
            "key": APP_KEY,
            "name": "Devsite stub",
            "baseUrl": self.base_url,
            "authentication": {"type": "jwt"},
            "scopes": ["READ", "WRITE", "ACT_AS_USER"],
            "apiMigrations": {"signed-install": True, "context-qsh": True},
            "lifecycle": {"installed": "/lifecycle/installed", "uninstalled": "/lifecycle/uninstalled",
                          "enabled": "/lifecycle/enabled", "disabled": "/lifecycle/disabled"},
            "modules": {"webhooks": [
                {"event": "comment_created", "url": "/webhooks/comment-created?issue=${issue.key}"},
                {"event": "jira:issue_updated", "url": "/webhooks/issue-updated", "propertyKeys": ["supportchat"]},
            ]},
        }
        self._server = make_server("127.0.0.1", self.port, self._wsgi, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def descriptor_url(self):
        return f"{self.base_url}/atlassian-connect.json"

    @property
    def shared_secret(self):
        return self.installed_payload["sharedSecret"]

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        path = request.path[len(self.base_path):] if self.base_path else request.path
        call = {"method": request.method, "path": path, "query": request.query_string.decode(),
                "headers": dict(request.headers), "body": request.get_data(as_text=True)}
        with self._lock:
            self.calls.append(call)
        if path == "/atlassian-connect.json":
            response = Response(json.dumps(self.descriptor), mimetype="application/json")
        elif path == "/lifecycle/installed":
            self.installed_payload = json.loads(call["body"])
            response = Response(status=self.install_status)
        elif path.startswith("/webhooks/"):
            with self._lock:
                status = self.webhook_statuses.pop(0) if self.webhook_statuses else 204
            response = Response(status=status)
        else:
            response = Response(status=204)
        return response(environ, start_response)

    def received(self, path_prefix):
        with self._lock:
            return [call for call in self.calls if call["path"].startswith(path_prefix)]

    def token(self, method, path_and_query, **overrides):
        """An app-to-Jira JWT for `path_and_query` (relative to the site's base URL)."""
        secret = overrides.pop("secret", None) or self.shared_secret
        issued_at = int(time.time())
        claims = {"iss": APP_KEY, "iat": issued_at, "exp": issued_at + 180,
                  "qsh": hash_url(method, path_and_query)}
        claims.update(overrides)
        return jwt.encode(claims, secret, algorithm="HS256")

    def call(self, site, method, path_and_query, token=None, **kwargs):
        """Call the site's REST API as the app, signed unless `token` is given."""
        token = token if token is not None else self.token(method, path_and_query)
        headers = {"Authorization": f"JWT {token}"}
        return requests.request(method, site.url + path_and_query, headers=headers, timeout=10, **kwargs)

    def stop(self):
        self._server.shutdown()
        self._thread.join(timeout=10)


@pytest.fixture
def stub_app():
    app = StubApp()
    yield app
    app.stop()


@pytest.fixture
def installed_stub(jira_site, stub_app):
    result = jira_site.control("POST", "/_devsite/apps/install", json={"descriptor_url": stub_app.descriptor_url})
    assert result["status"] == 204, result
    return stub_app
