"""Unread counts of the chat API for a key user who left, and the agent's replies meanwhile."""

from addon.chat.actions import add_event
from addon.chat.models import Visibility

from .solution_support import AGENT, CUSTOMER, agent_reply, comment_with
from .wsclient import chat_site  # noqa: F401  (fixture)

FIRST_REPLY = "Bonjour Alice, je regarde la facture 42."
SECOND_REPLY = "C'est corrigé, vous pouvez relancer la validation."
NOTE = "Note interne : correctif appliqué."


def chat_of(site, account_id, conversation_id):
    chats = site.api("GET", "/chats", account_id).json()["chats"]
    return next(chat for chat in chats if chat["id"] == conversation_id)


def event(site, conversation_id, event_type, **fields):
    with site.server.app.app_context():
        return add_event(conversation_id, event_type, **fields).seq


def test_unread_counts_replies_only(chat_site):
    conversation = chat_site.start_chat(CUSTOMER)
    before = chat_of(chat_site, CUSTOMER, conversation["id"])["unread"]

    agent_reply(chat_site, conversation["id"], FIRST_REPLY)
    agent_reply(chat_site, conversation["id"], SECOND_REPLY)
    agent_reply(chat_site, conversation["id"], NOTE, visibility="internal")

    assert chat_of(chat_site, CUSTOMER, conversation["id"])["unread"] == before + 2


def test_unread_skips_own_and_hidden_events(chat_site):
    conversation = chat_site.start_chat(CUSTOMER)
    latest = chat_site.api("GET", f"/chats/{conversation['id']}/messages", CUSTOMER).json()["messages"][-1]["seq"]
    chat_site.api("POST", f"/chats/{conversation['id']}/read", CUSTOMER, json={"seq": latest})

    event(chat_site, conversation["id"], "solution_validated", author_account_id=CUSTOMER)
    event(chat_site, conversation["id"], "satisfaction_asked")
    event(chat_site, conversation["id"], "status_changed", body="In Progress", visibility=Visibility.INTERNAL)
    assert chat_of(chat_site, CUSTOMER, conversation["id"])["unread"] == 0

    # The resolution that the key user's validation caused is not news, as in the chat's log.
    event(chat_site, conversation["id"], "request_resolved")
    assert chat_of(chat_site, CUSTOMER, conversation["id"])["unread"] == 0

    agent_reply(chat_site, conversation["id"], FIRST_REPLY)
    event(chat_site, conversation["id"], "request_reopened")
    assert chat_of(chat_site, CUSTOMER, conversation["id"])["unread"] == 2


def test_unread_own_event_before_read_mark(chat_site):
    conversation = chat_site.start_chat(CUSTOMER)
    own = event(chat_site, conversation["id"], "solution_validated", author_account_id=CUSTOMER)
    chat_site.api("POST", f"/chats/{conversation['id']}/read", CUSTOMER, json={"seq": own})

    event(chat_site, conversation["id"], "request_resolved")

    assert chat_of(chat_site, CUSTOMER, conversation["id"])["unread"] == 0


def test_last_read_seq_returned(chat_site):
    conversation = chat_site.start_chat(CUSTOMER)
    reply = agent_reply(chat_site, conversation["id"], FIRST_REPLY)
    agent_reply(chat_site, conversation["id"], SECOND_REPLY)

    chat_site.api("POST", f"/chats/{conversation['id']}/read", CUSTOMER, json={"seq": reply["seq"]})

    listed = chat_of(chat_site, CUSTOMER, conversation["id"])
    assert listed["last_read_seq"] == reply["seq"]
    assert listed["unread"] == 1
    by_issue = chat_site.api("GET", f"/chats/by-issue/{conversation['issue_key']}", CUSTOMER).json()["conversation"]
    assert by_issue["last_read_seq"] == reply["seq"]


def test_replies_kept_while_away(chat_site, jira_site):
    # The key user has no socket open: the replies become public comments, which JSM e-mails,
    # and wait in the chat for the next visit.
    conversation = chat_site.start_chat(CUSTOMER)
    agent_reply(chat_site, conversation["id"], FIRST_REPLY)
    agent_reply(chat_site, conversation["id"], SECOND_REPLY)

    for text in (FIRST_REPLY, SECOND_REPLY):
        comment = comment_with(jira_site, conversation["issue_key"], text)
        assert comment["public"] is True
        assert comment["author"] == AGENT
    listed = chat_of(chat_site, CUSTOMER, conversation["id"])
    after = chat_site.api("GET", f"/chats/{conversation['id']}/messages", CUSTOMER,
                          params={"after": listed["last_read_seq"]}).json()["messages"]
    bodies = [message["body"] for message in after]
    assert FIRST_REPLY in bodies
    assert SECOND_REPLY in bodies
