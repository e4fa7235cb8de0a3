"""Support Chat for Jira Service Management: the Flask add-on backend.

`create_app` is the only way to build the app, in production, development and tests alike.
"""

import logging
from pathlib import Path

import click
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from . import migrate
from .config import INSTANCE_DIR, load_config
from .crypto import SecretBox
from .db import Database
from .errors import register_error_handlers
from .i18n import init_babel
from .logs import install_redaction

ROOT_DIR = Path(__file__).resolve().parent.parent

log = logging.getLogger(__name__)


def create_app(overrides=None):
    """Build the add-on app. `overrides` replaces configuration values (tests use it)."""
    config = load_config(overrides)
    install_redaction()
    app = Flask(
        __name__,
        template_folder=str(ROOT_DIR / "templates"),
        static_folder=str(ROOT_DIR / "static"),
        instance_path=str(config.get("INSTANCE_DIR", INSTANCE_DIR)),
    )
    app.config.update(config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    trusted_proxies = int(app.config["ADDON_TRUSTED_PROXIES"])
    if trusted_proxies:
        # Behind a reverse proxy the public scheme, host and path prefix come from the
        # X-Forwarded-* headers of the proxies we trust, and from nowhere else.
        app.wsgi_app = ProxyFix(
            app.wsgi_app, x_for=trusted_proxies, x_proto=trusted_proxies,
            x_host=trusted_proxies, x_prefix=trusted_proxies,
        )

    database = Database(app.config["DATABASE_URL"])
    app.extensions["database"] = database
    app.extensions["secret_box"] = SecretBox(app.config["ADDON_SECRET_KEY"])
    app.teardown_appcontext(database.remove_session)
    if database.url.startswith("sqlite") or app.config.get("AUTO_MIGRATE"):
        migrate.upgrade(database)

    init_babel(app, app.instance_path)
    register_error_handlers(app)
    _register_blueprints(app)
    _register_webhook_processing(app)
    _register_realtime(app)
    _register_security_headers(app)
    _register_cli(app)
    return app


def _register_blueprints(app):
    from .atlassian import descriptor, lifecycle, webhooks
    from .web import admin_api, api, faq_admin_api, faq_api, guide, panels, settings_api, sla_api, solution_api

    if app.config["CONNECT_ENABLED"]:
        # The Connect descriptor, install lifecycle and webhooks; Forge-only deployments omit them.
        app.register_blueprint(descriptor.bp)
        app.register_blueprint(lifecycle.bp)
        app.register_blueprint(webhooks.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(admin_api.bp)
    app.register_blueprint(settings_api.bp)
    app.register_blueprint(sla_api.bp)
    app.register_blueprint(faq_api.bp)
    app.register_blueprint(faq_admin_api.bp)
    app.register_blueprint(solution_api.bp)
    from .web import move_api

    app.register_blueprint(move_api.bp)
    from .web import workspace_api

    app.register_blueprint(workspace_api.bp)
    from .web import attachment_api

    app.register_blueprint(attachment_api.bp)
    app.register_blueprint(guide.bp)
    app.register_blueprint(panels.bp)

    if app.config["FORGE_ENABLED"]:
        from .atlassian.forge import routes as forge_routes

        forge_routes.init_app(app)  # the /forge/... endpoints of the Forge Remote


def _register_webhook_processing(app):
    from .atlassian import webhooks
    from .sync import webhook_handlers  # noqa: F401  (registers the handlers)

    webhooks.init_app(app)


def _register_realtime(app):
    from .access import models as access_models  # noqa: F401  (registers the subscription tables)
    from .atlassian.forge import tenants as forge_tenants  # noqa: F401  (registers the Forge tables)
    from .chat import models as chat_models  # noqa: F401  (registers the chat tables)
    from .faq import models as faq_models  # noqa: F401  (registers the self-service tables)
    from .sla import models as sla_models  # noqa: F401  (registers the SLA tables)
    from .workspace import models as workspace_models  # noqa: F401  (registers the routing tables)
    from .realtime import create_pubsub

    # One publish/subscribe layer per process: gunicorn runs create_app in each worker after
    # the fork (no preload_app), which is what the layer's threads require.
    app.extensions["pubsub"] = create_pubsub(app.config["REDIS_URL"], app.config["REDIS_CHANNEL_PREFIX"])

    from .realtime import hub
    from .sync import outbox
    from .web import ws

    hub.init_app(app)
    ws.init_app(app)  # the /ws route, with heartbeats and a frame size limit
    outbox.init_app(app)
    from .chat import attachments_jira

    attachments_jira.init_app(app)  # puts the chat's files on their Jira requests

    from .access import subscriptions

    subscriptions.init_app(app)  # expires subscriptions past their end date, at start-up and hourly

    from .sla import sweeper

    sweeper.init_app(app)  # the SLA clock, and the sweep that fires warnings and breaches

    from .faq import knowledge_base

    knowledge_base.init_app(app)  # copies each site's knowledge base at start-up and hourly

    from .chat import transcript_attach

    transcript_attach.init_app(app)  # attaches the public transcript to each resolved request

    from .workspace import jobs as workspace_jobs

    workspace_jobs.init_app(app)  # offers unclaimed chats again after the site's delay


def _register_security_headers(app):
    frame_ancestors = app.config["ADDON_FRAME_ANCESTORS"]
    https = app.config["ADDON_BASE_URL"].startswith("https://")

    @app.after_request
    def add_security_headers(response):
        # Jira shows our pages in iframes; only the hosts of ADDON_FRAME_ANCESTORS may frame them.
        response.headers.setdefault(
            "Content-Security-Policy", f"frame-ancestors 'self' {frame_ancestors}"
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if response.mimetype == "text/html":
            response.headers.setdefault("Cache-Control", "no-store")
        if https:
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        return response


def _register_cli(app):
    @app.cli.group("db")
    def db_group():
        """Database schema commands."""

    @db_group.command("upgrade")
    @click.option("--revision", default="head", show_default=True, help="Target Alembic revision.")
    def db_upgrade(revision):
        """Migrate the database named by DATABASE_URL to REVISION."""
        migrate.upgrade(app.extensions["database"], revision)
        click.echo(f"Database migrated to {revision}.")

    from .faq.cli import faq_cli
    from .sla.cli import sla_cli

    # app.py also serves these two without create_app: see addon/cli.py.
    app.cli.add_command(sla_cli)
    app.cli.add_command(faq_cli)
