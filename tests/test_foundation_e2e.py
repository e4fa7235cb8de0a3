"""The whole Connect loop between the two servers over real HTTP: signed install, a signed
webhook from the site, and the add-on's signed REST call back to the site."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from addon.atlassian.installations import get_active_installation
from addon.atlassian.webhooks import WebhookEvent
from addon.chat.models import Conversation

from .support import wait_until

CHAT_PROPERTY_PATH = "/rest/api/3/issue/{key}/properties/supportchat"


def deliveries(jira_site, event):
    return [entry for entry in jira_site.control("GET", "/_devsite/webhooks") if entry["event"] == event]


def calls_to(jira_site, path):
    return [entry for entry in jira_site.control("GET", "/_devsite/requests") if entry["path"].endswith(path)]


def store_conversation(app, client_key, issue):
    """Store a conversation on the site's `issue`, so that the add-on looks at its comments."""
    with app.app_context():
        installation = get_active_installation(client_key)
        with Session(app.extensions["database"].engine) as session:
            session.add(Conversation(
                installation_id=installation.id, issue_id=str(issue["id"]), issue_key=issue["key"],
                project_key="SUP", service_desk_id="1", request_type_id="10",
                opened_by_account_id="cust-alice", summary="Facture bloquée", impact="question"))
            session.commit()


def test_install_webhook_signed_call(addon_server, installed_addon, jira_site):
    # The comment is on a request with a conversation, so the add-on asks Jira for its chat marker.
    store_conversation(addon_server.app, installed_addon, jira_site.control("GET", "/_devsite/issues/SUP-1"))
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


def processed_events(app):
    with Session(app.extensions["database"].engine) as session:
        return session.scalars(select(WebhookEvent).where(WebhookEvent.processed_at.is_not(None))).all()


def test_comment_without_conversation_needs_no_call(addon_server, installed_addon, jira_site):
    # Only requests opened by chat have a conversation; the others' comments cost no Jira call.
    jira_site.control("POST", "/_devsite/actions/comment", json={
        "issue_key": "SUP-1", "author_account_id": "agent-camille", "body": "Vu.", "public": True,
    })

    wait_until(lambda: [e for e in processed_events(addon_server.app) if e.name == "comment_created"],
               message="the comment_created webhook to be processed")

    assert calls_to(jira_site, CHAT_PROPERTY_PATH.format(key="SUP-1")) == []
