"""Fixtures: the local Jira site (a separate process), the add-on (a server on loopback) and
the database each test runs against (SQLite, and PostgreSQL when TEST_DATABASE_URL is set)."""

import os

import pytest
import sqlalchemy

from addon import create_app
from addon.db import normalize_database_url

from .support import (
    IN_CI,
    AddonServer,
    DevSite,
    drop_postgresql_schema,
    free_port,
    postgresql_schema_url,
    require_service,
)

TEST_DATABASE_URL = normalize_database_url(os.environ.get("TEST_DATABASE_URL", ""))
TEST_SECRET_KEY = "test-secret-key-0123456789abcdef"


def pytest_generate_tests(metafunc):
    if "database_url" in metafunc.fixturenames:
        backends = ["sqlite"]
        if TEST_DATABASE_URL or IN_CI:
            backends.append("postgresql")
        # A test that only makes sense on one backend declares it with a marker, instead of skipping.
        if metafunc.definition.get_closest_marker("postgresql_only"):
            backends = ["postgresql"]
        elif metafunc.definition.get_closest_marker("sqlite_only"):
            backends = ["sqlite"]
        metafunc.parametrize("database_url", backends, indirect=True)


def _postgresql_reachable(url):
    engine = sqlalchemy.create_engine(url)  # a missing driver raises here, loudly
    try:
        with engine.connect():
            pass
        return True
    except sqlalchemy.exc.OperationalError:
        return False
    finally:
        engine.dispose()


@pytest.fixture
def database_url(request, tmp_path):
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'addon.sqlite3'}"
        return
    require_service(
        TEST_DATABASE_URL and _postgresql_reachable(TEST_DATABASE_URL),
        "PostgreSQL (TEST_DATABASE_URL)",
        "install PostgreSQL and set TEST_DATABASE_URL, e.g. postgresql://postgres@127.0.0.1:5432/test",
    )
    url, schema = postgresql_schema_url(TEST_DATABASE_URL)
    yield url
    drop_postgresql_schema(TEST_DATABASE_URL, schema)


@pytest.fixture(scope="session")
def devsite_process():
    site = DevSite()
    yield site
    site.stop()


@pytest.fixture
def jira_site(devsite_process):
    """The local Jira site, reset to its seed data before the test."""
    devsite_process.control("POST", "/_devsite/reset")
    return devsite_process


def addon_overrides(database_url, jira_site, port, tmp_path, **extra):
    """Configuration of an add-on that trusts the local Jira site `jira_site`."""
    overrides = {
        "ADDON_ENV": "test",
        "ADDON_BASE_URL": f"http://127.0.0.1:{port}",
        "ADDON_SECRET_KEY": TEST_SECRET_KEY,
        "DATABASE_URL": database_url,
        "AUTO_MIGRATE": True,
        "INSTANCE_DIR": str(tmp_path / "instance"),
        "CONNECT_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CONNECT_INSTALL_KEYS_URL": f"{jira_site.url}/_devsite/install-keys/",
        "CONNECT_ALL_JS_URL": f"{jira_site.url}/_devsite/all.js",
        "CONNECT_OAUTH_TOKEN_URL": f"{jira_site.url}/oauth2/token",
        "ADDON_FRAME_ANCESTORS": jira_site.url,
    }
    overrides.update(extra)
    return overrides


@pytest.fixture
def addon_server(database_url, jira_site, tmp_path):
    """The add-on, served on loopback and configured against the local Jira site."""
    port = free_port()
    app = create_app(addon_overrides(database_url, jira_site, port, tmp_path))
    server = AddonServer(app, port)
    yield server
    server.stop()


@pytest.fixture
def installed_addon(addon_server, jira_site):
    """The add-on installed into the local Jira site; returns the site's client_key."""
    result = jira_site.control(
        "POST", "/_devsite/apps/install",
        json={"descriptor_url": f"{addon_server.url}/atlassian-connect.json"},
    )
    assert result["status"] in (200, 204), result
    return result["client_key"]
