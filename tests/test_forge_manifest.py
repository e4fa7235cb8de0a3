"""The Forge app's manifest (forge/manifest.yml) against the add-on it points at, and the offline
check of forge/tools/check-manifest.js (@forge/manifest and the client-side @forge/lint linters)
on it and on broken copies of it."""

import os
import re
import shutil
import subprocess
import types

import pytest

from addon import create_app
from addon.atlassian import webhooks
from devsite.forge.manifest import parse_yaml

from .conftest import addon_overrides
from .forge_support import forge_overrides
from .support import ROOT_DIR, free_port, require_service, stop_background

FORGE_DIR = ROOT_DIR / "forge"
MANIFEST = FORGE_DIR / "manifest.yml"
TOOLS_DIR = FORGE_DIR / "tools"
CHECK_SCRIPT = TOOLS_DIR / "check-manifest.js"
BOOTSTRAP_SCRIPT = FORGE_DIR / "ui" / "bootstrap.js"
RESOURCE_DIRS = ("static/forge-portal", "static/forge-agent")

# The first validation compiles Forge's JSON schema: the whole check took 17 to 50 seconds on a
# shared 2-core machine, so this limit only stops a hung process.
CHECK_TIMEOUT_SECS = 600

BUILD_COMMANDS = (
    "cd forge && npm ci --ignore-scripts && npm run build, "
    "then cd forge/tools && npm ci --ignore-scripts"
)


def _manifest():
    """Return manifest.yml as dicts and lists, read by the local Jira site's reader of Forge
    manifests (PyYAML is not among the project's dependencies)."""
    return parse_yaml(MANIFEST.read_text(encoding="utf-8"), source=str(MANIFEST))


def _endpoints():
    return {endpoint["key"]: endpoint for endpoint in _manifest()["modules"]["endpoint"]}


def _scope_names():
    scopes = _manifest()["permissions"]["scopes"]
    return set(scopes) if isinstance(scopes, dict) else set(scopes)


# The manifest against the add-on -----------------------------------------------------------------

@pytest.fixture(scope="module")
def forge_app(tmp_path_factory):
    """The add-on built with FORGE_ENABLED and the manifest's app id. It sends no request, so the
    site it names is only a URL."""
    tmp_path = tmp_path_factory.mktemp("forge-manifest")
    site = types.SimpleNamespace(url="http://127.0.0.1:9")
    overrides = addon_overrides(
        f"sqlite:///{tmp_path / 'addon.sqlite3'}", site, free_port(), tmp_path,
        **forge_overrides(site, FORGE_APP_ID=_manifest()["app"]["id"]),
    )
    app = create_app(overrides)
    yield app
    webhooks.shutdown(app)
    stop_background(app)
    app.extensions["database"].dispose()


def _methods_of(app, path):
    """Return the HTTP methods the add-on serves on `path`, empty when it has no such route."""
    methods = set()
    for rule in app.url_map.iter_rules():
        if rule.rule == path:
            methods |= rule.methods
    return methods


def test_app_id_accepted_by_addon(forge_app):
    assert forge_app.config["FORGE_ENABLED"] is True
    assert forge_app.config["FORGE_APP_ID"] == _manifest()["app"]["id"]


def test_trigger_routes_served_by_addon(forge_app):
    routed = {key: endpoint["route"]["path"] for key, endpoint in _endpoints().items() if "route" in endpoint}

    assert sorted(routed.values()) == sorted(
        ["/forge/lifecycle", "/forge/events", "/forge/scheduled", "/forge/pre-uninstall"]
    )
    for key, path in routed.items():
        assert "POST" in _methods_of(forge_app, path), f"endpoint {key}: the add-on serves no POST {path}"


def test_triggers_reach_routed_endpoints():
    modules = _manifest()["modules"]
    endpoints = _endpoints()
    triggers = modules["trigger"] + modules["scheduledTrigger"] + modules["preUninstall"]

    for trigger in triggers:
        assert trigger["endpoint"] in endpoints, f"{trigger['key']} names no declared endpoint"
        assert "route" in endpoints[trigger["endpoint"]], f"{trigger['key']}: its endpoint has no route"
    assert [trigger["interval"] for trigger in modules["scheduledTrigger"]] == ["hour"]


def test_page_paths_served_by_addon(forge_app):
    # The Custom UI page's own routes (forge/ui/bootstrap.js): its panel and its socket ticket.
    script = BOOTSTRAP_SCRIPT.read_text(encoding="utf-8")
    paths = dict(re.findall(r"const (PAGE_PATH|TICKET_PATH) = '([^']+)';", script))

    assert paths == {"PAGE_PATH": "/forge/ui/page", "TICKET_PATH": "/forge/ui/socket-ticket"}
    assert "GET" in _methods_of(forge_app, paths["PAGE_PATH"])
    assert "POST" in _methods_of(forge_app, paths["TICKET_PATH"])


def test_endpoints_use_declared_remote():
    endpoints = _endpoints()

    assert [remote["key"] for remote in _manifest()["remotes"]] == ["chat-backend"]
    for key, endpoint in endpoints.items():
        assert endpoint["remote"] == "chat-backend", f"endpoint {key} names remote {endpoint['remote']}"
    assert "route" not in endpoints["ui"]  # UI calls give their path in invokeRemote


# Two rules of Atlassian's manifest reference (remotes, endpoint) that the offline check does not
# enforce, as tried with @forge/manifest 13.7.0 and @forge/lint 6.3.1.

def test_endpoint_tokens_have_scopes():
    scope_names = _scope_names()
    token_scopes = {"appSystemToken": "read:app-system-token", "appUserToken": "read:app-user-token"}

    for key, endpoint in _endpoints().items():
        for token, enabled in endpoint.get("auth", {}).items():
            if enabled.get("enabled"):
                assert token_scopes[token] in scope_names, f"endpoint {key} enables {token} without its scope"
    assert _endpoints()["ui"]["auth"]["appUserToken"]["enabled"] is True  # UI calls carry the user's token


def test_remote_allows_compute():
    (remote,) = _manifest()["remotes"]

    # The remotes reference: setting `compute` "is required for invokeRemote to work".
    assert "compute" in remote["operations"]


def test_impersonation_scopes():
    scopes = _manifest()["permissions"]["scopes"]
    impersonated = {name for name, options in scopes.items() if (options or {}).get("allowImpersonation")}

    assert impersonated == {"read:jira-work", "write:jira-work", "read:servicedesk-request", "write:servicedesk-request"}


def test_ui_modules_resolve_to_ui_endpoint():
    ui_modules = []
    for module_type, modules in _manifest()["modules"].items():
        ui_modules += [(module_type, module) for module in modules if "resource" in module]

    assert len(ui_modules) == 7  # two portal modules and five Jira modules
    for module_type, module in ui_modules:
        assert module["resolver"] == {"endpoint": "ui"}, f"{module_type} {module['key']}"
        assert module["resource"] in {"portal-ui", "agent-ui"}, f"{module_type} {module['key']}"


def test_socket_origins_in_fetch_client(forge_app):
    (remote,) = _manifest()["remotes"]
    client = _manifest()["permissions"]["external"]["fetch"]["client"]
    addresses = [entry["address"] for entry in client if "address" in entry]

    assert sorted(remote["baseUrl"]) == ["EU", "default"]
    assert {"remote": "chat-backend"} in client
    for base_url in remote["baseUrl"].values():
        assert base_url.startswith("https://"), base_url
        assert "wss://" + base_url.removeprefix("https://") in addresses, f"no wss:// address for {base_url}"
    assert "GET" in _methods_of(forge_app, "/ws")  # the chat's websocket


# The offline check --------------------------------------------------------------------------------

# Each broken copy replaces one passage of manifest.yml and must get an error naming the problem.
MUTATIONS = {
    "unknown-remote": (
        "    - key: events-endpoint\n      remote: chat-backend\n",
        "    - key: events-endpoint\n      remote: chat-backnd\n",
        "endpoint remote property 'chat-backnd' was not found",
    ),
    "unknown-resolver-endpoint": (
        "      title: Chat\n      resource: portal-ui\n      resolver:\n        endpoint: ui\n",
        "      title: Chat\n      resource: portal-ui\n      resolver:\n        endpoint: ui-missing\n",
        "references undefined endpoint module with key 'ui-missing'",
    ),
    "bad-schedule-interval": (
        "      interval: hour\n",
        "      interval: hourly\n",
        "interval 'hourly' allowed values are",
    ),
    "event-without-scope": (
        "    read:jira-work:\n      allowImpersonation: true\n",
        "",
        "Trigger event: 'avi:jira:commented:issue' requires 'read:jira-work' scope",
    ),
    "unlicensed-access-on-agent-module": (
        "      label: Chat\n",
        "      label: Chat\n      unlicensedAccess:\n        - customer\n",
        "jira:issueContext does not support the following Forge properties - 'unlicensedAccess'",
    ),
    "remote-key-too-long": (
        "  - key: chat-backend\n",
        "  - key: chat-backend-with-a-long-key\n",
        "must NOT have more than 23 characters",
    ),
    "missing-resource": (
        "    path: static/forge-agent\n",
        "    path: static/forge-agent-missing\n",
        "missing resource 'static/forge-agent-missing'",
    ),
}

FINDING = re.compile(r"^(?P<level>error|warning|approval) (?P<file>.+?):(?P<line>\d+) (?P<message>.*)$")


def _require_check_tools():
    """Skip (fail under CI=true) unless node, the tools' packages and the built pages are there."""
    require_service(shutil.which("node"), "Node.js (node)", "install Node.js 20.18.1 or newer with npm")
    installed = (TOOLS_DIR / "node_modules" / "@forge" / "lint").is_dir() and (
        TOOLS_DIR / "node_modules" / "@forge" / "manifest"
    ).is_dir()
    require_service(installed, "forge/tools/node_modules", f"run {BUILD_COMMANDS}")
    built = all((FORGE_DIR / folder / "index.html").is_file() for folder in RESOURCE_DIRS)
    require_service(built, "the built Custom UI pages in forge/static", f"run {BUILD_COMMANDS}")


def _run_check(*manifests):
    result = subprocess.run(
        ["node", str(CHECK_SCRIPT), *map(str, manifests)],
        cwd=ROOT_DIR, capture_output=True, text=True, timeout=CHECK_TIMEOUT_SECS,
    )
    findings = [FINDING.match(line) for line in result.stdout.splitlines()]
    assert all(findings), f"unexpected output lines:\n{result.stdout}"
    return result, [finding.groupdict() for finding in findings]


@pytest.fixture(scope="module")
def mutated_check(tmp_path_factory):
    """Run the check once over a broken copy of the manifest per mutation, each beside a copy of
    the built pages. Return the process result, the findings, and the path of each copy."""
    _require_check_tools()
    root = tmp_path_factory.mktemp("forge-mutations")
    original = MANIFEST.read_text(encoding="utf-8")
    copies = {}
    for name, (passage, replacement, _) in MUTATIONS.items():
        assert original.count(passage) == 1, f"mutation {name}: its passage is no longer once in manifest.yml"
        folder = root / name
        shutil.copytree(FORGE_DIR / "static", folder / "static")
        (folder / "manifest.yml").write_text(original.replace(passage, replacement), encoding="utf-8")
        copies[name] = folder / "manifest.yml"
    result, findings = _run_check(*copies.values())
    return result, findings, copies


def test_manifest_passes_offline_check():
    _require_check_tools()

    result, findings = _run_check(MANIFEST)

    assert result.returncode == 0, result.stdout + result.stderr
    assert [finding for finding in findings if finding["level"] != "warning"] == []


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_check_reports_mutation(mutated_check, name):
    _, findings, copies = mutated_check
    expected = MUTATIONS[name][2]
    label = os.path.relpath(copies[name], ROOT_DIR)

    errors = [finding["message"] for finding in findings if finding["file"] == label and finding["level"] == "error"]

    assert errors, f"no error for {name}; all findings: {findings}"
    assert any(expected in message for message in errors), errors


def test_check_exits_1_on_errors(mutated_check):
    result, _, _ = mutated_check

    assert result.returncode == 1, result.stderr


def test_check_exits_2_on_bad_argument():
    _require_check_tools()

    result = subprocess.run(
        ["node", str(CHECK_SCRIPT), str(FORGE_DIR / "package.json")],
        cwd=ROOT_DIR, capture_output=True, text=True, timeout=CHECK_TIMEOUT_SECS,
    )

    assert result.returncode == 2
    assert "is not named manifest.yml" in result.stderr
