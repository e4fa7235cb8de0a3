"""Configuration read from the environment, validated once at start-up.

Layering: defaults below, then the environment, then the overrides a test passes to
`create_app`. A value that would make the add-on insecure or unreachable stops start-up with a
sentence naming the variable.
"""

import ipaddress
import os
import re
import secrets
from pathlib import Path
from urllib.parse import urlsplit

ATLASSIAN_INSTALL_KEYS_URL = "https://connect-install-keys.atlassian.com/"
ATLASSIAN_ALL_JS_URL = "https://connect-cdn.atl-paas.net/all.js"
ATLASSIAN_OAUTH_TOKEN_URL = "https://oauth-2-authorization-server.services.atlassian.com/oauth2/token"
DEFAULT_ALLOWED_HOSTS = "*.atlassian.net,*.jira.com"
# The key set that signs Forge Invocation Tokens (Forge Remote docs, "Verifying remote
# requests"), and the only API host that Atlassian's tokens name in production.
ATLASSIAN_FORGE_JWKS_URL = "https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json"
ATLASSIAN_FORGE_API_BASE = "https://api.atlassian.com"
# A Forge app id is an ARI such as ari:cloud:ecosystem::app/8db33809-1f32-48bb-8c52-5877dab48107.
FORGE_APP_ID_PATTERN = re.compile(r"ari:cloud:ecosystem::app/[A-Za-z0-9-]{1,64}")

# The environments the add-on supports. Only "development" and "test" may run without
# ADDON_SECRET_KEY, and only "test" accepts overrides meant for tests.
ENVIRONMENTS = ("production", "development", "test")

INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"


class ConfigError(RuntimeError):
    """A configuration value is missing or invalid; the message names the variable."""


def is_loopback_host(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_base_url(value):
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"ADDON_BASE_URL={value!r} is not an absolute http(s) URL; "
            "set it to the public address of the add-on, e.g. https://chat.example.com"
        )
    if parts.scheme != "https" and not is_loopback_host(parts.hostname):
        raise ConfigError(
            f"ADDON_BASE_URL={value!r} must use https unless its host is loopback; "
            "Jira Cloud only talks to add-ons over https"
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"ADDON_BASE_URL={value!r} must not carry a query or a fragment")
    return value.rstrip("/")


def _check_public_url(name, value, *, origin_only=False):
    """Return `value` without its trailing slash if it is an https URL (http on loopback), else raise."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name}={value!r} is not an absolute http(s) URL")
    if parts.scheme != "https" and not is_loopback_host(parts.hostname):
        raise ConfigError(f"{name}={value!r} must use https unless its host is loopback")
    if origin_only and parts.path.strip("/"):
        raise ConfigError(
            f"{name}={value!r} must be a scheme and host only, e.g. https://api.atlassian.com"
        )
    return value.rstrip("/")


def _forge_config(get):
    """Read the FORGE_* variables; FORGE_APP_ID is required once FORGE_ENABLED is true."""
    enabled = get("FORGE_ENABLED", "false") not in (False, "false", "0", "")
    app_id = get("FORGE_APP_ID") or None
    if enabled and not app_id:
        raise ConfigError(
            "FORGE_APP_ID is missing; with FORGE_ENABLED=true set it to the app id of manifest.yml, "
            "e.g. ari:cloud:ecosystem::app/<uuid>"
        )
    if app_id and not FORGE_APP_ID_PATTERN.fullmatch(app_id):
        raise ConfigError(
            f"FORGE_APP_ID={app_id!r} is not a Forge app id; expected ari:cloud:ecosystem::app/<uuid>"
        )
    allowed = [
        _check_public_url("FORGE_API_BASE_ALLOWED", origin.strip(), origin_only=True)
        for origin in get("FORGE_API_BASE_ALLOWED", ATLASSIAN_FORGE_API_BASE).split(",")
        if origin.strip()
    ]
    if enabled and not allowed:
        raise ConfigError("FORGE_API_BASE_ALLOWED is empty; name at least https://api.atlassian.com")
    preference = str(get("JIRA_API_PREFERENCE", "forge")).strip().lower()
    if preference not in ("forge", "connect"):
        raise ConfigError(f"JIRA_API_PREFERENCE={preference!r} is invalid; use forge or connect")
    return {
        # Serve the Connect descriptor, lifecycle and webhooks (existing Connect installs).
        "CONNECT_ENABLED": get("CONNECT_ENABLED", "true") not in (False, "false", "0", ""),
        # The API ("forge" or "connect") used for the Jira calls of a site installed both ways.
        "JIRA_API_PREFERENCE": preference,
        "FORGE_ENABLED": enabled,
        "FORGE_APP_ID": app_id,
        "FORGE_JWKS_URL": _check_public_url("FORGE_JWKS_URL", get("FORGE_JWKS_URL", ATLASSIAN_FORGE_JWKS_URL)),
        "FORGE_API_BASE_ALLOWED": allowed,
        # Isolated Cloud: a URL containing {IC_LABEL}; unset, tokens carrying icLabel are rejected.
        "FORGE_IC_JWKS_URL_TEMPLATE": get("FORGE_IC_JWKS_URL_TEMPLATE") or None,
    }


def _dev_secret_key():
    """Return a per-checkout secret for development, created on first use."""
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    path = INSTANCE_DIR / "dev-secret-key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def load_config(overrides=None):
    """Build the configuration dict from defaults, the environment and `overrides`."""
    env = dict(os.environ)
    overrides = dict(overrides or {})
    environment = overrides.pop("ADDON_ENV", None) or env.get("ADDON_ENV", "production")
    if environment not in ENVIRONMENTS:
        raise ConfigError(f"ADDON_ENV={environment!r} is not one of {', '.join(ENVIRONMENTS)}")

    def get(name, default=None):
        if name in overrides:
            return overrides[name]
        return env.get(name, default)

    base_url = get("ADDON_BASE_URL")
    if not base_url:
        if environment == "production":
            raise ConfigError("ADDON_BASE_URL is missing; set it to the add-on's public https URL")
        base_url = "http://127.0.0.1:5000"

    secret_key = get("ADDON_SECRET_KEY")
    if not secret_key:
        if environment == "production":
            raise ConfigError(
                "ADDON_SECRET_KEY is missing; it encrypts the shared secrets at rest. "
                "Generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        secret_key = _dev_secret_key()
    if len(secret_key) < 16:
        raise ConfigError("ADDON_SECRET_KEY is too short; use at least 16 random characters")

    database_url = get("DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'addon.sqlite3'}"

    allowed_hosts = [
        pattern.strip().lower()
        for pattern in get("CONNECT_ALLOWED_HOSTS", DEFAULT_ALLOWED_HOSTS).split(",")
        if pattern.strip()
    ]

    config = {
        "ADDON_ENV": environment,
        "ADDON_BASE_URL": _check_base_url(base_url),
        "ADDON_KEY": get("ADDON_KEY", "com.example.support-chat"),
        "ADDON_SECRET_KEY": secret_key,
        "SECRET_KEY": secret_key,
        "DATABASE_URL": database_url,
        "CONNECT_INSTALL_KEYS_URL": get("CONNECT_INSTALL_KEYS_URL", ATLASSIAN_INSTALL_KEYS_URL),
        "CONNECT_ALLOWED_HOSTS": allowed_hosts,
        "CONNECT_ALL_JS_URL": get("CONNECT_ALL_JS_URL", ATLASSIAN_ALL_JS_URL),
        "CONNECT_OAUTH_TOKEN_URL": get("CONNECT_OAUTH_TOKEN_URL", ATLASSIAN_OAUTH_TOKEN_URL),
        # Leeway on exp/iat of incoming tokens: Atlassian recommends "a little leeway", no more
        # than a few minutes, so clock skew between Jira and us does not reject good tokens.
        "JWT_LEEWAY_SECS": int(get("JWT_LEEWAY_SECS", "30")),
        "REDIS_URL": get("REDIS_URL") or None,
        # The start of every Redis channel name. Redis pub/sub ignores the database number, so two
        # deployments on one Redis server need different prefixes.
        "REDIS_CHANNEL_PREFIX": get("REDIS_CHANNEL_PREFIX") or "supportchat:",
        # Hosts allowed to frame the iframe pages (Content-Security-Policy frame-ancestors).
        "ADDON_FRAME_ANCESTORS": get("ADDON_FRAME_ANCESTORS", "https://*.atlassian.net https://*.jira.com"),
        # Number of reverse proxies whose X-Forwarded-* headers are trusted (0: none).
        "ADDON_TRUSTED_PROXIES": int(get("ADDON_TRUSTED_PROXIES", "0")),
        "WEBHOOK_WORKERS": int(get("WEBHOOK_WORKERS", "2")),
        # The comment outbox: a failed write waits OUTBOX_RETRY_BASE_SECS, doubling up to
        # OUTBOX_RETRY_MAX_SECS; OUTBOX_POLL_SECS bounds the wait for due messages without a wake-up.
        "OUTBOX_AUTOSTART": get("OUTBOX_AUTOSTART", "true") not in (False, "false", "0", ""),
        "OUTBOX_RETRY_BASE_SECS": float(get("OUTBOX_RETRY_BASE_SECS", "5")),
        "OUTBOX_RETRY_MAX_SECS": float(get("OUTBOX_RETRY_MAX_SECS", "300")),
        "OUTBOX_POLL_SECS": float(get("OUTBOX_POLL_SECS", "30")),
        # Conversations whose comments one process writes at the same time; each writer may hold
        # two database connections while it writes.
        "OUTBOX_WRITERS": int(get("OUTBOX_WRITERS", "4")),
        # Maximum wait of an HTTP long-poll, and of a new websocket for its first (auth) frame.
        "LONG_POLL_SECS": float(get("LONG_POLL_SECS", "25")),
        "WS_AUTH_TIMEOUT_SECS": float(get("WS_AUTH_TIMEOUT_SECS", "10")),
        # Time zone of the times written in front of messages batched into one comment.
        "OUTBOX_TIME_ZONE": get("OUTBOX_TIME_ZONE", "Europe/Paris"),
        "JIRA_TIMEOUT_SECS": float(get("JIRA_TIMEOUT_SECS", "10")),
        # Atlassian's guidance for rate-limited calls: 4 retries, 5 s first delay doubling up
        # to 30 s, and Retry-After obeyed (capped so that a bad header cannot stall a worker).
        "JIRA_MAX_RETRIES": int(get("JIRA_MAX_RETRIES", "4")),
        "JIRA_RETRY_BASE_SECS": float(get("JIRA_RETRY_BASE_SECS", "5")),
        "JIRA_RETRY_MAX_SECS": float(get("JIRA_RETRY_MAX_SECS", "30")),
        "JIRA_RETRY_AFTER_MAX_SECS": float(get("JIRA_RETRY_AFTER_MAX_SECS", "60")),
        "INSTALL_KEY_TIMEOUT_SECS": float(get("INSTALL_KEY_TIMEOUT_SECS", "5")),
        # The SLA sweeper (addon.sla.sweeper): on or off in this process, and its period in seconds.
        "SLA_SWEEPER": get("SLA_SWEEPER", "true") not in (False, "false", "0", ""),
        "SLA_SWEEP_INTERVAL_SECS": float(get("SLA_SWEEP_INTERVAL_SECS", "0.5")),
        # Threads per process that run SLA escalation actions (addon.sla.action_pool).
        "SLA_ACTION_WORKERS": int(get("SLA_ACTION_WORKERS", "4")),
        # The knowledge-base copy (addon.faq.knowledge_base): on or off in this process (off by
        # default in tests), how often its job wakes, and how old a site's last sync must be.
        "FAQ_KB_SYNC_JOB": get("FAQ_KB_SYNC_JOB", "false" if environment == "test" else "true")
        not in (False, "false", "0", ""),
        "FAQ_KB_SYNC_TICK_SECS": float(get("FAQ_KB_SYNC_TICK_SECS", "300")),
        "FAQ_KB_SYNC_INTERVAL_SECS": float(get("FAQ_KB_SYNC_INTERVAL_SECS", "3600")),
        # The job that attaches the public transcript to resolved requests (addon.chat.transcript_attach):
        # on or off (off by default in tests), how often it wakes, and its first retry delay.
        "TRANSCRIPT_ATTACH_JOB": get("TRANSCRIPT_ATTACH_JOB", "false" if environment == "test" else "true")
        not in (False, "false", "0", ""),
        "TRANSCRIPT_ATTACH_TICK_SECS": float(get("TRANSCRIPT_ATTACH_TICK_SECS", "30")),
        "TRANSCRIPT_ATTACH_RETRY_BASE_SECS": float(get("TRANSCRIPT_ATTACH_RETRY_BASE_SECS", "30")),
        # The re-offer of unclaimed chats (addon.workspace.jobs): on or off in this process, and how often it wakes.
        "ROUTING_REOFFER_JOB": get("ROUTING_REOFFER_JOB", "true") not in (False, "false", "0", ""),
        "ROUTING_REOFFER_TICK_SECS": float(get("ROUTING_REOFFER_TICK_SECS", "10")),
        **_forge_config(get),
        "BABEL_DEFAULT_LOCALE": "fr",
        "BABEL_SUPPORTED_LOCALES": ["fr", "en"],
    }
    if config["OUTBOX_WRITERS"] < 1:
        raise ConfigError(f"OUTBOX_WRITERS={config['OUTBOX_WRITERS']} must be 1 or more")
    if config["SLA_ACTION_WORKERS"] < 1:
        raise ConfigError(f"SLA_ACTION_WORKERS={config['SLA_ACTION_WORKERS']} must be 1 or more")
    for name in ("FAQ_KB_SYNC_TICK_SECS", "FAQ_KB_SYNC_INTERVAL_SECS"):
        if not config[name] > 0:
            raise ConfigError(f"{name}={config[name]} must be a number of seconds above 0")
    if overrides.get("SLA_NOW") is not None and environment != "test":
        raise ConfigError("SLA_NOW replaces the clock of SLA deadlines; it is accepted only with ADDON_ENV=test")
    for name, value in overrides.items():
        config.setdefault(name, value)
    return config
