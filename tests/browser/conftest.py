"""Fixtures of the browser tests: Debian's Chromium driven by Playwright, the local Jira site, and
the add-on installed into it, served with its websocket on loopback."""

from pathlib import Path

import pytest

from addon import create_app
from tests.conftest import addon_overrides
from tests.support import ROOT_DIR, AddonServer, free_port, require_service, stop_background

CHROMIUM_PATH = "/usr/bin/chromium"
# Flags that keep Chromium from calling Google's services: the tests send traffic to loopback only.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
ARTIFACTS_DIR = ROOT_DIR / "test-artifacts"
# The routes the chat screens call; without them the journey cannot run at all.
CHAT_ROUTES = ("/ws", "/api/chats", "/api/chats/by-issue/<issue_key>", "/api/start-form")


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium from Debian; Playwright never downloads a browser here."""
    require_service(Path(CHROMIUM_PATH).exists(), f"Chromium ({CHROMIUM_PATH})",
                    "install Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def missing_routes(app):
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    return [route for route in CHAT_ROUTES if route not in rules]


@pytest.fixture
def chat_addon(jira_site, tmp_path):
    """The add-on, as create_app builds it, served on loopback and installed into the local site.

    SQLite only: the journey checks the screens, and the database code has its own tests on both
    backends. Skips when create_app does not serve the chat's API and websocket routes.
    """
    port = free_port()
    database_url = f"sqlite:///{tmp_path / 'addon.sqlite3'}"
    app = create_app(addon_overrides(database_url, jira_site, port, tmp_path))
    missing = missing_routes(app)
    if missing:
        stop_background(app)
        app.extensions["database"].dispose()
        pytest.skip(f"create_app does not serve the chat routes {', '.join(missing)} yet; "
                    "wire the API, websocket, hub and outbox in addon/__init__.py")

    server = AddonServer(app, port)
    try:
        result = jira_site.control("POST", "/_devsite/apps/install",
                                   json={"descriptor_url": f"{server.url}/atlassian-connect.json"})
        assert result["status"] in (200, 204), result
        yield server
    finally:
        server.stop()
        stop_background(app)


@pytest.fixture
def artifacts_dir():
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    return ARTIFACTS_DIR
