"""The chat's site settings through /api/admin/settings, against the local Jira site."""

import time

import jwt
import pytest
import requests

from addon.atlassian.installations import get_installation, shared_secret_of
from addon.settings import get_settings


def context_token(addon_server, client_key, account_id):
    with addon_server.app.app_context():
        secret = shared_secret_of(get_installation(client_key))
    now = int(time.time())
    claims = {"iss": client_key, "sub": account_id, "qsh": "context-qsh", "iat": now, "exp": now + 300}
    return jwt.encode(claims, secret, algorithm="HS256")


def call(addon_server, client_key, method, account_id="admin-lea", **kwargs):
    token = context_token(addon_server, client_key, account_id)
    return requests.request(method, f"{addon_server.url}/api/admin/settings",
                            headers={"Authorization": f"JWT {token}"}, timeout=30, **kwargs)


def test_settings_listed_with_desks(installed_addon, addon_server):
    response = call(addon_server, installed_addon, "GET")

    assert response.status_code == 200, response.text
    assert response.json()["service_desks"][0]["id"] == "1"
    assert "Chat" in [t["name"] for t in response.json()["request_types"]]


def test_settings_saved(installed_addon, addon_server):
    body = {"service_desk_id": "1", "request_type_id": "11", "product_areas": ["Ventes", "Paie"],
            "comment_batch_window_secs": 0, "support_email": "support@example.com"}
    response = call(addon_server, installed_addon, "PUT", json=body)

    assert response.status_code == 200, response.text
    with addon_server.app.app_context():
        settings = get_settings(get_installation(installed_addon).id)
    assert settings["request_type_id"] == "11"
    assert settings["product_areas"] == ["Ventes", "Paie"]
    assert settings["comment_batch_window_secs"] == 0


@pytest.mark.parametrize(("body", "fragment"), [
    ({"product_areas": []}, "entre 1 et"),
    ({"product_areas": ["Ventes", "ventes"]}, "deux fois"),
    ({"comment_batch_window_secs": 9999}, "0 à 600"),
    ({"support_email": "pas-une-adresse"}, "invalide"),
    ({"service_desk_id": "99"}, "inconnu"),
    ({"service_desk_id": "1", "request_type_id": "999"}, "n'appartient pas"),
    ({"colour": "blue"}, "inconnus"),
    # Settings that another admin API validates are refused here rather than ignored.
    ({"sla_calendar": None}, "/api/admin/sla"),
    ({"scope_guard": None}, "/api/admin/faq/settings"),
    ({"solution_status": ["Resolved"]}, "solution_status"),
])
def test_bad_settings_rejected(installed_addon, addon_server, body, fragment):
    response = call(addon_server, installed_addon, "PUT", json=body)

    assert response.status_code == 400
    assert fragment in response.json()["error"]["message"]


def test_solution_workflow_names_saved(installed_addon, addon_server):
    body = {"solution_status": " Done ", "solution_resolution": "Fixed", "reopen_status": ""}
    response = call(addon_server, installed_addon, "PUT", json=body)

    assert response.status_code == 200, response.text
    with addon_server.app.app_context():
        settings = get_settings(get_installation(installed_addon).id)
    assert (settings["solution_status"], settings["solution_resolution"]) == ("Done", "Fixed")
    assert settings["reopen_status"] is None


def test_settings_refuse_customer(installed_addon, addon_server):
    response = call(addon_server, installed_addon, "GET", account_id="cust-alice")

    assert response.status_code == 403
