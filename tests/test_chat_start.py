"""Starting a chat against the local Jira site, and who may then see the conversation."""

import pytest

from addon.chat.access import access_conversation, access_conversation_by_issue, is_agent
from addon.chat.actions import Viewer, history, post_message
from addon.chat.models import AuthorRole, SyncState, Visibility
from addon.chat.start import start_chat
from addon.errors import InvalidInput, NotFound, PermissionDenied
from addon.settings import set_setting

from .subscriptions import grant_defaults



def viewer(installation, account_id, role=AuthorRole.CUSTOMER, project_key=None):
    return Viewer(installation_id=installation.id, client_key=installation.client_key,
                  account_id=account_id, role=role, project_key=project_key)


@pytest.fixture
def site_app(addon_server, installed_addon):
    from addon.atlassian.installations import get_installation

    grant_defaults(addon_server.app, installed_addon)
    with addon_server.app.app_context():
        yield addon_server.app, get_installation(installed_addon)


def start(installation, account_id="cust-alice", **overrides):
    fields = dict(summary="Impossible de valider une facture", product_area="Comptabilité",
                  impact="blocking", message="Erreur E1024 à la validation.\nVersion 12.3",
                  client_message_id="first-1")
    fields.update(overrides)
    return start_chat(viewer(installation, account_id), **fields)


def test_start_creates_marked_request(site_app, jira_site):
    _, installation = site_app
    conversation = start(installation)

    issue = jira_site.control("GET", f"/_devsite/issues/{conversation.issue_key}")
    assert issue["properties"]["supportchat"]["enabled"] == "true"
    assert "chat" in issue["labels"]
    assert issue["reporter"] == "cust-alice"
    assert issue["organizations"] == ["1"]
    assert issue["description"] == "Erreur E1024 à la validation.\nVersion 12.3"


@pytest.mark.parametrize(("impact", "priority"), [("blocking", "High"), ("question", "Low")])
def test_start_sets_priority_of_impact(site_app, jira_site, impact, priority):
    _, installation = site_app
    conversation = start(installation, impact=impact)

    assert jira_site.control("GET", f"/_devsite/issues/{conversation.issue_key}")["priority"] == priority


def test_start_keeps_default_priority_unknown_to_site(site_app, jira_site):
    _, installation = site_app
    set_setting(installation.id, "impact_priorities", {"blocking": "Critique", "degraded": "Medium",
                                                       "question": "Low"})

    conversation = start(installation)

    assert jira_site.control("GET", f"/_devsite/issues/{conversation.issue_key}")["priority"] == "Medium"


def test_start_stores_first_message(site_app):
    _, installation = site_app
    conversation = start(installation)

    messages = history(conversation.id, viewer(installation, "cust-alice"))
    assert [m.seq for m in messages] == [1]
    assert messages[0].sync_state == SyncState.IN_DESCRIPTION


def test_start_resend_returns_same_chat(site_app, jira_site):
    _, installation = site_app
    first = start(installation)
    again = start(installation)

    assert again.id == first.id


@pytest.mark.parametrize(("field", "value", "fragment"), [
    ("summary", "   ", "résumé est vide"),
    ("summary", "x" * 256, "255"),
    ("impact", "urgent", "Impact inconnu"),
    ("product_area", "Cuisine", "Domaine inconnu"),
    ("message", "", "message"),
])
def test_start_rejects_bad_statement(site_app, field, value, fragment):
    _, installation = site_app
    with pytest.raises(InvalidInput) as raised:
        start(installation, **{field: value})
    assert fragment in raised.value.message


def test_agent_permission_from_jira(site_app):
    _, installation = site_app
    assert is_agent(installation, "agent-camille", "SUP") is True
    assert is_agent(installation, "cust-alice", "SUP") is False


def test_same_organisation_customer_sees_chat(site_app):
    _, installation = site_app
    conversation = start(installation)

    assert access_conversation(viewer(installation, "cust-bruno"), conversation.id).id == conversation.id


def test_other_organisation_customer_gets_not_found(site_app):
    _, installation = site_app
    conversation = start(installation)

    with pytest.raises(NotFound):
        access_conversation(viewer(installation, "cust-chloe"), conversation.id)
    with pytest.raises(NotFound):
        access_conversation_by_issue(viewer(installation, "cust-chloe"), conversation.issue_key)


def test_internal_note_hidden_from_customer(site_app):
    _, installation = site_app
    conversation = start(installation)
    agent = viewer(installation, "agent-camille", AuthorRole.AGENT, "SUP")

    post_message(agent, conversation.id, "Vérifier la TVA", visibility=Visibility.INTERNAL)
    post_message(agent, conversation.id, "Bonjour Alice", visibility=Visibility.PUBLIC)

    customer_view = [m.body for m in history(conversation.id, viewer(installation, "cust-alice"))]
    agent_view = [m.body for m in history(conversation.id, agent)]
    assert "Vérifier la TVA" not in customer_view
    assert "Vérifier la TVA" in agent_view
    assert "Bonjour Alice" in customer_view


def test_resend_same_client_id_is_idempotent(site_app):
    _, installation = site_app
    conversation = start(installation)
    alice = viewer(installation, "cust-alice")

    first, created = post_message(alice, conversation.id, "Merci", client_message_id="c-2")
    again, created_again = post_message(alice, conversation.id, "Merci", client_message_id="c-2")

    assert created is True
    assert created_again is False
    assert again.id == first.id


def test_customer_cannot_write_internal_note(site_app):
    _, installation = site_app
    conversation = start(installation)
    with pytest.raises(PermissionDenied):
        post_message(viewer(installation, "cust-alice"), conversation.id, "x", visibility=Visibility.INTERNAL)


def test_concurrent_posts_get_distinct_seqs(site_app):
    import threading

    app, installation = site_app
    conversation = start(installation)
    alice = viewer(installation, "cust-alice")
    errors = []

    def post(index):
        with app.app_context():
            try:
                post_message(alice, conversation.id, f"message {index}", client_message_id=f"c-{index}")
            except Exception as error:  # collected and asserted below
                errors.append(error)

    threads = [threading.Thread(target=post, args=(index,)) for index in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    seqs = [message.seq for message in history(conversation.id, alice)]
    assert seqs == list(range(1, 14))


def test_other_participant_reads_not_writes(site_app):

    _, installation = site_app
    conversation = start(installation)
    bruno = viewer(installation, "cust-bruno")

    assert access_conversation(bruno, conversation.id).id == conversation.id
    with pytest.raises(PermissionDenied):
        post_message(bruno, conversation.id, "Je peux aider ?")


def test_payload_times_carry_utc_zone(site_app):
    from addon.chat.fanout import message_payload

    _, installation = site_app
    conversation = start(installation)
    first = history(conversation.id, viewer(installation, "cust-alice"))[0]

    assert message_payload(conversation, first)["created_at"].endswith("+00:00")
