"""A test-only blueprint with one route per qsh kind, served by real add-ons on loopback."""

from types import SimpleNamespace

from flask import Blueprint, g, jsonify, request
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from addon import create_app
from addon.atlassian.auth import authenticate, require_jwt

from .conftest import addon_overrides
from .signing import store_tenant
from .support import AddonServer, free_port

probe = Blueprint("probe", __name__)

# These add-ons never call the local Jira site; the URLs derived from this one stay unused.
UNUSED_SITE = SimpleNamespace(url="http://127.0.0.1:9")


def _caller():
    return jsonify(client_key=g.connect.client_key, account_id=g.connect.account_id,
                   installation=g.connect.installation.client_key)


@probe.route("/probe/page", methods=["GET", "POST"])
@require_jwt("computed")
def page():
    return _caller()


@probe.route("/probe/api", methods=["GET", "POST"])
@require_jwt("context")
def api():
    return _caller()


@probe.get("/probe/socket")
def socket():
    # The websocket handshake passes the token it read itself.
    token = request.headers.get("X-Test-Token", "")
    return jsonify(client_key=authenticate("context", token=token).client_key)


@probe.get("/test")
@require_jwt("computed")
def vector():
    # The path of Atlassian's published signed URLs.
    return _caller()


class ProbeAddons:
    """Starts add-ons with the probe routes and a stored tenant; `stop_all()` stops them."""

    def __init__(self, database_url, tmp_path):
        self.database_url = database_url
        self.tmp_path = tmp_path
        self.servers = []

    def start(self, base_path="", mount=False, tenant=None, **extra):
        """Start an add-on at ADDON_BASE_URL + `base_path`; `mount` serves it under that prefix.

        `tenant` is a dict of store_tenant arguments (client_key, secret); the default tenant
        of tests/signing.py otherwise.
        """
        port = free_port()
        overrides = addon_overrides(self.database_url, UNUSED_SITE, port, self.tmp_path / str(port), **extra)
        overrides["ADDON_BASE_URL"] += base_path
        app = create_app(overrides)
        app.register_blueprint(probe)
        if mount:
            app.wsgi_app = DispatcherMiddleware(NotFound(), {base_path: app.wsgi_app})
        store_tenant(app, **(tenant or {}))
        server = AddonServer(app, port)
        server.root = f"http://127.0.0.1:{port}"
        self.servers.append(server)
        return server

    def stop_all(self):
        for server in self.servers:
            server.stop()
