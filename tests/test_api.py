"""JSON API /api: real HTTP to the add-on on loopback, with context tokens as Jira signs them,
and the local Jira site behind it (start a chat, access checks, long-poll)."""

import threading
import uuid

import requests

from addon.atlassian.qsh import qsh_of

from .support import wait_until
from .wsclient import chat_site  # noqa: F401  (fixture)

CUSTOMER = "cust-alice"
OTHER_ORG_CUSTOMER = "cust-chloe"
AGENT = "agent-camille"


def post(chat_site, conversation_id, account_id, body, visibility="public", client_message_id=None):
    return chat_site.api("POST", f"/chats/{conversation_id}/messages", account_id, json={
        "body": body, "visibility": visibility, "client_message_id": client_message_id or str(uuid.uuid4()),
    })


def bodies(response):
    return [message["body"] for message in response.json()["messages"]]


def test_api_me_customer(chat_site):
    response = chat_site.api("GET", "/me", CUSTOMER)
    assert response.status_code == 200
    assert response.json() == {"account_id": CUSTOMER, "role": "customer", "project_key": None}


def test_api_me_agent(chat_site):
    response = chat_site.api("GET", "/me?project_key=SUP", AGENT)
    assert response.json()["role"] == "agent"


def test_api_start_form(chat_site):
    form = chat_site.api("GET", "/start-form", CUSTOMER).json()
    assert "Ventes" in form["product_areas"]
    assert [impact["value"] for impact in form["impacts"]] == ["blocking", "degraded", "question"]


def test_api_missing_token(chat_site):
    response = requests.get(chat_site.url + "/api/me", timeout=10)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_api_computed_qsh_rejected(chat_site):
    token = chat_site.token(CUSTOMER, qsh=qsh_of("GET", "/api/me", ""))
    response = requests.get(chat_site.url + "/api/me", headers={"Authorization": f"JWT {token}"}, timeout=10)
    assert response.status_code == 401


def test_api_create_chat(chat_site, jira_site):
    conversation = chat_site.start_chat(CUSTOMER)
    assert conversation["issue_key"].startswith("SUP-")
    assert conversation["state"] == "open"
    issue = jira_site.control("GET", f"/_devsite/issues/{conversation['issue_key']}")
    assert "chat" in issue["labels"]


def test_api_create_chat_invalid(chat_site):
    response = chat_site.api("POST", "/chats", CUSTOMER, json={
        "summary": "", "product_area": "Ventes", "impact": "blocking", "message": "Bonjour",
    })
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"


def test_api_create_chat_not_json(chat_site):
    response = chat_site.api("POST", "/chats", CUSTOMER, data="summary=x")
    assert response.status_code == 400


def test_api_list_chats_unread(chat_site):
    conversation = chat_site.start_chat(CUSTOMER)
    post(chat_site, conversation["id"], AGENT, "Bonjour, je prends votre demande.")
    chats = chat_site.api("GET", "/chats", CUSTOMER).json()["chats"]
    assert [chat["id"] for chat in chats] == [conversation["id"]]
    assert chats[0]["unread"] == 1

    marked = chat_site.api("POST", f"/chats/{conversation['id']}/read", CUSTOMER, json={"seq": 2})
    assert marked.json()["seq"] == 2
    assert chat_site.api("GET", "/chats", CUSTOMER).json()["chats"][0]["unread"] == 0


def test_api_read_mark_never_backwards(chat_site):
    conversation = chat_site.start_chat(CUSTOMER)
    post(chat_site, conversation["id"], AGENT, "Réponse")
    chat_site.api("POST", f"/chats/{conversation['id']}/read", CUSTOMER, json={"seq": 2})
    marked = chat_site.api("POST", f"/chats/{conversation['id']}/read", CUSTOMER, json={"seq": 1})
    assert marked.json()["seq"] == 2


def test_api_post_then_resend(chat_site):
    conversation = chat_site.start_chat(CUSTOMER)
    client_message_id = str(uuid.uuid4())
    first = post(chat_site, conversation["id"], CUSTOMER, "Une fois", client_message_id=client_message_id)
    second = post(chat_site, conversation["id"], CUSTOMER, "Une fois", client_message_id=client_message_id)
    assert first.status_code == 201
    assert second.status_code == 200
    assert first.json()["ack"] == second.json()["ack"]
    history = chat_site.api("GET", f"/chats/{conversation['id']}/messages", CUSTOMER)
    assert bodies(history).count("Une fois") == 1


def test_api_history_hides_internal(chat_site):
    conversation = chat_site.start_chat(CUSTOMER)
    post(chat_site, conversation["id"], AGENT, "Note interne", visibility="internal")
    post(chat_site, conversation["id"], AGENT, "Réponse publique")

    customer_view = chat_site.api("GET", f"/chats/{conversation['id']}/messages?after=1", CUSTOMER)
    agent_view = chat_site.api("GET", f"/chats/{conversation['id']}/messages?after=1", AGENT)
    assert bodies(customer_view) == ["Réponse publique"]
    assert bodies(agent_view) == ["Note interne", "Réponse publique"]


def test_api_customer_internal_rejected(chat_site):
    conversation = chat_site.start_chat(CUSTOMER)
    response = post(chat_site, conversation["id"], CUSTOMER, "Note ?", visibility="internal")
    assert response.status_code == 403


def test_api_by_issue_agent(chat_site):
    conversation = chat_site.start_chat(CUSTOMER)
    response = chat_site.api("GET", f"/chats/by-issue/{conversation['issue_key']}", AGENT)
    assert response.status_code == 200
    assert response.json()["conversation"]["id"] == conversation["id"]


def test_api_other_org_not_found(chat_site):
    conversation = chat_site.start_chat(CUSTOMER, message="Secret de la Fromagerie")
    for path in (f"/chats/{conversation['id']}/messages", f"/chats/{conversation['id']}/poll",
                 f"/chats/by-issue/{conversation['issue_key']}"):
        response = chat_site.api("GET", path, OTHER_ORG_CUSTOMER)
        assert response.status_code == 404, path
        assert "Fromagerie" not in response.text


def test_api_not_found_english(chat_site):
    response = chat_site.api("GET", "/chats/424242/messages?lang=en", CUSTOMER)
    assert response.json()["error"]["message"] == "Chat not found (424242)."


def test_api_invalid_after(chat_site):
    conversation = chat_site.start_chat(CUSTOMER)
    response = chat_site.api("GET", f"/chats/{conversation['id']}/messages?after=-1", CUSTOMER)
    assert response.status_code == 400


def test_api_typing(chat_site):
    conversation = chat_site.start_chat(CUSTOMER)
    response = chat_site.api("POST", f"/chats/{conversation['id']}/typing", CUSTOMER)
    assert response.status_code == 204


# Long-poll.

def test_api_poll_returns_at_once(chat_site):
    conversation = chat_site.start_chat(CUSTOMER)
    response = chat_site.api("GET", f"/chats/{conversation['id']}/poll?after=0", CUSTOMER)
    assert [message["seq"] for message in response.json()["messages"]] == [1]


def start_poll(chat_site, conversation_id, account_id, after):
    """Run a long-poll in a thread; return (thread, result dict filled when it returns)."""
    result = {}

    def run():
        result["response"] = chat_site.api("GET", f"/chats/{conversation_id}/poll?after={after}", account_id)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def poll_waiting(chat_site, count=1):
    """Return True once `count` long-polls wait in the hub."""
    hub = chat_site.server.app.extensions["hub"]
    return hub.waiter_count() >= count


def test_api_poll_wakes_on_post(chat_site):
    conversation = chat_site.start_chat(CUSTOMER)
    thread, result = start_poll(chat_site, conversation["id"], CUSTOMER, after=1)
    wait_until(lambda: poll_waiting(chat_site), message="the long-poll to wait")

    post(chat_site, conversation["id"], AGENT, "Réponse de l'agent")
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert bodies(result["response"]) == ["Réponse de l'agent"]


def test_api_poll_skips_internal(chat_site):
    conversation = chat_site.start_chat(CUSTOMER)
    thread, result = start_poll(chat_site, conversation["id"], CUSTOMER, after=1)
    wait_until(lambda: poll_waiting(chat_site), message="the long-poll to wait")

    post(chat_site, conversation["id"], AGENT, "Note interne", visibility="internal")
    post(chat_site, conversation["id"], AGENT, "Réponse publique")
    thread.join(timeout=30)
    assert bodies(result["response"]) == ["Réponse publique"]


def test_api_fallback_post_and_history(chat_site):
    conversation = chat_site.start_chat(CUSTOMER)
    post(chat_site, conversation["id"], CUSTOMER, "Message par HTTP")
    post(chat_site, conversation["id"], AGENT, "Réponse par HTTP")
    history = chat_site.api("GET", f"/chats/{conversation['id']}/messages?after=0", CUSTOMER)
    assert [message["seq"] for message in history.json()["messages"]] == [1, 2, 3]
    assert bodies(history)[1:] == ["Message par HTTP", "Réponse par HTTP"]
