"""The served Connect descriptor: schema validity, our own module rules, and that every URL in it
reaches a route of the app. Also the gunicorn configuration's start-up checks."""

import json
import os
import re
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
from jsonschema import Draft4Validator

from addon import create_app
from addon.atlassian.descriptor import descriptor_json

from .conftest import TEST_SECRET_KEY
from .support import ROOT_DIR

# CI checks the shared folder out beside the repository clone.
SCHEMA_PATH = ROOT_DIR.parent / "shared" / "schemas" / "connect-jira-descriptor.schema.json"

PORTAL_MODULE_TYPES = ("serviceDeskPortalRequestViewPanels", "serviceDeskPortalFooters")
PORTAL_PAGES = {
    "help_center", "portal", "create_request", "view_request", "approvals", "profile", "my_requests",
}
MODULE_KEY_PATTERN = re.compile(r"^[a-zA-Z0-9-]+$")


def make_app(tmp_path, **overrides):
    config = {
        "ADDON_ENV": "test",
        "ADDON_BASE_URL": "http://127.0.0.1:5000",
        "ADDON_SECRET_KEY": TEST_SECRET_KEY,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'addon.sqlite3'}",
        "INSTANCE_DIR": str(tmp_path / "instance"),
    }
    config.update(overrides)
    return create_app(config)


def fetch_descriptor(app):
    response = app.test_client().get("/atlassian-connect.json")
    assert response.status_code == 200, response.text
    return response.get_json()


@pytest.fixture
def app(tmp_path):
    app = make_app(tmp_path)
    yield app
    app.extensions["database"].dispose()


@pytest.fixture
def descriptor(app):
    return fetch_descriptor(app)


def module_entries(descriptor):
    """Yield (module type, entry) for every module, singletons such as configurePage included."""
    for module_type, value in descriptor["modules"].items():
        for entry in value if isinstance(value, list) else [value]:
            yield module_type, entry


def page_urls(descriptor):
    """Yield (module key, url) of every module that Jira loads in an iframe."""
    for module_type, entry in module_entries(descriptor):
        if module_type in ("webhooks", "jiraEntityProperties"):
            continue
        url = entry.get("url") or entry.get("target", {}).get("url")
        yield entry["key"], url


def route_matches(app, url, method):
    """Return the endpoint `url` (relative to baseUrl) reaches with `method`, or None."""
    adapter = app.url_map.bind("addon.test")
    try:
        endpoint, _ = adapter.match(urlsplit(url).path, method=method)
    except Exception:  # werkzeug's NotFound / MethodNotAllowed: the URL reaches no route
        return None
    return endpoint


def test_schema_validates_descriptor(descriptor):
    if not SCHEMA_PATH.exists():
        pytest.skip(f"descriptor schema not found at {SCHEMA_PATH}; check out shared/ beside the clone")
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft4Validator.check_schema(schema)

    validator = Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
    errors = [f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
              for error in validator.iter_errors(descriptor)]
    assert errors == []


def test_descriptor_public_json(app):
    response = app.test_client().get("/atlassian-connect.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"


def test_descriptor_key_from_config(tmp_path):
    app = make_app(tmp_path, ADDON_KEY="com.example.other-chat")
    assert fetch_descriptor(app)["key"] == "com.example.other-chat"
    app.extensions["database"].dispose()


@pytest.mark.parametrize("base_url", [
    "http://127.0.0.1:5000",
    "https://chat.example.com",
    "https://chat.example.com/support/chat",
])
def test_base_url_follows_config(tmp_path, base_url):
    app = make_app(tmp_path, ADDON_BASE_URL=base_url + "/")
    assert fetch_descriptor(app)["baseUrl"] == base_url
    app.extensions["database"].dispose()


def test_descriptor_built_once(app):
    first = descriptor_json(app)
    app.config["ADDON_BASE_URL"] = "https://changed.example.com"
    assert descriptor_json(app) is first


def test_descriptor_security_settings(descriptor):
    assert descriptor["authentication"] == {"type": "jwt"}
    assert descriptor["apiMigrations"] == {"signed-install": True, "context-qsh": True}
    assert set(descriptor["scopes"]) == {"READ", "WRITE", "ACT_AS_USER"}


def test_lifecycle_urls(descriptor):
    assert descriptor["lifecycle"] == {
        "installed": "/lifecycle/installed",
        "uninstalled": "/lifecycle/uninstalled",
        "enabled": "/lifecycle/enabled",
        "disabled": "/lifecycle/disabled",
    }


@pytest.mark.parametrize("module_type", PORTAL_MODULE_TYPES)
def test_portal_module_fields(descriptor, module_type):
    entries = descriptor["modules"][module_type]
    assert entries, f"{module_type} is empty"
    for entry in entries:
        assert MODULE_KEY_PATTERN.match(entry["key"]), entry["key"]
        url = urlsplit(entry["url"])
        assert url.scheme == "", entry["url"]
        assert url.netloc == "", entry["url"]
        assert entry["url"].startswith("/"), entry["url"]
        assert set(entry.get("pages", [])) <= PORTAL_PAGES, entry.get("pages")


def test_footer_pages(descriptor):
    footer = descriptor["modules"]["serviceDeskPortalFooters"][0]
    assert set(footer["pages"]) == {"portal", "create_request", "view_request", "my_requests", "help_center"}


def test_request_panel_both_spellings(descriptor):
    url = descriptor["modules"]["serviceDeskPortalRequestViewPanels"][0]["url"]
    for variable in ("{servicedesk.requestKey}", "{servicedesk.requestId}", "{servicedesk.serviceDeskId}",
                     "{request.key}", "{request.id}", "{serviceDesk.id}"):
        assert variable in url, variable


def test_page_urls_reach_routes(app, descriptor):
    unrouted = [(key, url) for key, url in page_urls(descriptor) if not route_matches(app, url, "GET")]
    assert unrouted == []


def test_page_urls_reach_panels(app, descriptor):
    # Every iframe page must be served by the panels blueprint, whose routes all require a JWT.
    endpoints = {key: route_matches(app, url, "GET") for key, url in page_urls(descriptor)}
    outside = {key: endpoint for key, endpoint in endpoints.items()
               if not (endpoint or "").startswith("panels.")}
    assert outside == {}


def test_lifecycle_urls_reach_routes(app, descriptor):
    unrouted = [url for url in descriptor["lifecycle"].values() if not route_matches(app, url, "POST")]
    assert unrouted == []


def test_webhook_urls_reach_routes(app, descriptor):
    unrouted = [hook["url"] for hook in descriptor["modules"]["webhooks"]
                if not route_matches(app, hook["url"], "POST")]
    assert unrouted == []


def test_glance_icon_served(app, descriptor):
    icon_url = descriptor["modules"]["jiraIssueGlances"][0]["icon"]["url"]
    response = app.test_client().get(icon_url)
    response.close()  # releases the file handle send_file opened
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"


def test_webhooks_covered_by_scopes(descriptor):
    # Jira delivers webhooks only to apps holding READ; the issue-property webhook needs it too.
    assert descriptor["modules"]["webhooks"]
    assert "READ" in descriptor["scopes"]


def test_webhook_events(descriptor):
    hooks = {hook["event"]: hook for hook in descriptor["modules"]["webhooks"]}
    assert set(hooks) == {"comment_created", "comment_updated", "comment_deleted", "jira:issue_updated"}
    assert hooks["jira:issue_updated"]["propertyKeys"] == ["supportchat"]


def test_glance_condition(descriptor):
    glance = descriptor["modules"]["jiraIssueGlances"][0]
    assert glance["conditions"] == [{
        "condition": "entity_property_equal_to",
        "params": {"entity": "issue", "propertyKey": "supportchat", "objectName": "enabled", "value": "true"},
    }]


def test_glance_target(descriptor):
    target = descriptor["modules"]["jiraIssueGlances"][0]["target"]
    assert target == {
        "type": "web_panel",
        "url": "/agent/issue-panel?issueKey={issue.key}&issueId={issue.id}&projectKey={project.key}",
    }


@pytest.mark.parametrize("module_type", ["adminPages", "configurePage"])
def test_admin_pages_need_admin(descriptor, module_type):
    value = descriptor["modules"][module_type]
    for entry in value if isinstance(value, list) else [value]:
        assert {"condition": "user_is_admin"} in entry["conditions"]


def test_entity_property_extractions(descriptor):
    [index] = descriptor["modules"]["jiraEntityProperties"]
    configurations = {item["propertyKey"]: item for item in index["keyConfigurations"]}
    chat_types = {item["objectName"]: item["type"] for item in configurations["supportchat"]["extractions"]}
    sla_types = {item["objectName"]: item["type"] for item in configurations["supportchat.sla"]["extractions"]}
    assert index["entityType"] == "issue"
    assert set(configurations) == {"supportchat", "supportchat.sla"}
    assert chat_types == {"enabled": "string", "state": "string", "openedBy": "user", "organizationId": "string"}
    assert sla_types == {
        "state": "string", "breached": "string", "warned": "string", "deadline": "date",
        "warningAt": "date", "tier": "string", "priority": "string",
    }


def test_entity_property_aliases_unique(descriptor):
    # JQL names a field by its alias, so one alias may stand for only one extraction.
    aliases = [extraction["alias"] for module in descriptor["modules"]["jiraEntityProperties"]
               for configuration in module["keyConfigurations"] for extraction in configuration["extractions"]]
    assert len(aliases) == len(set(aliases))
    assert "chatSlaBreached" in aliases


# The gunicorn configuration is loaded in a fresh interpreter, as gunicorn would load it.

def load_gunicorn_conf(**env):
    clean_env = {key: value for key, value in os.environ.items()
                 if key not in ("WEB_CONCURRENCY", "REDIS_URL", "PORT", "GUNICORN_WORKER_CLASS")}
    clean_env.update(env)
    script = (
        "import json, runpy\n"
        "settings = runpy.run_path('gunicorn.conf.py')\n"
        "print(json.dumps({name: settings[name] for name in "
        "('bind', 'workers', 'worker_class', 'threads', 'access_log_format')}))\n"
    )
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT_DIR, env=clean_env,
                          capture_output=True, text=True, timeout=60)


def test_gunicorn_workers_need_redis():
    result = load_gunicorn_conf(WEB_CONCURRENCY="2")
    assert result.returncode != 0
    assert "REDIS_URL" in result.stderr


def test_gunicorn_workers_with_redis():
    result = load_gunicorn_conf(WEB_CONCURRENCY="2", REDIS_URL="redis://127.0.0.1:6379/0")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["workers"] == 2


def test_gunicorn_defaults():
    result = load_gunicorn_conf(PORT="8123")
    settings = json.loads(result.stdout)
    assert settings["bind"] == ["0.0.0.0:8123"]
    assert settings["workers"] == 1
    assert settings["worker_class"] == "gevent"


def test_gunicorn_log_format_no_query():
    settings = json.loads(load_gunicorn_conf().stdout)
    # %(r)s (request line) and %(q)s (query) would log the iframe's jwt; %(f)s (Referer) may too.
    for atom in ("%(r)s", "%(q)s", "%(f)s"):
        assert atom not in settings["access_log_format"], atom
    assert "%(U)s" in settings["access_log_format"]
