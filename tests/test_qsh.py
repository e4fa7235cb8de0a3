"""The qsh of addon.atlassian.qsh against Atlassian's published vectors, and tokens made by
Atlassian's reference Python library (`atlassian_jwt`, a test-only oracle) against our ladder."""

import json
from pathlib import Path
from urllib.parse import urlsplit

import jwt
import pytest
import requests
from atlassian_jwt import Authenticator, encode_token, url_utils

from addon.atlassian.qsh import canonical_request, qsh_of, qsh_of_url

from .probe import ProbeAddons
from .signing import CLIENT_KEY, SHARED_SECRET, hs256_token

DATA = json.loads((Path(__file__).parent / "data" / "qsh_vectors.json").read_text())
VECTORS = DATA["vectors"]
SIGNED_V1 = DATA["signed_v1"]


def vector_id(vector):
    return vector["id"]


def relative_url(vector):
    """The vector's request relative to its base path, as atlassian_jwt expects URLs."""
    path = vector["path"]
    if vector["base_path"] and path.startswith(vector["base_path"]):
        path = path[len(vector["base_path"]):]
    return f"{path}?{vector['query']}" if vector["query"] else path


@pytest.fixture
def start_addon(database_url, tmp_path):
    addons = ProbeAddons(database_url, tmp_path)
    yield addons.start
    addons.stop_all()


@pytest.mark.parametrize("vector", VECTORS, ids=vector_id)
def test_vector_canonical(vector):
    canonical = canonical_request(vector["method"], vector["path"], vector["query"], vector["base_path"])
    assert canonical == vector["canonical"]


@pytest.mark.parametrize("vector", [v for v in VECTORS if v.get("qsh")], ids=vector_id)
def test_vector_qsh(vector):
    assert qsh_of(vector["method"], vector["path"], vector["query"], vector["base_path"]) == vector["qsh"]


@pytest.mark.parametrize("vector", VECTORS, ids=vector_id)
def test_vector_reference_library_agrees(vector):
    assert url_utils.canonicalize_request(vector["method"], relative_url(vector)) == vector["canonical"]


def test_signed_v1_signature():
    token = SIGNED_V1["url"].split("jwt=", 1)[1]
    claims = jwt.decode(token, SIGNED_V1["secret"], algorithms=["HS256"], options={"verify_exp": False})
    assert claims["qsh"] == qsh_of_url("GET", SIGNED_V1["url"])
    assert claims["qsh"] == VECTORS[0]["qsh"]


def test_signed_v1_passes_ladder(start_addon):
    # The token expired in 2016; a leeway of about 100 years lets the rest of the ladder run.
    addon = start_addon(
        tenant={"client_key": "jira:1234-5678-9000", "secret": SIGNED_V1["secret"]},
        JWT_LEEWAY_SECS=100 * 365 * 24 * 3600,
    )
    parts = urlsplit(SIGNED_V1["url"])
    response = requests.get(f"{addon.url}{parts.path}?{parts.query}", timeout=10)
    assert response.status_code == 200
    assert response.json()["client_key"] == "jira:1234-5678-9000"


def test_signed_v1_expired_rejected(start_addon):
    addon = start_addon(tenant={"client_key": "jira:1234-5678-9000", "secret": SIGNED_V1["secret"]})
    parts = urlsplit(SIGNED_V1["url"])
    response = requests.get(f"{addon.url}{parts.path}?{parts.query}", timeout=10)
    assert response.status_code == 401


@pytest.mark.parametrize("url", [
    "/probe/page",
    "/probe/page?issueKey=SUP-1&projectKey=SUP&lic=none",
    "/probe/page?ids=2&ids=1&ids=10&name=caf%C3%A9%20cr%C3%A8me&star=a*b",
    "/probe/page?xdm_e=http%3A%2F%2F127.0.0.1%3A2990&cp=%2Fjira&empty=",
])
def test_reference_token_passes_ladder(start_addon, url):
    addon = start_addon()
    token = encode_token("GET", url, CLIENT_KEY, SHARED_SECRET, timeout_secs=180)
    separator = "&" if "?" in url else "?"
    response = requests.get(f"{addon.url}{url}{separator}jwt={token}", timeout=10)
    assert response.status_code == 200


def test_reference_token_under_base_path(start_addon):
    addon = start_addon(base_path="/chat", mount=True)
    token = encode_token("GET", "/probe/page?a=1", CLIENT_KEY, SHARED_SECRET, timeout_secs=180)
    response = requests.get(f"{addon.url}/probe/page?a=1&jwt={token}", timeout=10)
    assert response.status_code == 200


def test_reference_token_other_url_rejected(start_addon):
    addon = start_addon()
    token = encode_token("GET", "/probe/page?a=1", CLIENT_KEY, SHARED_SECRET, timeout_secs=180)
    response = requests.get(f"{addon.url}/probe/page?a=2&jwt={token}", timeout=10)
    assert response.status_code == 401


class _Tenants(Authenticator):
    def get_shared_secret(self, client_key):
        return {CLIENT_KEY: SHARED_SECRET}[client_key]


@pytest.mark.parametrize("url", [
    "https://chat.example.com/probe/page?b=2&a=1&a=0",
    "https://chat.example.com/webhooks/comment-created",
])
def test_reference_authenticator_accepts_ours(url):
    parts = urlsplit(url)
    token = hs256_token("GET", parts.path, parts.query)
    result = _Tenants().authenticate("GET", url, {"Authorization": f"JWT {token}"})
    assert result.client_key == CLIENT_KEY

