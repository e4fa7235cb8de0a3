"""The dashboard, project settings and admin page in Forge mode: the add-on's `/forge/ui/page`
surfaces and admin API called with FITs, and the local site's host pages for those modules."""

import pytest
import requests

from .forge_support import APP_ID, host_frames, mint
from .test_forge_ui_api import AGENT, CLOUD_ID, CUSTOMER, forge_chat  # noqa: F401

ADMIN = "admin-lea"
UNLICENSED = "dev-ines"
DURAND = "1"
PROJECT = {"key": "SUP", "id": "10000", "type": "service_desk"}
MODULES = {
    "dashboard": {"type": "jira:projectPage", "key": "chat-dashboard"},
    "project-settings": {"type": "jira:projectSettingsPage", "key": "chat-settings"},
    "admin": {"type": "jira:adminPage", "key": "chat-admin"},
}
CONTRACT = {"contract_reference": "CT-FORGE-1", "starts_on": "2026-01-01", "sla_tier": "premium",
            "main_contact_account_id": "cust-alice"}


def _extension(surface):
    extension = {"type": MODULES[surface]["type"]}
    if surface != "admin":
        extension["project"] = PROJECT
    return extension


def _page(chat, surface, account_id, extension=None):
    minted = mint(chat.jira_site, principal=account_id, module=MODULES[surface],
                  extension=extension or _extension(surface))
    return requests.get(f"{chat.server.url}/forge/ui/page", params={"surface": surface, "lang": "fr"},
                        headers=minted["headers"], timeout=40)


def _admin_api(chat, method, path, account_id=ADMIN, json_body=None):
    minted = mint(chat.jira_site, principal=account_id, module=MODULES["admin"], extension=_extension("admin"))
    return requests.request(method, f"{chat.server.url}/api/admin{path}", headers=minted["headers"],
                            json=json_body, timeout=40)


def _gateway_paths(jira_site):
    return [entry["raw_path"] for entry in jira_site.control("GET", "/_devsite/requests")
            if entry["raw_path"].startswith("/ex/jira/")]


# -- the add-on's page surfaces ---------------------------------------------------------------

def test_dashboard_page_takes_project_from_fit(forge_chat):
    response = _page(forge_chat, "dashboard", AGENT)

    assert response.status_code == 200, response.text
    page = response.json()
    assert 'data-project-key="SUP"' in page["html"]
    assert "workspace/dashboard.js" in page["html"]
    assert page["strings"]["fr"]["desk_title"] == "Discussions en direct"


@pytest.mark.parametrize("surface", ["admin", "project-settings"])
def test_settings_pages_render_for_admin(forge_chat, surface):
    response = _page(forge_chat, surface, ADMIN)

    assert response.status_code == 200, response.text
    page = response.json()
    assert page["account_id"] == ADMIN
    assert "data-admin-orgs" in page["html"]
    assert "admin/subscriptions.js" in page["html"]
    assert page["strings"]["fr"]["admin_activate"] == "Activer"
    assert page["strings"]["en"]["admin_activate"] == "Activate"


def test_project_settings_project_from_fit(forge_chat):
    response = _page(forge_chat, "project-settings", ADMIN)

    assert response.status_code == 200, response.text
    assert "Projet : SUP" in response.json()["html"]


@pytest.mark.parametrize("surface", ["admin", "project-settings"])
@pytest.mark.parametrize("account_id", [AGENT, CUSTOMER])
def test_settings_pages_refused_to_non_admin(forge_chat, surface, account_id):
    response = _page(forge_chat, surface, account_id)

    assert response.status_code == 403, response.text
    assert response.headers["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "forbidden"
    assert f"Account {account_id} is neither a project admin" in error["message"]


def test_admin_check_goes_through_forge_gateway(forge_chat, jira_site):
    before = len(_gateway_paths(jira_site))

    response = _page(forge_chat, "admin", ADMIN)

    assert response.status_code == 200, response.text
    checks = [path for path in _gateway_paths(jira_site)[before:] if path.endswith("/rest/api/3/permissions/check")]
    assert checks, "the admin check did not call Jira through the Forge gateway"


# -- the admin API called with FITs -------------------------------------------------------------

def test_admin_api_with_fit(forge_chat):
    organizations = _admin_api(forge_chat, "GET", "/organizations")
    saved = _admin_api(forge_chat, "PUT", f"/organizations/{DURAND}/subscription", json_body=CONTRACT)
    activated = _admin_api(forge_chat, "POST", f"/organizations/{DURAND}/subscription/activate")
    added = _admin_api(forge_chat, "POST", f"/organizations/{DURAND}/key-users", json_body={"account_id": "cust-bruno"})

    assert organizations.status_code == 200, organizations.text
    assert [item["name"] for item in organizations.json()["organizations"]] == ["Fromagerie Durand",
                                                                                 "Menuiserie Lefèvre"]
    assert saved.status_code == 200, saved.text
    assert activated.status_code == 200, activated.text
    assert added.status_code == 201, added.text
    assert "cust-bruno" in [user["account_id"] for user in added.json()["subscription"]["key_users"]]


def test_csv_import_with_reused_fit(forge_chat):
    # requestRemote sends its cached FIT again, with a multipart body and no x-forge-oauth-* token.
    minted = mint(forge_chat.jira_site, principal=ADMIN, module=MODULES["admin"], extension=_extension("admin"))
    headers = {"Authorization": minted["headers"]["Authorization"], "Accept": "application/json"}
    # The fixture has already activated Menuiserie Lefèvre's subscription, so the file names its main contact.
    email = "chloe.lefevre@menuiserie-lefevre.example"
    content = ("organisation,contract_reference,start_date,end_date,sla_tier,key_users,main_contact\n"
               f"Menuiserie Lefèvre,CT-9,2026-01-01,2030-12-31,standard,{email},{email}\n")

    def upload():
        return requests.post(f"{forge_chat.server.url}/api/admin/import?lang=en", headers=headers,
                             files={"file": ("subs.csv", content.encode(), "text/csv")}, timeout=40)

    first = upload()
    again = upload()

    assert first.status_code == 200, first.text
    assert [item["organization_id"] for item in first.json()["report"]["updated"]] == ["2"]
    assert again.status_code == 200, again.text
    assert [item["organization_id"] for item in again.json()["report"]["updated"]] == ["2"]


@pytest.mark.parametrize("account_id", [AGENT, CUSTOMER])
def test_admin_api_with_fit_refused(forge_chat, account_id):
    response = _admin_api(forge_chat, "PUT", f"/organizations/{DURAND}/subscription", account_id,
                          json_body=CONTRACT)

    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "forbidden"


# -- the local site's host pages -------------------------------------------------------------------

def _install(chat):
    chat.jira_site.control("POST", "/_devsite/forge/app/install", json={"remote_url": chat.server.url,
                                                                       "app_id": APP_ID})


def _host_get(jira_site, path, account_id):
    cookies = {"devsite_user": account_id} if account_id else {}
    return requests.get(f"{jira_site.url}/_devsite/forge/host{path}", cookies=cookies, timeout=40)


@pytest.mark.parametrize(("path", "module_type", "allowed", "refused"), [
    ("/project/SUP", "jira:projectPage", [AGENT, ADMIN], [CUSTOMER, UNLICENSED]),
    ("/project/SUP/settings", "jira:projectSettingsPage", [ADMIN], [AGENT, CUSTOMER, UNLICENSED]),
    ("/admin", "jira:adminPage", [ADMIN], [AGENT, CUSTOMER, UNLICENSED]),
])
def test_host_pages_for_allowed_users(forge_chat, jira_site, path, module_type, allowed, refused):
    _install(forge_chat)

    for account_id in allowed:
        [frame] = host_frames(jira_site, account_id, path)
        assert frame["module_type"] == module_type
        assert frame["context"]["accountId"] == account_id
        assert frame["context"]["extension"]["type"] == module_type
        if module_type != "jira:adminPage":
            assert frame["context"]["extension"]["project"]["key"] == "SUP"
    for account_id in refused:
        response = _host_get(jira_site, path, account_id)
        assert response.status_code == 403, f"{account_id}: {response.text}"
        assert response.json()["error"]
    anonymous = _host_get(jira_site, path, None)
    assert anonymous.status_code == 401, anonymous.text


def test_host_unknown_project(forge_chat, jira_site):
    _install(forge_chat)

    response = _host_get(jira_site, "/project/NOPE", AGENT)

    assert response.status_code == 404, response.text


def test_host_admin_page_invokes_with_frame_context(forge_chat, jira_site):
    _install(forge_chat)
    [frame] = host_frames(jira_site, ADMIN, "/project/SUP/settings")

    answer = requests.post(f"{jira_site.url}/_devsite/forge/host/invoke", cookies={"devsite_user": ADMIN},
                           json={"frame": frame["id"], "path": "/forge/ui/page?surface=project-settings&lang=en",
                                 "method": "GET", "extension": {"type": "jira:projectSettingsPage",
                                                                 "project": {"key": "OTHER"}}},
                           timeout=40).json()

    assert answer["success"] is True, answer
    assert "Project: SUP" in answer["payload"]["body"]["html"]
    assert "OTHER" not in answer["payload"]["body"]["html"]


# -- offline user tokens --------------------------------------------------------------------------

def test_offline_token_refused_for_unlicensed(forge_chat, jira_site):
    minted = mint(jira_site, principal=CUSTOMER, module=MODULES["dashboard"])
    system_token = minted["headers"]["x-forge-oauth-system"]
    query = ("mutation offline($input: OfflineUserAuthTokenInput!) { offlineUserAuthToken(input: $input) "
             "{ success errors { message } authToken { token ttl } } }")
    context_ids = [f"ari:cloud:jira:{CLOUD_ID}:workspace/{CLOUD_ID}"]

    def ask(account_id):
        response = requests.post(f"{jira_site.url}/graphql", headers={"Authorization": f"Bearer {system_token}"},
                                 json={"query": query, "variables": {"input": {"contextIds": context_ids,
                                                                               "userId": account_id}}},
                                 timeout=30)
        assert response.status_code == 200, response.text
        return response.json()["data"]["offlineUserAuthToken"]

    unlicensed = ask(UNLICENSED)
    agent = ask(AGENT)

    assert unlicensed["success"] is False
    assert "unlicensed users cannot be impersonated" in unlicensed["errors"][0]["message"]
    assert agent["success"] is True
    assert agent["authToken"]["token"]
