"""Helpers of the Forge tests: an add-on with FORGE_ENABLED, FITs minted by the local site, and
a snapshot of the tables a Forge call may change."""

import json
from urllib.parse import urlsplit

import pytest
import requests
import sqlalchemy

from addon import create_app

from .conftest import addon_overrides
from .support import AddonServer, free_port

APP_ID = "ari:cloud:ecosystem::app/5b0c6d1e-8f2a-4c3b-9d4e-0a1b2c3d4e5f"
OTHER_APP_ID = "ari:cloud:ecosystem::app/9e8d7c6b-5a49-4382-9100-ffeeddccbbaa"


def forge_overrides(jira_site, **extra):
    """Configuration that turns Forge on against the local site's JWKS and API base."""
    site = urlsplit(jira_site.url)
    overrides = {
        "FORGE_ENABLED": True,
        "FORGE_APP_ID": APP_ID,
        "FORGE_JWKS_URL": f"{jira_site.url}/forge/jwks.json",
        "FORGE_API_BASE_ALLOWED": f"{site.scheme}://{site.netloc}",
    }
    overrides.update(extra)
    return overrides


@pytest.fixture
def forge_addon(database_url, jira_site, tmp_path):
    """The add-on with FORGE_ENABLED, served on loopback and trusting the local site's Forge keys."""
    port = free_port()
    app = create_app(addon_overrides(database_url, jira_site, port, tmp_path, **forge_overrides(jira_site)))
    server = AddonServer(app, port)
    yield server
    server.stop()


def mint(jira_site, **body):
    """Mint a FIT and its headers on the local site; `body` as /_devsite/forge/fit takes it."""
    body.setdefault("app_id", APP_ID)
    return jira_site.control("POST", "/_devsite/forge/fit", json=body)


def call(server, path, minted, method="POST", json=None, headers=None):
    """Send a Forge call with the minted headers to the add-on and return the response."""
    all_headers = dict(minted["headers"]) if minted else {}
    all_headers.update(headers or {})
    return requests.request(method, server.url + path, headers=all_headers, json=json, timeout=30)


def jwks_fetches(jira_site):
    return jira_site.control("GET", "/_devsite/forge")["jwks_fetches"]


def snapshot(server):
    """Return every row of the tables that a Forge call may change, to compare before and after."""
    engine = server.app.extensions["database"].engine
    rows = {}
    with engine.connect() as connection:
        for table in ("forge_installations", "forge_seen_tokens", "installations"):
            result = connection.execute(sqlalchemy.text(f"SELECT * FROM {table} ORDER BY 1"))
            rows[table] = [tuple(row) for row in result]
    return rows


def raw_installation(server, installation_id):
    """Return the forge_installations row of `installation_id` as stored, as a dict, or None."""
    engine = server.app.extensions["database"].engine
    with engine.connect() as connection:
        row = connection.execute(
            sqlalchemy.text("SELECT * FROM forge_installations WHERE installation_id = :id"),
            {"id": installation_id},
        ).mappings().first()
    return dict(row) if row is not None else None


def host_frames(jira_site, account_id, page="/portal"):
    """Open the local site's Forge host `page` as `account_id` (None: not logged in); return its frames.

    Each frame is a dict with the `id` that the host's invoke and remote-token routes take.
    """
    cookies = {"devsite_user": account_id} if account_id else {}
    response = requests.get(f"{jira_site.url}/_devsite/forge/host{page}", cookies=cookies, timeout=40)
    assert response.status_code == 200, response.text
    start = response.text.index('id="forge-frames">') + len('id="forge-frames">')
    return json.loads(response.text[start:response.text.index("</script>", start)])


def host_frame_id(jira_site, account_id, page="/portal"):
    """Return the id of the last frame (the portal's footer launcher) of a host page opened by `account_id`."""
    return host_frames(jira_site, account_id, page)[-1]["id"]
