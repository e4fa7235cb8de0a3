"""The whole Connect loop between the two servers over real HTTP: signed install, a signed
webhook from the site, and the add-on's signed REST call back to the site."""

from .support import wait_until

CHAT_PROPERTY_PATH = "/rest/api/3/issue/{key}/properties/supportchat"


def deliveries(jira_site, event):
    return [entry for entry in jira_site.control("GET", "/_devsite/webhooks") if entry["event"] == event]


def calls_to(jira_site, path):
    return [entry for entry in jira_site.control("GET", "/_devsite/requests") if entry["path"].endswith(path)]


def test_install_webhook_signed_call(installed_addon, jira_site):
    jira_site.control("POST", "/_devsite/actions/comment", json={
        "issue_key": "SUP-1", "author_account_id": "agent-camille",
        "body": "Bonjour, pouvez-vous préciser la version de l'ERP ?", "public": True,
    })

    delivered = wait_until(lambda: [d for d in deliveries(jira_site, "comment_created") if d["status"] == 204],
                           message="the comment_created webhook to be acknowledged")
    property_calls = wait_until(lambda: calls_to(jira_site, CHAT_PROPERTY_PATH.format(key="SUP-1")),
                                message="the add-on's call for the chat marker")

    assert delivered[0]["url"].endswith("/webhooks/comment-created")
    assert property_calls[0]["method"] == "GET"
    assert property_calls[0]["auth"] == "jwt"
    assert property_calls[0]["verified"] is True


def test_issue_updated_uses_embedded_property(installed_addon, jira_site):
    jira_site.control("POST", "/_devsite/actions/transition", json={
        "issue_key": "SUP-2", "actor_account_id": "agent-camille", "to_status": "In Progress",
    })

    wait_until(lambda: [d for d in deliveries(jira_site, "jira:issue_updated") if d["status"] == 204],
               message="the jira:issue_updated webhook to be acknowledged")

    assert calls_to(jira_site, CHAT_PROPERTY_PATH.format(key="SUP-2")) == []
