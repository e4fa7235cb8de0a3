"""The local site as a Forge host: its JWKS, the FITs it mints with Atlassian's documented claim
set and headers, each forged variant's defect, and key rotation. Checked with PyJWT alone."""

import base64
import json

import jwt
import pytest
import requests

APP_ID = "ari:cloud:ecosystem::app/5b0c6d1e-8f2a-4c3b-9d4e-0a1b2c3d4e5f"


def _mint(jira_site, **body):
    body.setdefault("app_id", APP_ID)
    return jira_site.control("POST", "/_devsite/forge/fit", json=body)


def _jwks(jira_site):
    return requests.get(f"{jira_site.url}/forge/jwks.json", timeout=5)


def _verify(jira_site, token):
    keys = jwt.PyJWKSet.from_dict(_jwks(jira_site).json())
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(key for key in keys.keys if key.key_id == kid)
    return jwt.decode(token, key.key, algorithms=["RS256"], audience=APP_ID, issuer="forge/invocation-token")


def _header(token):
    segment = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def test_jwks_publishes_rsa_keys(jira_site):
    response = _jwks(jira_site)

    assert response.status_code == 200
    assert "max-age=" in response.headers["Cache-Control"]
    keys = response.json()["keys"]
    assert keys
    for key in keys:
        assert key["kty"] == "RSA"
        assert key["alg"] == "RS256"
        assert key["use"] == "sig"
        assert key["kid"]
        assert "d" not in key  # never the private part


def test_ui_fit_has_documented_claims(jira_site):
    extension = {"type": "jiraServiceManagement:portalRequestDetail", "request": {"key": "SUP-1", "typeId": "10"}}

    minted = _mint(jira_site, kind="ui", principal="cust-alice", extension=extension, license_active=True)

    claims = _verify(jira_site, minted["token"])
    assert claims["iss"] == "forge/invocation-token"
    assert claims["aud"] == APP_ID
    assert claims["exp"] - claims["iat"] == 25
    assert claims["nbf"] == claims["iat"]
    assert claims["jti"]
    app = claims["app"]
    assert app["id"] == APP_ID
    assert app["installationId"].startswith("ari:cloud:ecosystem::installation/")
    assert app["installation"]["id"] == app["installationId"]
    assert app["apiBaseUrl"] == f"{jira_site.url}/ex/jira/devsite-cloud-0001"
    assert app["module"] == {"type": "jiraServiceManagement:portalRequestDetail", "key": "chat-request"}
    assert app["environment"]["type"] == "PRODUCTION"
    assert app["license"]["active"] is True
    assert claims["principal"] == "cust-alice"
    assert claims["context"]["cloudId"] == "devsite-cloud-0001"
    assert claims["context"]["siteUrl"] == jira_site.url
    assert claims["context"]["extension"] == extension


def test_ui_call_headers(jira_site):
    minted = _mint(jira_site, kind="ui", principal="cust-alice")

    headers = minted["headers"]
    assert headers["Authorization"] == f"Bearer {minted['token']}"
    assert len(headers["x-b3-traceid"]) == 16
    assert len(headers["x-b3-spanid"]) == 16
    for name in ("x-forge-oauth-system", "x-forge-oauth-user"):
        claims = jwt.decode(headers[name], options={"verify_signature": False})
        assert claims["exp"] > claims["iat"]
    user = jwt.decode(headers["x-forge-oauth-user"], options={"verify_signature": False})
    assert user["sub"] == "cust-alice"


def test_trigger_fit_has_no_user(jira_site):
    minted = _mint(jira_site, kind="trigger")

    claims = _verify(jira_site, minted["token"])
    assert claims["app"]["module"]["type"] == "core:endpoint"
    assert "context" not in claims
    assert "principal" not in claims
    assert "license" not in claims["app"]
    assert "x-forge-oauth-system" in minted["headers"]
    assert "x-forge-oauth-user" not in minted["headers"]


def test_installation_id_stable_per_app(jira_site):
    first = _mint(jira_site)["claims"]["app"]["installationId"]
    second = _mint(jira_site, kind="trigger")["claims"]["app"]["installationId"]

    assert first == second


def test_forgeries_listed(jira_site):
    assert set(jira_site.control("GET", "/_devsite/forge")["forgeries"]) == {
        "wrong_key", "unknown_kid", "wrong_aud", "wrong_iss", "expired", "not_yet_valid", "alg_none",
        "hs256_public_key", "missing_jti", "bad_ic_label", "disallowed_api_base",
    }


@pytest.mark.parametrize("forgery", ["wrong_key", "unknown_kid"])
def test_forged_signature_fails(jira_site, forgery):
    token = _mint(jira_site, forgery=forgery)["token"]

    with pytest.raises((jwt.InvalidSignatureError, StopIteration)):
        _verify(jira_site, token)


@pytest.mark.parametrize("forgery,error", [
    ("wrong_aud", jwt.InvalidAudienceError),
    ("wrong_iss", jwt.InvalidIssuerError),
    ("expired", jwt.ExpiredSignatureError),
    ("not_yet_valid", jwt.ImmatureSignatureError),
])
def test_forged_claim_fails(jira_site, forgery, error):
    token = _mint(jira_site, forgery=forgery)["token"]

    with pytest.raises(error):
        _verify(jira_site, token)


def test_alg_none_is_unsigned(jira_site):
    token = _mint(jira_site, forgery="alg_none")["token"]

    assert _header(token)["alg"] == "none"
    assert token.endswith(".")


def test_hs256_forgery_uses_public_key(jira_site):
    token = _mint(jira_site, forgery="hs256_public_key")["token"]

    assert _header(token)["alg"] == "HS256"
    kid = _header(token)["kid"]
    assert kid in jira_site.control("GET", "/_devsite/forge")["kids"]


def test_claim_forgeries(jira_site):
    assert "jti" not in _mint(jira_site, forgery="missing_jti")["claims"]
    assert "/" in _mint(jira_site, forgery="bad_ic_label")["claims"]["icLabel"]
    assert _mint(jira_site, forgery="disallowed_api_base")["claims"]["app"]["apiBaseUrl"].startswith(
        "https://api.forged.example/")


def test_rotation_keeps_previous_key(jira_site):
    before = _mint(jira_site)["token"]

    new_kid = jira_site.control("POST", "/_devsite/forge/rotate-key")["kid"]

    after = _mint(jira_site)["token"]
    assert _header(after)["kid"] == new_kid
    assert _verify(jira_site, before)["aud"] == APP_ID
    assert _verify(jira_site, after)["aud"] == APP_ID


def test_jwks_fetches_counted(jira_site):
    start = jira_site.control("GET", "/_devsite/forge")["jwks_fetches"]

    _jwks(jira_site)
    _jwks(jira_site)

    assert jira_site.control("GET", "/_devsite/forge")["jwks_fetches"] == start + 2


@pytest.mark.parametrize("body,message", [
    ({}, "app_id is required"),
    ({"app_id": APP_ID, "forgery": "bogus"}, "forgery 'bogus' is unknown"),
    ({"app_id": APP_ID, "kind": "cron"}, "kind must be"),
])
def test_mint_rejects_bad_requests(jira_site, body, message):
    response = requests.post(f"{jira_site.url}/_devsite/forge/fit", json=body, timeout=5)

    assert response.status_code == 400
    assert message in response.json()["error"]
