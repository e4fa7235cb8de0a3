"""The local Jira site's own qsh and signing, against Atlassian's published vectors."""

import json
import subprocess
import sys
import time
from urllib.parse import parse_qsl, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from devsite import connect_auth
from devsite.records import App

from .support import ROOT_DIR

VECTORS = json.loads((ROOT_DIR / "tests" / "data" / "qsh_vectors.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["id"])
def test_qsh_canonical_vector(vector):
    canonical = connect_auth.canonical_request(vector["method"], vector["path"], vector["query"], vector["base_path"])
    assert canonical == vector["canonical"]


@pytest.mark.parametrize("vector", [v for v in VECTORS["vectors"] if v["qsh"]], ids=lambda v: v["id"])
def test_qsh_hash_vector(vector):
    qsh = connect_auth.query_hash(vector["method"], vector["path"], vector["query"], vector["base_path"])
    assert qsh == vector["qsh"]


def test_qsh_signed_v1_url():
    signed = VECTORS["signed_v1"]
    token = dict(parse_qsl(urlsplit(signed["url"]).query))["jwt"]
    claims = jwt.decode(token, signed["secret"], algorithms=["HS256"], options={"verify_exp": False})
    assert claims["qsh"] == connect_auth.url_query_hash("GET", signed["url"], "https://example.com")


def _app(base_url):
    return App("com.example.test", {}, "", base_url, "jira:test", "s3cret-" * 6, "client-1")


def test_sign_app_url_base_path():
    app = _app("https://chat.example.com/sc")
    url = connect_auth.sign_app_url(app, "/portal/panel?issueKey=SUP-1&x=a+b", "cust-alice")
    parts = urlsplit(url)
    token = dict(parse_qsl(parts.query))["jwt"]
    claims = jwt.decode(token, app.shared_secret, algorithms=["HS256"])
    expected = connect_auth.query_hash("GET", parts.path[len("/sc"):], parts.query)
    assert claims["qsh"] == expected
    assert claims["sub"] == "cust-alice"
    assert {"xdm_e", "xdm_c", "cp", "lic", "cv"} <= dict(parse_qsl(parts.query, keep_blank_values=True)).keys()


def test_context_token_claims():
    app = _app("https://chat.example.com")
    claims = jwt.decode(connect_auth.context_token(app, "agent-hugo", {"jira": {}}), app.shared_secret,
                        algorithms=["HS256"])
    assert claims["qsh"] == "context-qsh"
    assert claims["sub"] == "agent-hugo"
    assert claims["exp"] - claims["iat"] == connect_auth.CONTEXT_TOKEN_LIFETIME_SECS


def test_install_token_rs256_with_kid():
    token = connect_auth.install_token("https://chat.example.com/sc", "POST", "https://chat.example.com/sc/installed")
    header = jwt.get_unverified_header(token)
    key = serialization.load_pem_public_key(connect_auth.install_key_pem(header["kid"]).encode())
    claims = jwt.decode(token, key, algorithms=["RS256"], audience="https://chat.example.com/sc")
    assert header["alg"] == "RS256"
    assert claims["qsh"] == VECTORS["vectors"][-3]["qsh"]  # D2: POST&/installed&
    assert claims["exp"] - claims["iat"] == 180
    assert claims["iat"] <= time.time()


def test_devsite_never_imports_addon():
    code = "import sys, devsite.app, devsite.__main__; print(sorted(m for m in sys.modules if m.split('.')[0] == 'addon'))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT_DIR, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr
