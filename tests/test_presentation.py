"""The activation request that presents the chat, against the local Jira site."""

from datetime import date

import pytest

from addon.access.models import KeyUser, Subscription, SubscriptionStatus
from addon.access.presentation import PresentationFailed, activation_description, present_subscription
from addon.atlassian.installations import get_installation
from addon.settings import set_setting
from addon.sync.comment_text import from_wiki

APP_ACCOUNT_ID = "addon-com.example.support-chat"
QUESTION_REQUEST_TYPE_ID = "12"


@pytest.fixture
def site_app(addon_server, installed_addon):
    with addon_server.app.app_context():
        yield addon_server.app, get_installation(installed_addon)


def subscribe(app, installation, main_contact="cust-alice", key_users=("cust-bruno", "cust-alice"),
              sla_tier="standard"):
    """Store an active subscription of Fromagerie Durand with its key users."""
    with app.extensions["database"].transaction() as session:
        subscription = Subscription(
            installation_id=installation.id, organization_id="1", organization_name="Fromagerie Durand",
            contract_reference="CS-2026-014", status=SubscriptionStatus.ACTIVE,
            starts_on=date(2026, 1, 1), sla_tier=sla_tier, main_contact_account_id=main_contact,
        )
        session.add(subscription)
        session.flush()
        for account_id in key_users:
            session.add(KeyUser(installation_id=installation.id, subscription_id=subscription.id,
                                account_id=account_id, organization_id="1"))
    return subscription


def public_comments(issue):
    return [comment for comment in issue["comments"] if comment["public"]]


def test_presentation_opens_shared_request(site_app, jira_site):
    app, installation = site_app
    issue_key = present_subscription(subscribe(app, installation))

    issue = jira_site.control("GET", f"/_devsite/issues/{issue_key}")
    assert issue["reporter"] == "cust-alice"
    assert issue["organizations"] == ["1"]
    assert issue["request_type_id"] == QUESTION_REQUEST_TYPE_ID
    assert "Fromagerie Durand" in issue["summary"]
    assert "CS-2026-014" in from_wiki(issue["description"])


@pytest.mark.parametrize(("ends_on", "period"), [
    (None, "(depuis le 01/01/2026, sans date de fin)"),
    (date(2026, 12, 31), "(du 01/01/2026 au 31/12/2026)"),
])
def test_activation_description_dates(ends_on, period):
    subscription = Subscription(contract_reference="CS-2026-014", organization_name="Fromagerie Durand",
                                starts_on=date(2026, 1, 1), ends_on=ends_on)
    assert period in activation_description(subscription)


def test_presentation_comment_content(site_app, jira_site):
    app, installation = site_app
    issue_key = present_subscription(subscribe(app, installation))

    comments = public_comments(jira_site.control("GET", f"/_devsite/issues/{issue_key}"))
    assert len(comments) == 1
    body = comments[0]["body"]
    assert comments[0]["author"] == APP_ACCOUNT_ID
    assert "Alice Durand" in body
    assert "Bruno Leroy" in body
    assert body.index("Alice Durand") < body.index("Bruno Leroy")
    assert f"{app.config['ADDON_BASE_URL']}/guide?lang=fr" in body
    assert f"{app.config['ADDON_BASE_URL']}/guide/rules?lang=fr" in body
    assert "8 heures ouvrées" in body
    assert "formation" in body
    assert "personnalisations" in body
    assert f"{jira_site.url}/servicedesk/customer/portal/1" in body


def test_presentation_links_stay_plain(site_app, jira_site):
    # A backslash glued to a URL would break the link in JSM's e-mail.
    app, installation = site_app
    issue_key = present_subscription(subscribe(app, installation))

    body = public_comments(jira_site.control("GET", f"/_devsite/issues/{issue_key}"))[0]["body"]
    for line in body.splitlines():
        if "http" in line:
            assert "\\" not in line[line.index("http"):], line


def test_presentation_names_support_email(site_app, jira_site):
    app, installation = site_app
    set_setting(installation.id, "support_email", "support@editeur-erp.example")
    issue_key = present_subscription(subscribe(app, installation))

    body = from_wiki(public_comments(jira_site.control("GET", f"/_devsite/issues/{issue_key}"))[0]["body"])
    assert "support@editeur-erp.example" in body


def test_presentation_unknown_tier_without_hours(site_app, jira_site):
    app, installation = site_app
    issue_key = present_subscription(subscribe(app, installation, sla_tier="sur-mesure"))

    body = from_wiki(public_comments(jira_site.control("GET", f"/_devsite/issues/{issue_key}"))[0]["body"])
    assert "« sur-mesure »" in body
    assert "heures ouvrées qui" not in body


def test_presentation_as_acting_admin(site_app, jira_site):
    app, installation = site_app
    issue_key = present_subscription(subscribe(app, installation), actor_account_id="admin-lea")

    comments = public_comments(jira_site.control("GET", f"/_devsite/issues/{issue_key}"))
    assert comments[0]["author"] == "admin-lea"
    calls = jira_site.control("GET", "/_devsite/requests")
    comment_calls = [call for call in calls
                     if call["method"] == "POST" and call["path"].endswith(f"/request/{issue_key}/comment")]
    assert comment_calls[-1]["as_account_id"] == "admin-lea"


def test_presentation_needs_main_contact(site_app, jira_site):
    app, installation = site_app
    subscription = subscribe(app, installation, main_contact=None)

    with pytest.raises(PresentationFailed) as raised:
        present_subscription(subscription)
    assert "contact principal" in raised.value.message
    assert "main contact" in raised.value.message


def test_presentation_create_failure(site_app, jira_site):
    app, installation = site_app
    subscription = subscribe(app, installation)
    jira_site.control("PUT", "/_devsite/faults", json={
        "method": "POST", "path": r"/rest/servicedeskapi/request$", "mode": "error", "status": 500})

    with pytest.raises(PresentationFailed) as raised:
        present_subscription(subscription)
    assert raised.value.issue_key is None
    assert "could not create the activation request" in raised.value.message
    assert "HTTP 500" in raised.value.message
    assert "Fromagerie Durand" in raised.value.message


def test_presentation_comment_failure(site_app, jira_site):
    app, installation = site_app
    subscription = subscribe(app, installation)
    jira_site.control("PUT", "/_devsite/faults", json={
        "method": "POST", "path": r"/rest/servicedeskapi/request/[^/]+/comment$", "mode": "error",
        "status": 500})

    with pytest.raises(PresentationFailed) as raised:
        present_subscription(subscription)
    issue_key = raised.value.issue_key
    assert issue_key is not None
    assert f"activation request {issue_key}" in raised.value.message
    assert "could not add the presentation" in raised.value.message
    issue = jira_site.control("GET", f"/_devsite/issues/{issue_key}")
    assert public_comments(issue) == []


def test_presentation_after_uninstall(site_app, jira_site):
    app, installation = site_app
    subscription = subscribe(app, installation)
    jira_site.control("POST", "/_devsite/apps/com.example.support-chat/uninstall")

    with pytest.raises(PresentationFailed) as raised:
        present_subscription(subscription)
    assert "no longer installed" in raised.value.message
