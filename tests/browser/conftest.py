"""Fixtures of the browser tests: Debian's Chromium driven by Playwright, the local Jira site, and
the add-on installed into it, served with its websocket on loopback."""

from pathlib import Path

import pytest

from addon import create_app
from tests.conftest import addon_overrides
from tests.subscriptions import grant_defaults
from tests.support import ROOT_DIR, AddonServer, free_port, require_service

CHROMIUM_PATH = "/usr/bin/chromium"
# Flags that keep Chromium from calling Google's services: the tests send traffic to loopback only.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
ARTIFACTS_DIR = ROOT_DIR / "test-artifacts"
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


def serve_installed(jira_site, tmp_path, **overrides):
    """Yield the add-on built by create_app, on SQLite, served on loopback and installed into the
    local Jira site. SQLite only: these tests check screens, and the database code has its own
    tests on both backends."""
    port = free_port()
    database_url = f"sqlite:///{tmp_path / 'addon.sqlite3'}"
    server = AddonServer(create_app(addon_overrides(database_url, jira_site, port, tmp_path, **overrides)), port)
    try:
        result = jira_site.control("POST", "/_devsite/apps/install",
                                   json={"descriptor_url": f"{server.url}/atlassian-connect.json"})
        assert result["status"] in (200, 204), result
        server.client_key = result["client_key"]
        yield server
    finally:
        server.stop()


@pytest.fixture
def chat_addon(jira_site, tmp_path):
    """The add-on installed into the local Jira site, for the chat screens.

    Only key users of an active subscription may chat: cust-alice and cust-chloe are.
    """
    for server in serve_installed(jira_site, tmp_path):
        grant_defaults(server.app, server.client_key)
        yield server


@pytest.fixture
def artifacts_dir():
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    return ARTIFACTS_DIR
