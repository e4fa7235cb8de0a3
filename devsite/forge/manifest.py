"""The Forge app's `manifest.yml`, read the way Forge routes calls to a remote.

Forge resolves a module to its `endpoint` module, the endpoint to a `remotes[]` entry, and sends
the call to the remote's `baseUrl` plus the endpoint's `route.path` (for triggers and scheduled
triggers; UI calls give their own path). The endpoint's `auth` sets which token headers go with
the call: `appSystemToken` gives `x-forge-oauth-system`, `appUserToken` gives `x-forge-oauth-user`.
A trigger bound to a Forge function rather than an endpoint reaches no remote and is skipped.

The manifest path is DEVSITE_FORGE_MANIFEST, else forge/manifest.yml at the repository root.
PyYAML is used when it is installed. Otherwise `parse_yaml` reads the subset of YAML that
manifests use (block and flow mappings and sequences, quoted and plain scalars, comments) and
rejects anything else by line number.
"""

import os
import re
from dataclasses import dataclass
from pathlib import Path

try:
    import yaml
except ImportError:  # PyYAML is not a dependency of the project; the subset reader below is used
    yaml = None

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "forge" / "manifest.yml"
TRIGGER = "trigger"
SCHEDULED_TRIGGER = "scheduledTrigger"
PRE_UNINSTALL = "preUninstall"


class ManifestError(Exception):
    """The manifest cannot be read, or names an endpoint or remote it does not declare."""


@dataclass(frozen=True)
class Route:
    """The destination of one module's call: the remote's URL and the token headers to add."""

    module_type: str
    module_key: str
    endpoint_key: str
    remote_key: str
    url: str
    system_token: bool
    user_token: bool


def manifest_path(path=None):
    """Return the manifest path: `path`, else DEVSITE_FORGE_MANIFEST, else forge/manifest.yml."""
    return Path(path or os.environ.get("DEVSITE_FORGE_MANIFEST") or DEFAULT_PATH)


def load(path=None, remote_urls=None):
    """Read and check the manifest at `path`.

    `remote_urls` maps remote keys to URLs that replace their `baseUrl`, because the local site
    calls an add-on on loopback rather than its public host.
    """
    source = manifest_path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as error:
        raise ManifestError(f"The Forge manifest {source} cannot be read: {error.strerror}. "
                            "Set DEVSITE_FORGE_MANIFEST or give manifest_path.") from None
    if yaml is not None:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ManifestError(f"The Forge manifest {source} is not valid YAML: {error}") from None
    else:
        data = parse_yaml(text, str(source))
    return Manifest(data, str(source), remote_urls)


class Manifest:
    """The routing facts of a manifest: app id, remotes, endpoints and the modules that use them."""

    def __init__(self, data, source="manifest.yml", remote_urls=None):
        if not isinstance(data, dict):
            raise ManifestError(f"{source}: the manifest must be a mapping with app, remotes and modules.")
        self.source = source
        app = data.get("app") if isinstance(data.get("app"), dict) else {}
        self.app_id = app.get("id")
        self.remote_urls = dict(remote_urls or {})
        self.remotes = {entry["key"]: entry for entry in _keyed(data.get("remotes"), "remotes", source)}
        self.modules = data.get("modules") if isinstance(data.get("modules"), dict) else {}
        self.endpoints = {entry["key"]: entry for entry in _keyed(self.modules.get("endpoint"), "endpoint", source)}
        for key, endpoint in self.endpoints.items():
            if endpoint.get("remote") not in self.remotes:
                raise ManifestError(f"{source}: endpoint {key!r} names remote {endpoint.get('remote')!r}, "
                                    f"which remotes does not declare.")

    def remote_base_url(self, remote_key):
        """Return the URL calls to `remote_key` go to: its override, else its default baseUrl."""
        if remote_key in self.remote_urls:
            return self.remote_urls[remote_key].rstrip("/")
        base_url = self.remotes[remote_key].get("baseUrl")
        if isinstance(base_url, dict):
            base_url = base_url.get("default")
        if not isinstance(base_url, str) or not base_url:
            raise ManifestError(f"{self.source}: remote {remote_key!r} has no baseUrl (or baseUrl.default).")
        return base_url.rstrip("/")

    def route(self, module_type, module_key, endpoint_key, path=None):
        """Resolve `endpoint_key` to a Route; `path` is required unless the endpoint has route.path."""
        endpoint = self.endpoints.get(endpoint_key)
        if endpoint is None:
            raise ManifestError(f"{self.source}: module {module_key!r} names endpoint {endpoint_key!r}, "
                                "which is not declared under modules.endpoint.")
        route = endpoint.get("route") if isinstance(endpoint.get("route"), dict) else {}
        path = path or route.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise ManifestError(f"{self.source}: endpoint {endpoint_key!r} has no route.path for {module_key!r}.")
        auth = endpoint.get("auth") if isinstance(endpoint.get("auth"), dict) else {}
        return Route(module_type=module_type, module_key=module_key, endpoint_key=endpoint_key,
                     remote_key=endpoint["remote"], url=self.remote_base_url(endpoint["remote"]) + path,
                     system_token=_enabled(auth, "appSystemToken"), user_token=_enabled(auth, "appUserToken"))

    def trigger_routes(self, event_type):
        """Return the routes of every trigger module that subscribes to `event_type`."""
        return [self.route(TRIGGER, entry["key"], entry["endpoint"])
                for entry in self._module_entries(TRIGGER)
                if event_type in (entry.get("events") or []) and entry.get("endpoint")]

    def scheduled_routes(self):
        return [self.route(SCHEDULED_TRIGGER, entry["key"], entry["endpoint"])
                for entry in self._module_entries(SCHEDULED_TRIGGER) if entry.get("endpoint")]

    def pre_uninstall_routes(self):
        return [self.route(PRE_UNINSTALL, entry["key"], entry["endpoint"])
                for entry in self._module_entries(PRE_UNINSTALL) if entry.get("endpoint")]

    def ui_route(self, module_key, path):
        """Resolve a UI module's `resolver.endpoint` for an invokeRemote call to `path`."""
        for module_type, entries in self.modules.items():
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, dict) and entry.get("key") == module_key:
                    resolver = entry.get("resolver") if isinstance(entry.get("resolver"), dict) else {}
                    if not resolver.get("endpoint"):
                        raise ManifestError(f"{self.source}: module {module_key!r} has no resolver.endpoint.")
                    return self.route(module_type, module_key, resolver["endpoint"], path)
        raise ManifestError(f"{self.source}: no module has the key {module_key!r}.")

    def _module_entries(self, module_type):
        return _keyed(self.modules.get(module_type), module_type, self.source)


def _keyed(entries, section, source):
    if entries is None:
        return []
    if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("key"), str)
                                                 for e in entries):
        raise ManifestError(f"{source}: {section} must be a list of mappings, each with a key.")
    return entries


def _enabled(auth, name):
    setting = auth.get(name)
    return isinstance(setting, dict) and setting.get("enabled") is True


# -- the YAML subset ----------------------------------------------------------------------------

@dataclass
class _Line:
    number: int
    indent: int
    text: str


_INT = re.compile(r"[-+]?[0-9]+")
_FLOW_KEY_END = re.compile(r":(?= |$)|[,\]}]")
_FLOW_VALUE_END = re.compile(r"[,\]}]")
_UNSUPPORTED_START = ("&", "*", "!", "|", ">", "%", "@", "`")


def parse_yaml(text, source="manifest.yml"):
    """Parse the YAML subset of Forge manifests into dicts, lists, strings, ints, booleans and None."""
    lines = _logical_lines(text, source)
    if not lines:
        return None
    value, index = _block(lines, 0, lines[0].indent, source)
    if index < len(lines):
        raise ManifestError(f"{source}:{lines[index].number}: unexpected indentation.")
    return value


def _logical_lines(text, source):
    """Split into non-empty lines without comments, joining flow collections that span lines."""
    lines, pending = [], None
    for number, raw in enumerate(text.splitlines(), start=1):
        if "\t" in raw[:len(raw) - len(raw.lstrip())]:
            raise ManifestError(f"{source}:{number}: tabs are not allowed in YAML indentation.")
        content = _strip_comment(raw).rstrip()
        if pending is not None:
            pending.text += " " + content.strip()
            if _depth(pending.text) <= 0:
                lines.append(pending)
                pending = None
            continue
        if not content.strip() or content.strip() in ("---", "..."):
            continue
        line = _Line(number, len(content) - len(content.lstrip(" ")), content.strip())
        if _depth(line.text) > 0:
            pending = line
        else:
            lines.append(line)
    if pending is not None:
        raise ManifestError(f"{source}:{pending.number}: a [ or {{ is never closed.")
    return lines


def _strip_comment(line):
    quote = None
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1] in " \t"):
            return line[:index]
    return line


def _depth(text):
    depth, quote = 0, None
    for char in text:
        if quote:
            if char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
    return depth


def _is_item(text):
    return text == "-" or text.startswith("- ")


def _block(lines, index, indent, source):
    if _is_item(lines[index].text):
        return _sequence(lines, index, indent, source)
    return _mapping(lines, index, indent, source)


def _sequence(lines, index, indent, source):
    items = []
    while index < len(lines) and lines[index].indent == indent and _is_item(lines[index].text):
        line = lines[index]
        rest = line.text[1:].lstrip(" ")
        if not rest:
            if index + 1 < len(lines) and lines[index + 1].indent > indent:
                item, index = _block(lines, index + 1, lines[index + 1].indent, source)
            else:
                item, index = None, index + 1
        elif _is_item(rest) or _split_key(rest, line.number, source, required=False) is not None:
            # "- key: value" starts a mapping whose further keys are indented like "key", and
            # "- - item" a sequence whose further items are indented like the second "-".
            lines[index] = _Line(line.number, indent + len(line.text) - len(rest), rest)
            item, index = _block(lines, index, lines[index].indent, source)
        else:
            item, index = _value(rest, line.number, source), index + 1
        items.append(item)
    return items, index


def _mapping(lines, index, indent, source):
    mapping = {}
    while index < len(lines) and lines[index].indent == indent and not _is_item(lines[index].text):
        line = lines[index]
        key, rest = _split_key(line.text, line.number, source)
        if key in mapping:
            raise ManifestError(f"{source}:{line.number}: the key {key!r} appears twice.")
        index += 1
        if rest:
            mapping[key] = _value(rest, line.number, source)
        elif index < len(lines) and (lines[index].indent > indent
                                     or (lines[index].indent == indent and _is_item(lines[index].text))):
            mapping[key], index = _block(lines, index, lines[index].indent, source)
        else:
            mapping[key] = None
    if index < len(lines) and lines[index].indent > indent:
        raise ManifestError(f"{source}:{lines[index].number}: unexpected indentation.")
    return mapping, index


def _split_key(text, number, source, required=True):
    """Split "key: value" at the first colon followed by a space or the end; (key, value)."""
    if text[0] in "\"'":
        key, end = _quoted(text, 0, number, source)
        rest = text[end:].lstrip(" ")
        if rest.startswith(":"):
            return key, rest[1:].strip()
    elif text[0] not in "[{":
        for match in re.finditer(r":(?= |$)", text):
            return text[:match.start()].strip(), text[match.end():].strip()
    if required:
        raise ManifestError(f"{source}:{number}: expected 'key: value', found {text[:60]!r}.")
    return None


def _value(text, number, source):
    if text[0] in "[{":
        value, end = _flow(text, 0, number, source)
        if text[end:].strip():
            raise ManifestError(f"{source}:{number}: unexpected text after a flow collection: {text[end:][:40]!r}.")
        return value
    if text[0] in "\"'":
        value, end = _quoted(text, 0, number, source)
        if text[end:].strip():
            raise ManifestError(f"{source}:{number}: unexpected text after a quoted string.")
        return value
    return _plain(text, number, source)


def _plain(text, number, source):
    if text[0] in _UNSUPPORTED_START:
        raise ManifestError(f"{source}:{number}: {text[0]!r} (anchors, aliases, tags, block scalars) is not "
                            "supported by the local site's YAML reader; install PyYAML or rewrite the value.")
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    if text in ("null", "Null", "NULL", "~"):
        return None
    if _INT.fullmatch(text):
        return int(text)
    return text


def _quoted(text, start, number, source):
    quote, index, out = text[start], start + 1, []
    while index < len(text):
        char = text[index]
        if quote == "'" and char == "'":
            if text[index + 1:index + 2] == "'":
                out.append("'")
                index += 2
                continue
            return "".join(out), index + 1
        if quote == '"' and char == "\\":
            escaped = text[index + 1:index + 2]
            out.append({"n": "\n", "t": "\t", '"': '"', "\\": "\\", "/": "/"}.get(escaped, "\\" + escaped))
            index += 2
            continue
        if quote == '"' and char == '"':
            return "".join(out), index + 1
        out.append(char)
        index += 1
    raise ManifestError(f"{source}:{number}: a quoted string is never closed.")


def _flow(text, index, number, source):
    """Parse a flow collection starting at text[index]; return (value, index after it)."""
    closing = "]" if text[index] == "[" else "}"
    result = [] if closing == "]" else {}
    index += 1
    while True:
        index = _skip_spaces(text, index)
        if index >= len(text):
            raise ManifestError(f"{source}:{number}: a {text[index - 1]!r} collection is never closed.")
        if text[index] == closing:
            return result, index + 1
        if closing == "}":
            key, index = _flow_item(text, index, number, source, key=True)
            index = _skip_spaces(text, index)
            if text[index:index + 1] != ":":
                raise ManifestError(f"{source}:{number}: expected ':' after the key {key!r} in a flow mapping.")
            value, index = _flow_item(text, _skip_spaces(text, index + 1), number, source)
            result[key] = value
        else:
            value, index = _flow_item(text, index, number, source)
            result.append(value)
        index = _skip_spaces(text, index)
        if text[index:index + 1] == ",":
            index += 1
        elif text[index:index + 1] != closing:
            raise ManifestError(f"{source}:{number}: expected ',' or {closing!r} in a flow collection.")


def _flow_item(text, index, number, source, key=False):
    if text[index] in "[{":
        return _flow(text, index, number, source)
    if text[index] in "\"'":
        return _quoted(text, index, number, source)
    # A plain scalar in a flow collection ends at ",", "]", "}" or, for keys, at ": ".
    match = (_FLOW_KEY_END if key else _FLOW_VALUE_END).search(text, index)
    end = match.start() if match else len(text)
    plain = text[index:end].strip()
    if key:
        return plain, end
    return (_plain(plain, number, source) if plain else None), end


def _skip_spaces(text, index):
    while index < len(text) and text[index] == " ":
        index += 1
    return index

