"""Installing an app into the local Jira site: descriptor checks and signed lifecycle callbacks."""

import json

import jwt
import requests
from atlassian_jwt.url_utils import hash_url
from cryptography.hazmat.primitives import serialization

from .test_devsite_appstub import APP_KEY, installed_stub, stub_app  # noqa: F401 (fixtures)


def _install(jira_site, stub, expected=(200,)):
    return jira_site.control("POST", "/_devsite/apps/install", json={"descriptor_url": stub.descriptor_url},
                             expected=expected)


def _verify_rs256(jira_site, stub, call):
    token = call["headers"]["Authorization"].removeprefix("JWT ")
    kid = jwt.get_unverified_header(token)["kid"]
    pem = requests.get(f"{jira_site.url}/_devsite/install-keys/{kid}", timeout=5).text
    key = serialization.load_pem_public_key(pem.encode())
    return jwt.decode(token, key, algorithms=["RS256"], audience=stub.base_url)


def test_install_payload(installed_stub, jira_site):
    payload = installed_stub.installed_payload
    assert payload["key"] == APP_KEY
    assert payload["eventType"] == "installed"
    assert payload["baseUrl"] == jira_site.url
    assert payload["productType"] == "jira"
    assert payload["sharedSecret"]
    assert payload["oauthClientId"]
    assert payload["clientKey"] == "jira:devsite-0001"


def test_install_signed_rs256(installed_stub, jira_site):
    call = installed_stub.received("/lifecycle/installed")[-1]
    claims = _verify_rs256(jira_site, installed_stub, call)
    assert claims["iss"] == installed_stub.installed_payload["clientKey"]
    assert claims["qsh"] == hash_url("POST", "/lifecycle/installed")
    assert claims["exp"] - claims["iat"] == 180


def test_install_unknown_kid(jira_site):
    response = requests.get(f"{jira_site.url}/_devsite/install-keys/nope", timeout=5)
    assert response.status_code == 404


def test_reinstall_new_secret(installed_stub, jira_site):
    first = installed_stub.shared_secret
    _install(jira_site, installed_stub)
    assert installed_stub.shared_secret != first


def test_install_failure_not_installed(jira_site, stub_app):
    stub_app.install_status = 500
    result = _install(jira_site, stub_app)
    assert result["status"] == 500
    assert jira_site.control("GET", "/_devsite/apps") == []


def test_install_rejects_bad_descriptor(jira_site, stub_app):
    stub_app.descriptor["authentication"] = {"type": "none"}
    response = requests.post(f"{jira_site.url}/_devsite/apps/install",
                             json={"descriptor_url": stub_app.descriptor_url}, timeout=10)
    assert response.status_code == 400
    assert "authentication" in response.json()["error"]


def test_uninstall_signed_rs256(installed_stub, jira_site):
    result = jira_site.control("POST", f"/_devsite/apps/{APP_KEY}/uninstall")
    call = installed_stub.received("/lifecycle/uninstalled")[-1]
    claims = _verify_rs256(jira_site, installed_stub, call)
    assert result["status"] == 204
    assert json.loads(call["body"])["eventType"] == "uninstalled"
    assert "sharedSecret" not in json.loads(call["body"])
    assert claims["qsh"] == hash_url("POST", "/lifecycle/uninstalled")


def test_disable_signed_hs256(installed_stub, jira_site):
    jira_site.control("POST", f"/_devsite/apps/{APP_KEY}/disable")
    call = installed_stub.received("/lifecycle/disabled")[-1]
    token = call["headers"]["Authorization"].removeprefix("JWT ")
    claims = jwt.decode(token, installed_stub.shared_secret, algorithms=["HS256"])
    assert claims["qsh"] == hash_url("POST", "/lifecycle/disabled")
    assert json.loads(call["body"])["eventType"] == "disabled"
