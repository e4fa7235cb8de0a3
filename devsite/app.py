"""The local Jira site's WSGI app: `create_site(base_url)` builds it with every blueprint."""

import logging
import secrets
from urllib.parse import urlsplit

from flask import Flask, jsonify

from . import (
    control,
    oauth,
    rest_auth,
    rest_issues,
    rest_notify,
    rest_platform,
    rest_requests,
    rest_servicedesk,
    webhooks,
)
from .faults import FaultMiddleware
from .forge import api as forge_api
from .forge import events as forge_events
from .forge import signer as forge_signer
from .state import site

log = logging.getLogger(__name__)


class BasePathMiddleware:
    """Serve the site under `base_path` (e.g. /jira), as Jira Server did under its context path."""

    def __init__(self, app, base_path):
        self.app = app
        self.base_path = base_path.rstrip("/")

    def __call__(self, environ, start_response):
        if not self.base_path:
            return self.app(environ, start_response)
        path = environ.get("PATH_INFO", "")
        if path != self.base_path and not path.startswith(self.base_path + "/"):
            body = f"Not found: this site lives under {self.base_path}/\n".encode()
            start_response("404 NOT FOUND", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
            return [body]
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + self.base_path
        environ["PATH_INFO"] = path[len(self.base_path):] or "/"
        return self.app(environ, start_response)


def create_site(base_url):
    """Build the site whose public base URL is `base_url` (scheme, host, port and base path)."""
    site.configure(base_url)
    site.reset()
    site.listeners[:] = [webhooks.on_event, forge_events.on_event]

    app = Flask(__name__)
    app.secret_key = secrets.token_hex(16)
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    app.config["DEVSITE_BASE_URL"] = site.base_url

    rest_auth.register(app)
    for blueprint in (control.bp, oauth.bp, rest_platform.bp, rest_issues.bp, rest_notify.bp,
                      rest_servicedesk.bp, rest_requests.bp, forge_signer.bp, forge_api.bp,
                      forge_events.bp):
        app.register_blueprint(blueprint)
    _register_pages(app)
    _register_rest_errors(app)

    # Faults see the api.atlassian.com-style path before ForgeApiMiddleware maps it onto /rest/.
    app.wsgi_app = BasePathMiddleware(FaultMiddleware(forge_api.ForgeApiMiddleware(app.wsgi_app)),
                                      urlsplit(site.base_url).path)
    return app


def _register_pages(app):
    # The pages (portal, issue view, login, all.js) are written separately and may be absent.
    try:
        from . import pages
    except ImportError as exc:
        log.warning("Site pages are not available (%s); serving the REST and control APIs only", exc)
        return
    app.register_blueprint(pages.bp)
    from .forge import host as forge_host  # the portal and issue pages in Forge mode

    app.register_blueprint(forge_host.bp)


def _register_rest_errors(app):
    @app.errorhandler(404)
    def not_found(error):
        return _rest_or_plain(404, "The requested resource does not exist on this site.", error)

    @app.errorhandler(405)
    def not_allowed(error):
        return _rest_or_plain(405, "This method is not allowed on this resource.", error)


def _rest_or_plain(status, message, error):
    from flask import request

    if request.path.startswith(("/rest/", "/oauth2/", "/_devsite/")):
        if request.path.startswith("/_devsite/"):
            return jsonify({"error": message}), status
        return rest_auth.error_response(status, message)
    return error
