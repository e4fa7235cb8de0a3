"""Start-up configuration: what stops the add-on, and with which sentence."""

import pytest

from addon.config import ConfigError, load_config
from addon.crypto import SecretBox, SecretBoxError

PRODUCTION = {"ADDON_ENV": "production", "ADDON_BASE_URL": "https://chat.example.com",
              "ADDON_SECRET_KEY": "production-secret-key-0123456789"}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ("ADDON_ENV", "ADDON_BASE_URL", "ADDON_SECRET_KEY", "DATABASE_URL", "CONNECT_ALLOWED_HOSTS"):
        monkeypatch.delenv(name, raising=False)


def test_production_requires_secret_key():
    overrides = dict(PRODUCTION, ADDON_SECRET_KEY="")
    with pytest.raises(ConfigError, match="ADDON_SECRET_KEY is missing"):
        load_config(overrides)


def test_production_requires_base_url():
    overrides = dict(PRODUCTION, ADDON_BASE_URL="")
    with pytest.raises(ConfigError, match="ADDON_BASE_URL is missing"):
        load_config(overrides)


def test_production_is_the_default_environment(monkeypatch):
    monkeypatch.setenv("ADDON_BASE_URL", "https://chat.example.com")
    with pytest.raises(ConfigError, match="ADDON_SECRET_KEY"):
        load_config()


@pytest.mark.parametrize("url", ["http://chat.example.com", "http://10.0.0.5:8000"])
def test_base_url_requires_https_off_loopback(url):
    with pytest.raises(ConfigError, match="must use https"):
        load_config(dict(PRODUCTION, ADDON_BASE_URL=url))


@pytest.mark.parametrize("url", ["http://127.0.0.1:5000", "http://localhost:5000/chat", "http://[::1]:5000"])
def test_base_url_allows_http_on_loopback(url):
    assert load_config(dict(PRODUCTION, ADDON_BASE_URL=url))["ADDON_BASE_URL"] == url


def test_base_url_rejects_query():
    with pytest.raises(ConfigError, match="query"):
        load_config(dict(PRODUCTION, ADDON_BASE_URL="https://chat.example.com/?a=b"))


def test_base_url_loses_trailing_slash():
    config = load_config(dict(PRODUCTION, ADDON_BASE_URL="https://chat.example.com/chat/"))
    assert config["ADDON_BASE_URL"] == "https://chat.example.com/chat"


def test_unknown_environment_rejected():
    with pytest.raises(ConfigError, match="ADDON_ENV='staging'"):
        load_config(dict(PRODUCTION, ADDON_ENV="staging"))


def test_allowed_hosts_default_to_atlassian():
    assert load_config(PRODUCTION)["CONNECT_ALLOWED_HOSTS"] == ["*.atlassian.net", "*.jira.com"]


def test_secret_box_round_trip():
    box = SecretBox("first-key-0123456789")
    token = box.encrypt("shared-secret-value")
    assert "shared-secret-value" not in token
    assert box.decrypt(token) == "shared-secret-value"


def test_secret_box_rotation_keeps_old_key():
    old_token = SecretBox("old-key-0123456789").encrypt("value")
    assert SecretBox("new-key-0123456789,old-key-0123456789").decrypt(old_token) == "value"


def test_secret_box_wrong_key_names_setting():
    token = SecretBox("old-key-0123456789").encrypt("value")
    with pytest.raises(SecretBoxError, match="ADDON_SECRET_KEY"):
        SecretBox("new-key-0123456789").decrypt(token)


def test_request_log_redacts_jwt(caplog):
    import logging

    from addon.logs import install_redaction

    install_redaction()
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        logging.getLogger("werkzeug").info('"%s" 200', "GET /portal/footer?lic=none&jwt=eyJhbGc.eyJpc3M.c2ln&cv=1 HTTP/1.1")
    assert "eyJ" not in caplog.text
    assert "jwt=[redacted]&cv=1" in caplog.text


def test_frame_ancestors_read_from_environment(monkeypatch):
    monkeypatch.setenv("ADDON_FRAME_ANCESTORS", "http://127.0.0.1:2990")
    assert load_config(PRODUCTION)["ADDON_FRAME_ANCESTORS"] == "http://127.0.0.1:2990"


def test_trusted_proxies_read_from_environment(monkeypatch):
    monkeypatch.setenv("ADDON_TRUSTED_PROXIES", "1")
    assert load_config(PRODUCTION)["ADDON_TRUSTED_PROXIES"] == 1


def test_every_documented_variable_is_read(monkeypatch):
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", readme, flags=re.MULTILINE))
    config_source = (Path(__file__).resolve().parent.parent / "addon" / "config.py").read_text(encoding="utf-8")
    unread = sorted(name for name in documented if f'get("{name}"' not in config_source)
    assert unread == []
