"""Admin API /api/admin: real HTTP to the add-on on loopback with context tokens, the local Jira
site behind it deciding who is a support lead (admin-lea) and who is not."""

import pytest
import requests

from addon.access.subscriptions import audit, get_subscription
from addon.atlassian.installations import get_active_installation

from .support import AddonServer, free_port
from .wsclient import ChatSite, build_app, install, stop_app

ADMIN = "admin-lea"
AGENT = "agent-camille"
CUSTOMER = "cust-alice"
DURAND = "1"
LEFEVRE = "2"
CONTRACT = {"contract_reference": "CT-2026-001", "starts_on": "2026-01-01", "ends_on": "2026-12-31",
            "sla_tier": "premium", "product_areas": ["Ventes"], "main_contact_account_id": "cust-alice"}


class AdminSite(ChatSite):
    """The add-on with its admin API, installed into the local Jira site."""

    def admin(self, method, path, account_id=ADMIN, headers=None, **kwargs):
        headers = dict(headers or {}, Authorization=f"JWT {self.token(account_id)}")
        return requests.request(method, self.url + "/api/admin" + path, headers=headers, timeout=40, **kwargs)

    def installation(self):
        return get_active_installation(self.client_key)

    def context(self):
        return self.server.app.app_context()


@pytest.fixture
def admin_site(database_url, jira_site, tmp_path):
    port = free_port()
    app = build_app(database_url, jira_site, port, tmp_path, SUBSCRIPTION_TODAY="2026-06-15",
                    SUBSCRIPTION_EXPIRY_JOB=False)
    server = AddonServer(app, port)
    site = None
    try:
        site = AdminSite(server, *install(jira_site, server))
        yield site
    finally:
        if site is not None:
            site.close()
        stop_app(server)


def test_admin_api_customer_forbidden(admin_site):
    response = admin_site.admin("GET", "/organizations", CUSTOMER)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_admin_api_agent_forbidden(admin_site):
    response = admin_site.admin("GET", "/organizations", AGENT)
    assert response.status_code == 403


def test_admin_api_agent_forbidden_on_change(admin_site):
    response = admin_site.admin("PUT", f"/organizations/{DURAND}/subscription", AGENT, json=CONTRACT)
    assert response.status_code == 403


def test_admin_api_organizations(admin_site):
    response = admin_site.admin("GET", "/organizations")
    assert response.status_code == 200
    names = [organization["name"] for organization in response.json()["organizations"]]
    assert names == ["Fromagerie Durand", "Menuiserie Lefèvre"]
    assert response.json()["organizations"][0]["state"] == "none"


def test_admin_api_missing_token(admin_site):
    response = requests.get(admin_site.url + "/api/admin/organizations", timeout=10)
    assert response.status_code == 401


def test_admin_api_put_subscription(admin_site):
    response = admin_site.admin("PUT", f"/organizations/{DURAND}/subscription", json=CONTRACT)
    assert response.status_code == 201
    subscription = response.json()["subscription"]
    assert subscription["status"] == "suspended"
    assert subscription["organization_name"] == "Fromagerie Durand"
    assert subscription["product_areas"] == ["Ventes"]
    again = admin_site.admin("PUT", f"/organizations/{DURAND}/subscription", json={"sla_tier": "standard"})
    assert again.status_code == 200
    assert again.json()["subscription"]["sla_tier"] == "standard"


def test_admin_api_put_invalid_english(admin_site):
    body = dict(CONTRACT, ends_on="2025-01-01")
    response = admin_site.admin("PUT", f"/organizations/{DURAND}/subscription?lang=en", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("The end date 2025-01-01 is before")


def test_admin_api_unknown_organization(admin_site):
    response = admin_site.admin("PUT", "/organizations/99/subscription", json=CONTRACT)
    assert response.status_code == 404


def test_admin_api_lifecycle(admin_site):
    admin_site.admin("PUT", f"/organizations/{DURAND}/subscription", json=CONTRACT)
    activated = admin_site.admin("POST", f"/organizations/{DURAND}/subscription/activate")
    assert activated.status_code == 200
    assert activated.json()["subscription"]["status"] == "active"
    suspended = admin_site.admin("POST", f"/organizations/{DURAND}/subscription/suspend")
    assert suspended.json()["subscription"]["status"] == "suspended"
    renewed = admin_site.admin("POST", f"/organizations/{DURAND}/subscription/renew", json={"ends_on": "2027-12-31"})
    assert renewed.json()["subscription"]["ends_on"] == "2027-12-31"


def test_admin_api_key_users(admin_site):
    admin_site.admin("PUT", f"/organizations/{DURAND}/subscription", json=CONTRACT)
    added = admin_site.admin("POST", f"/organizations/{DURAND}/key-users", json={"account_id": "cust-bruno"})
    assert added.status_code == 201
    key_users = added.json()["subscription"]["key_users"]
    assert [user["display_name"] for user in key_users] == ["Bruno Leroy"]
    duplicate = admin_site.admin("POST", f"/organizations/{DURAND}/key-users", json={"account_id": "cust-bruno"})
    assert duplicate.status_code == 409
    removed = admin_site.admin("DELETE", f"/organizations/{DURAND}/key-users/cust-bruno")
    assert removed.json()["subscription"]["key_users"] == []


def test_admin_api_key_user_other_organization(admin_site):
    admin_site.admin("PUT", f"/organizations/{DURAND}/subscription", json=CONTRACT)
    response = admin_site.admin("POST", f"/organizations/{DURAND}/key-users", json={"account_id": "cust-chloe"})
    assert response.status_code == 400
    assert "cust-chloe" in response.json()["error"]["message"]


def test_admin_api_customer_search(admin_site):
    response = admin_site.admin("GET", f"/organizations/{DURAND}/customers?query=ALICE")
    assert response.status_code == 200
    assert [customer["account_id"] for customer in response.json()["customers"]] == ["cust-alice"]


def test_admin_api_customer_search_email(admin_site):
    response = admin_site.admin("GET", f"/organizations/{DURAND}/customers?query=bruno.leroy@")
    assert [customer["account_id"] for customer in response.json()["customers"]] == ["cust-bruno"]


def test_admin_api_import_text_body(admin_site):
    content = ("organisation,contract_reference,start_date,end_date,sla_tier,key_users\n"
               "Menuiserie Lefèvre,CT-9,2026-01-01,2026-12-31,standard,chloe.lefevre@menuiserie-lefevre.example\n")
    response = admin_site.admin("POST", "/import", data=content.encode(), headers={"Content-Type": "text/csv"})
    assert response.status_code == 200
    assert response.json()["report"]["created"][0]["organization_id"] == LEFEVRE


def test_admin_api_import_multipart_bad(admin_site):
    content = b"organisation,contract_reference,start_date\nNowhere,CT-1,2026-01-01\n"
    response = admin_site.admin("POST", "/import?lang=en", files={"file": ("subs.csv", content, "text/csv")})
    assert response.status_code == 422
    errors = response.json()["report"]["errors"]
    unknown = "Unknown organization “Nowhere”: give its id or exact name."
    assert errors == [{"line": 2, "messages": [unknown], "message": unknown}]


def test_admin_api_import_every_problem(admin_site):
    # One line, four faults: each is reported, in the requested language.
    content = b"organisation,contract_reference,start_date,status\nNowhere,,2026-13-01,maybe\n"
    response = admin_site.admin("POST", "/import?lang=fr", files={"file": ("subs.csv", content, "text/csv")})
    assert response.status_code == 422
    [error] = response.json()["report"]["errors"]
    assert error["line"] == 2
    assert len(error["messages"]) == 4
    assert error["messages"][0].startswith("Organisation inconnue « Nowhere »")
    assert error["messages"][1].startswith("La référence du contrat doit faire 1 à")
    assert error["messages"][2].startswith("La date de début « 2026-13-01 »")
    assert error["messages"][3].startswith("Statut inconnu « maybe »")
    assert " / " not in error["message"]


def test_admin_api_audit_paged(admin_site):
    admin_site.admin("PUT", f"/organizations/{DURAND}/subscription", json=CONTRACT)
    admin_site.admin("POST", f"/organizations/{DURAND}/key-users", json={"account_id": "cust-bruno"})
    admin_site.admin("POST", f"/organizations/{DURAND}/subscription/suspend")
    first = admin_site.admin("GET", "/audit?per_page=2").json()
    assert first["total"] == 3
    assert [entry["action"] for entry in first["entries"]] == ["subscription_suspended", "key_user_added"]
    assert first["entries"][0]["actor_account_id"] == ADMIN
    second = admin_site.admin("GET", "/audit?per_page=2&page=2").json()
    assert [entry["action"] for entry in second["entries"]] == ["subscription_created"]


def test_admin_api_search_unknown_organization(admin_site):
    response = admin_site.admin("GET", "/organizations/99/customers?query=a")
    assert response.status_code == 404


def test_admin_api_new_subscription_never_activated(admin_site):
    saved = admin_site.admin("PUT", f"/organizations/{DURAND}/subscription", json=CONTRACT).json()["subscription"]
    assert saved["status"] == "suspended"
    assert saved["state"] == "never_activated"
    listed = admin_site.admin("GET", "/organizations").json()["organizations"]
    assert [organization["state"] for organization in listed] == ["never_activated", "none"]
    assert listed[0]["subscription"]["state"] == "never_activated"


def test_admin_api_state_after_activation(admin_site):
    admin_site.admin("PUT", f"/organizations/{DURAND}/subscription", json=CONTRACT)
    activated = admin_site.admin("POST", f"/organizations/{DURAND}/subscription/activate").json()["subscription"]
    assert activated["state"] == "active"
    suspended = admin_site.admin("POST", f"/organizations/{DURAND}/subscription/suspend").json()["subscription"]
    assert suspended["state"] == "suspended"
    listed = admin_site.admin("GET", "/organizations").json()["organizations"]
    assert listed[0]["state"] == "suspended"


def test_admin_api_state_suspended_without_presentation(admin_site):
    # Without a main contact no activation request opens, so only the audit log shows the activation.
    admin_site.admin("PUT", f"/organizations/{DURAND}/subscription", json=dict(CONTRACT, main_contact_account_id=None))
    activated = admin_site.admin("POST", f"/organizations/{DURAND}/subscription/activate").json()["subscription"]
    assert activated["activation_issue_key"] is None
    suspended = admin_site.admin("POST", f"/organizations/{DURAND}/subscription/suspend").json()["subscription"]
    assert suspended["presented_on"] is None
    assert suspended["state"] == "suspended"


def test_admin_api_state_renewed_new_subscription(admin_site):
    admin_site.admin("PUT", f"/organizations/{DURAND}/subscription", json=CONTRACT)
    renewed = admin_site.admin("POST", f"/organizations/{DURAND}/subscription/renew", json={"ends_on": "2027-12-31"})
    assert renewed.json()["subscription"]["state"] == "never_activated"


def test_admin_api_state_csv_suspended(admin_site):
    content = ("organisation,contract_reference,start_date,end_date,sla_tier,key_users,status\n"
               "Menuiserie Lefèvre,CT-9,2026-01-01,2026-12-31,standard,,suspended\n"
               "Fromagerie Durand,CT-8,2026-01-01,2026-12-31,standard,,\n")
    response = admin_site.admin("POST", "/import", data=content.encode(), headers={"Content-Type": "text/csv"})
    assert response.status_code == 200, response.text
    states = {organization["name"]: organization["state"]
              for organization in admin_site.admin("GET", "/organizations").json()["organizations"]}
    assert states == {"Menuiserie Lefèvre": "suspended", "Fromagerie Durand": "never_activated"}


def test_admin_api_key_user_added_by_name(admin_site):
    admin_site.admin("PUT", f"/organizations/{DURAND}/subscription", json=CONTRACT)
    added = admin_site.admin("POST", f"/organizations/{DURAND}/key-users", json={"account_id": "cust-bruno"})
    [key_user] = added.json()["subscription"]["key_users"]
    assert key_user["added_by_account_id"] == ADMIN
    assert key_user["added_by_display_name"] == "Léa Petit"


def test_admin_api_audit_display_names(admin_site):
    admin_site.admin("PUT", f"/organizations/{DURAND}/subscription", json=CONTRACT)
    admin_site.admin("POST", f"/organizations/{DURAND}/key-users", json={"account_id": "cust-bruno"})
    entries = admin_site.admin("GET", "/audit").json()["entries"]
    assert [entry["action"] for entry in entries] == ["key_user_added", "subscription_created"]
    assert [entry["actor_display_name"] for entry in entries] == ["Léa Petit", "Léa Petit"]
    assert entries[0]["account_display_name"] == "Bruno Leroy"
    assert entries[1]["account_display_name"] is None


def test_admin_api_audit_unknown_account(admin_site):
    with admin_site.context():
        installation = admin_site.installation()
        with admin_site.server.app.extensions["database"].transaction() as session:
            audit(session, installation.id, "gone-account", "key_user_removed", "Removed key user gone-customer",
                  account_id="gone-customer", organization_name="Fromagerie Durand")
    [entry] = admin_site.admin("GET", "/audit").json()["entries"]
    assert entry["actor_account_id"] == "gone-account"
    assert entry["actor_display_name"] is None
    assert entry["account_display_name"] is None


def test_admin_api_audit_names_cached(admin_site, jira_site):
    admin_site.admin("PUT", f"/organizations/{DURAND}/subscription", json=CONTRACT)
    admin_site.admin("GET", "/audit")
    admin_site.admin("GET", "/audit")
    bulk_calls = [entry for entry in jira_site.control("GET", "/_devsite/requests")
                  if entry["path"].endswith("/user/bulk")]
    assert len(bulk_calls) == 1


def test_admin_api_audit_names_jira_down(admin_site, jira_site):
    admin_site.admin("PUT", f"/organizations/{DURAND}/subscription", json=CONTRACT)
    admin_site.server.app.config["JIRA_MAX_RETRIES"] = 0
    jira_site.control("PUT", "/_devsite/faults", json=[{"mode": "error", "path": "/user/bulk$", "status": 503, "times": 0}])
    response = admin_site.admin("GET", "/audit")
    assert response.status_code == 200
    [entry] = response.json()["entries"]
    assert entry["actor_account_id"] == ADMIN
    assert entry["actor_display_name"] is None


def test_admin_api_present_after_failure(admin_site):
    # Activated without a main contact: the request fails, the audit entry gives the reason, and the card can
    # present the chat again once a main contact is chosen.
    no_contact = dict(CONTRACT, main_contact_account_id=None)
    admin_site.admin("PUT", f"/organizations/{DURAND}/subscription", json=no_contact)
    admin_site.admin("POST", f"/organizations/{DURAND}/subscription/activate")
    [failed] = [entry for entry in admin_site.admin("GET", "/audit?lang=en").json()["entries"]
                if entry["action"] == "presentation_failed"]
    assert "has no main contact" in failed["details"]["error"]
    assert " / " not in failed["details"]["error"]

    response = admin_site.admin("POST", f"/organizations/{DURAND}/subscription/present?lang=fr")
    assert response.status_code == 502
    assert "n'a pas de contact principal" in response.json()["error"]["message"]

    admin_site.admin("PUT", f"/organizations/{DURAND}/subscription", json={"main_contact_account_id": "cust-alice"})
    response = admin_site.admin("POST", f"/organizations/{DURAND}/subscription/present")
    assert response.status_code == 400
    subscription = admin_site.admin("GET", f"/organizations/{DURAND}/subscription").json()["subscription"]
    assert subscription["activation_issue_key"] is not None


def test_admin_api_present_route(admin_site):
    admin_site.admin("PUT", f"/organizations/{DURAND}/subscription", json=dict(CONTRACT, main_contact_account_id=None))
    admin_site.admin("POST", f"/organizations/{DURAND}/subscription/activate")
    # Set the contact straight in the database, as an older version of the add-on left it.
    with admin_site.context():
        database = admin_site.server.app.extensions["database"]
        with database.transaction() as session:
            get_subscription(admin_site.installation().id, DURAND, session).main_contact_account_id = "cust-alice"
    response = admin_site.admin("POST", f"/organizations/{DURAND}/subscription/present")
    assert response.status_code == 200, response.text
    assert response.json()["subscription"]["activation_issue_key"] is not None


def test_admin_api_present_suspended(admin_site):
    admin_site.admin("PUT", f"/organizations/{DURAND}/subscription", json=CONTRACT)
    response = admin_site.admin("POST", f"/organizations/{DURAND}/subscription/present?lang=en")
    assert response.status_code == 400
    assert "is not active" in response.json()["error"]["message"]
