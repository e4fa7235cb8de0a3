"""App installation: descriptor checks and the lifecycle callbacks, as Jira Cloud sends them.

`installed` and `uninstalled` are RS256-signed with the site's install key (header `kid`, claims
iss = clientKey, aud = the app's baseUrl, qsh over the callback URL); `enabled` and `disabled`
are HS256-signed with the sharedSecret. Every install, reinstall included, gets a new
sharedSecret. The app counts as installed only when the `installed` callback returns 200 or 204.
"""

import ipaddress
import json
import logging
import re
import secrets
from urllib.parse import urlsplit

import requests

from . import connect_auth
from .records import App, User
from .state import SiteError, site

log = logging.getLogger(__name__)

APP_KEY_PATTERN = re.compile(r"^[a-zA-Z0-9-._]+$")
APP_KEY_MAX_CHARS = 80
BASE_URL_MAX_CHARS = 200
KNOWN_SCOPES = {"NONE", "READ", "WRITE", "DELETE", "PROJECT_ADMIN", "ADMIN", "ACT_AS_USER",
                "ACCESS_EMAIL_ADDRESSES"}
DESCRIPTOR_TIMEOUT_SECS = 10
CALLBACK_TIMEOUT_SECS = 30
RESPONSE_EXCERPT_CHARS = 500


def is_loopback_host(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_descriptor(descriptor):
    """Raise SiteError naming the first descriptor field Jira would reject."""
    if not isinstance(descriptor, dict):
        raise SiteError("The descriptor is not a JSON object.")
    key = descriptor.get("key")
    if not isinstance(key, str) or not APP_KEY_PATTERN.match(key) or len(key) > APP_KEY_MAX_CHARS:
        raise SiteError(f"The descriptor key {key!r} is invalid: use 1 to {APP_KEY_MAX_CHARS} of a-z A-Z 0-9 - . _")
    base_url = descriptor.get("baseUrl")
    if not isinstance(base_url, str) or len(base_url) > BASE_URL_MAX_CHARS:
        raise SiteError(f"The descriptor baseUrl {base_url!r} is missing or longer than {BASE_URL_MAX_CHARS} characters.")
    parts = urlsplit(base_url)
    # Jira Cloud requires https; this local site also accepts http on loopback for development.
    if not (parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(parts.hostname or ""))) or not parts.netloc:
        raise SiteError(f"The descriptor baseUrl {base_url!r} must be an https URL (http is accepted on loopback only).")
    if (descriptor.get("authentication") or {}).get("type", "").lower() != "jwt":
        raise SiteError("The descriptor authentication type must be jwt.")
    installed = (descriptor.get("lifecycle") or {}).get("installed")
    if not isinstance(installed, str) or not installed.startswith("/"):
        raise SiteError("The descriptor needs lifecycle.installed, a URL relative to baseUrl, for jwt authentication.")
    scopes = descriptor.get("scopes", [])
    unknown = [s for s in scopes if str(s).upper() not in KNOWN_SCOPES]
    if unknown:
        raise SiteError(f"The descriptor scopes {unknown} are not Jira scopes.")
    modules = descriptor.get("modules", {})
    if not isinstance(modules, dict):
        raise SiteError("The descriptor modules must be an object of module type to module list.")
    for entry in modules.get("webhooks", []):
        if not entry.get("event") or not entry.get("url"):
            raise SiteError(f"A webhooks module needs event and url: {entry!r}.")


def fetch_descriptor(descriptor_url):
    if not is_loopback_host(urlsplit(descriptor_url).hostname or ""):
        raise SiteError(f"The descriptor URL {descriptor_url!r} is not on loopback; this local site only calls loopback.")
    try:
        response = requests.get(descriptor_url, timeout=DESCRIPTOR_TIMEOUT_SECS)
    except requests.RequestException as exc:
        raise SiteError(f"Fetching the descriptor {descriptor_url} failed: {type(exc).__name__}.") from None
    if response.status_code != 200:
        raise SiteError(f"Fetching the descriptor {descriptor_url} returned HTTP {response.status_code}.")
    try:
        return response.json()
    except json.JSONDecodeError:
        raise SiteError(f"The descriptor at {descriptor_url} is not valid JSON.") from None


def _payload(app_key, event_type, shared_secret=None, oauth_client_id=None):
    payload = {
        "key": app_key,
        "clientKey": site.client_key,
        "baseUrl": site.base_url,
        "displayUrl": site.base_url,
        "displayUrlServicedeskHelpCenter": site.base_url,
        "productType": "jira",
        "description": "Local development Jira site",
        "eventType": event_type,
    }
    if shared_secret:
        payload["sharedSecret"] = shared_secret
    if oauth_client_id:
        payload["oauthClientId"] = oauth_client_id
    return payload


def _post(url, payload, authorization):
    """POST a lifecycle payload; return (status or None, response text excerpt)."""
    try:
        response = requests.post(url, json=payload, timeout=CALLBACK_TIMEOUT_SECS,
                                 headers={"Authorization": authorization, "User-Agent": "Atlassian HttpClient"})
    except requests.RequestException as exc:
        log.warning("Lifecycle callback %s failed: %s", url, type(exc).__name__)
        return None, f"connection failed: {type(exc).__name__}"
    return response.status_code, response.text[:RESPONSE_EXCERPT_CHARS]


def install(descriptor_url):
    """Install (or reinstall) the app whose descriptor is at `descriptor_url`."""
    descriptor = fetch_descriptor(descriptor_url)
    check_descriptor(descriptor)
    key, base_url = descriptor["key"], descriptor["baseUrl"].rstrip("/")
    previous = site.app(key)
    shared_secret = secrets.token_urlsafe(48)
    oauth_client_id = previous.oauth_client_id if previous else secrets.token_hex(16)

    url = base_url + descriptor["lifecycle"]["installed"]
    token = connect_auth.install_token(base_url, "POST", url)
    status, text = _post(url, _payload(key, "installed", shared_secret, oauth_client_id), f"JWT {token}")
    log.info("Install of app %s: installed callback returned %s", key, status)

    if status in (200, 204):
        with site.lock:
            site.apps[key] = App(key, descriptor, descriptor_url, base_url, site.client_key,
                                 shared_secret, oauth_client_id, enabled=True, installed=True)
            app = site.apps[key]
            name = descriptor.get("name") or key
            site.users[app.account_id] = User(app.account_id, name, "", "app", ["atlassian-addons"],
                                              locale="en_US", time_zone="Etc/UTC")
    return {"status": status, "client_key": site.client_key, "app_key": key, "body": text}


def _installed_app(app_key):
    app = site.app(app_key)
    if app is None:
        raise SiteError(f"The app {app_key!r} was never installed on this site.")
    return app


def uninstall(app_key):
    app = _installed_app(app_key)
    with site.lock:
        app.installed, app.enabled = False, False
        if app.account_id in site.users:
            site.users[app.account_id].active = False
    path = (app.descriptor.get("lifecycle") or {}).get("uninstalled")
    if not path:
        return {"status": None}
    url = app.base_url + path
    token = connect_auth.install_token(app.base_url, "POST", url)
    status, text = _post(url, _payload(app.key, "uninstalled"), f"JWT {token}")
    log.info("Uninstall of app %s: uninstalled callback returned %s", app.key, status)
    return {"status": status, "body": text}


def set_enabled(app_key, enabled):
    app = _installed_app(app_key)
    if not app.installed:
        raise SiteError(f"The app {app_key!r} is uninstalled; install it again first.")
    with site.lock:
        app.enabled = enabled
    event_type = "enabled" if enabled else "disabled"
    path = (app.descriptor.get("lifecycle") or {}).get(event_type)
    if not path:
        return {"status": None}
    url = app.base_url + path
    token = connect_auth.app_token(app, "POST", url)
    status, text = _post(url, _payload(app.key, event_type), f"JWT {token}")
    log.info("App %s %s: callback returned %s", app.key, event_type, status)
    return {"status": status, "body": text}
