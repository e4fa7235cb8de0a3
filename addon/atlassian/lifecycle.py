"""The Connect lifecycle callbacks: installed, uninstalled, enabled, disabled.

`installed` and `uninstalled` are trusted only when Atlassian signed them with RS256 (signed
install): the old shared secret proves nothing about a reinstall. `enabled` and `disabled` carry
an HS256 token signed with the current shared secret. Every rejection leaves the database as it was.
"""

import logging
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, request

from ..config import is_loopback_host
from ..errors import AuthenticationError, InvalidInput
from . import installations
from .auth import authenticate, find_tokens, verify_install_token

log = logging.getLogger(__name__)

bp = Blueprint("lifecycle", __name__, url_prefix="/lifecycle")

# Maximum length of each payload field, matching the installations columns.
_MAX_LENGTHS = {
    "clientKey": 255, "baseUrl": 255, "displayUrl": 255, "displayUrlServicedeskHelpCenter": 255,
    "productType": 40, "oauthClientId": 255, "installationId": 255, "sharedSecret": 1024,
}


@bp.post("/installed")
def installed():
    claims = verify_install_token()
    payload = _payload("installed", required=("clientKey", "baseUrl", "sharedSecret"))
    _check_payload_matches(payload, claims)

    # NOTE: the token signs the method and path, not the body. Whoever holds a captured install
    # token can resend it with another sharedSecret until its exp; only an older iat is refused.
    installation = installations.save_install(payload, int(claims["iat"]))
    log.info("Installed on client_key %s (%s)", installation.client_key, installation.base_url)
    return "", 204


@bp.post("/uninstalled")
def uninstalled():
    claims = verify_install_token()
    payload = _payload("uninstalled", required=("clientKey", "baseUrl"))
    _check_payload_matches(payload, claims)

    if installations.mark_uninstalled(payload["clientKey"], int(claims["iat"])):
        log.info("Uninstalled from client_key %s", payload["clientKey"])
    return "", 204


@bp.post("/enabled")
def enabled():
    return _set_enabled("enabled", True)


@bp.post("/disabled")
def disabled():
    # Jira sends `disabled` without any token after an uninstall. Nothing is left to disable
    # then, so it is acknowledged and ignored. A site that is still installed needs a token.
    if not find_tokens():
        client_key = _client_key_in_body()
        if installations.get_active_installation(client_key) is None:
            log.info("Ignored unsigned disabled callback for uninstalled or unknown client_key %s",
                     client_key)
            return "", 204
    return _set_enabled("disabled", False)


def _set_enabled(event, value):
    g.connect = authenticate("computed")
    client_key = _client_key_in_body()
    if client_key is not None and client_key != g.connect.client_key:
        _reject(f"The {event} payload's clientKey differs from the JWT iss claim.")

    installations.set_enabled(g.connect.client_key, value)
    log.info("App %s on client_key %s", event, g.connect.client_key)
    return "", 204


def _payload(event, required):
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        raise InvalidInput(f"The {event} callback body must be a JSON object.")
    for field in required:
        value = payload.get(field)
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(f"The {event} payload is missing {field}.")
    for field, max_length in _MAX_LENGTHS.items():
        value = payload.get(field)
        if value is not None and not isinstance(value, str):
            raise InvalidInput(f"The {event} payload field {field} is invalid: expected a string.")
        if value is not None and len(value) > max_length:
            raise InvalidInput(f"The {event} payload field {field} is longer than {max_length} characters.")
    event_type = payload.get("eventType")
    if event_type is not None and event_type != event:
        raise InvalidInput(f"The {event} payload eventType is invalid: expected {event!r}, got {event_type!r}.")
    return payload


def _check_payload_matches(payload, claims):
    """Bind the unsigned body to the signed token and to this app, and allow only Jira hosts."""
    if payload["clientKey"] != claims["iss"]:
        _reject("The payload's clientKey differs from the JWT iss claim.")

    app_key = current_app.config["ADDON_KEY"]
    if payload.get("key") != app_key:
        _reject(f"The payload's key is not this app's key {app_key!r}.")

    base_url = urlsplit(payload["baseUrl"])
    host = (base_url.hostname or "").lower()
    if not _host_allowed(host):
        _reject(f"The payload's baseUrl host {host!r} is not in CONNECT_ALLOWED_HOSTS.")
    if base_url.scheme != "https" and not (base_url.scheme == "http" and is_loopback_host(host)):
        _reject("The payload's baseUrl must use https.")
    if base_url.username is not None or base_url.query or base_url.fragment:
        _reject("The payload's baseUrl must be a plain site URL, without user, query or fragment.")


def _host_allowed(host):
    # A pattern "*.atlassian.net" allows any subdomain of atlassian.net, not atlassian.net itself.
    for pattern in current_app.config["CONNECT_ALLOWED_HOSTS"]:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern:
            return True
    return False


def _client_key_in_body():
    payload = request.get_json(silent=True)
    client_key = payload.get("clientKey") if isinstance(payload, dict) else None
    return client_key if isinstance(client_key, str) and client_key else None


def _reject(message):
    log.info("Rejected %s %s: %s", request.method, request.path, message)
    raise AuthenticationError(message)
