"""Who may chat: the key-user rule at every entry point, over HTTP and the websocket.

Each refused case also checks that nothing of the conversation leaks: the secret texts of its
summary and first message, and its issue key, never appear in a refused response or frame.
"""

import json
import threading
import time
import uuid
from datetime import date

import jwt
import pytest
import requests

from addon.access.models import Subscription, SubscriptionStatus
from addon.atlassian.qsh import CONTEXT_QSH
from addon.models import Installation

from .subscriptions import change_subscription, grant, revoke
from .support import wait_until
from .wsclient import chat_site  # noqa: F401  (fixture)

KEY_USER = "cust-alice"  # key user of organisation 1 (Fromagerie Durand)
NON_KEY_CUSTOMER = "cust-bruno"  # organisation 1, not a key user
OTHER_ORG_KEY_USER = "cust-chloe"  # key user of organisation 2
AGENT = "agent-camille"
SECRET_SUMMARY = "Sommaire-confidentiel-QX71"
SECRET_BODY = "Texte-confidentiel-ZW42 de la Fromagerie"
SECRET_REPLY = "Réponse-confidentielle-KP93"
OTHER_SITE_KEY = "jira:other-site-0002"
OTHER_SITE_SECRET = "other-site-shared-secret-0123456789abcdef"


@pytest.fixture
def secret_chat(chat_site):
    """A chat that the key user started, whose summary and first message carry secret texts."""
    response = chat_site.api("POST", "/chats", KEY_USER, json={
        "summary": SECRET_SUMMARY, "product_area": "Ventes", "impact": "blocking",
        "message": SECRET_BODY, "client_message_id": str(uuid.uuid4()),
    })
    assert response.status_code == 201, response.text
    return response.json()["conversation"]


def assert_no_leak(text, conversation, issue_key_too=True):
    assert SECRET_SUMMARY not in text
    assert SECRET_BODY not in text
    assert SECRET_REPLY not in text
    if issue_key_too:
        assert conversation["issue_key"] not in text


def api(chat_site, method, path, account_id, token=None, **kwargs):
    headers = {"Authorization": f"JWT {token or chat_site.token(account_id)}"}
    return requests.request(method, chat_site.url + "/api" + path, headers=headers, timeout=40, **kwargs)


def post(chat_site, conversation_id, account_id, body="Bonjour", visibility="public", token=None):
    return api(chat_site, "POST", f"/chats/{conversation_id}/messages", account_id, token=token, json={
        "body": body, "visibility": visibility, "client_message_id": str(uuid.uuid4()),
    })


def start(chat_site, account_id, token=None, **fields):
    body = {"summary": "Nouvelle demande", "product_area": "Ventes", "impact": "question",
            "message": "Bonjour", "client_message_id": str(uuid.uuid4())}
    body.update(fields)
    return api(chat_site, "POST", "/chats", account_id, token=token, json=body)


def closed_socket(chat_site, token):
    """Open a socket, authenticate with `token`; return (close code, text of every frame received)."""
    client = chat_site.socket()
    client.send(type="auth", token=token, project_key=None)
    code, frames = client.closed_with()
    return code, json.dumps(frames, ensure_ascii=False)


def rejected_frames(client, conversation):
    """Subscribe and send on `client`; return the two replies and all frames up to a pong, as text."""
    client.send(type="subscribe", conversation_id=conversation["id"], after_seq=0)
    subscribe_reply = client.receive()
    client_message_id = str(uuid.uuid4())
    client.send(type="send", conversation_id=conversation["id"], client_message_id=client_message_id,
                body="Intrusion", visibility="public")
    send_reply = client.wait_ack(client_message_id)
    client.send(type="ping")
    frames = client.receive_until(lambda frame: frame["type"] == "pong")
    return subscribe_reply, send_reply, json.dumps([subscribe_reply, send_reply] + frames, ensure_ascii=False)


def other_site_token(account_id):
    now = int(time.time())
    claims = {"iss": OTHER_SITE_KEY, "iat": now, "exp": now + 300, "qsh": CONTEXT_QSH, "sub": account_id,
              "context": {"user": {"accountId": account_id}}}
    return jwt.encode(claims, OTHER_SITE_SECRET, algorithm="HS256")


@pytest.fixture
def other_site(chat_site, jira_site):
    """A second installed site whose own key user has the same accountId and organisation id."""
    app = chat_site.server.app
    with app.app_context():
        with app.extensions["database"].transaction() as session:
            session.add(Installation(
                client_key=OTHER_SITE_KEY, addon_key=app.config["ADDON_KEY"], base_url=jira_site.url,
                shared_secret_encrypted=app.extensions["secret_box"].encrypt(OTHER_SITE_SECRET),
                install_token_iat=int(time.time()),
            ))
    grant(app, OTHER_SITE_KEY, KEY_USER, "1")
    return other_site_token(KEY_USER)


# Other site.

def test_other_site_http_refused(chat_site, secret_chat, other_site):
    conversation_id = secret_chat["id"]
    responses = [
        api(chat_site, "GET", f"/chats/{conversation_id}/messages", KEY_USER, token=other_site),
        post(chat_site, conversation_id, KEY_USER, token=other_site),
        api(chat_site, "GET", f"/chats/{conversation_id}/poll", KEY_USER, token=other_site),
        api(chat_site, "POST", f"/chats/{conversation_id}/read", KEY_USER, token=other_site, json={"seq": 1}),
    ]
    for response in responses:
        assert response.status_code == 404
        assert_no_leak(response.text, secret_chat)
    listed = api(chat_site, "GET", "/chats", KEY_USER, token=other_site)
    assert listed.json()["chats"] == []


def test_other_site_by_issue_refused(chat_site, secret_chat, other_site):
    response = api(chat_site, "GET", f"/chats/by-issue/{secret_chat['issue_key']}", KEY_USER, token=other_site)
    assert response.status_code == 404
    assert_no_leak(response.text, secret_chat, issue_key_too=False)


def test_other_site_ws_refused(chat_site, secret_chat, other_site):
    client = chat_site.socket()
    assert client.auth(other_site)["type"] == "ready"
    subscribe_reply, send_reply, text = rejected_frames(client, secret_chat)
    assert subscribe_reply["status"] == 4404
    assert send_reply["status"] == 4404
    assert_no_leak(text, secret_chat)


# Other organisation.

def test_other_org_http_refused(chat_site, secret_chat):
    conversation_id = secret_chat["id"]
    responses = [
        api(chat_site, "GET", f"/chats/{conversation_id}/messages", OTHER_ORG_KEY_USER),
        post(chat_site, conversation_id, OTHER_ORG_KEY_USER),
        api(chat_site, "GET", f"/chats/{conversation_id}/poll", OTHER_ORG_KEY_USER),
        api(chat_site, "POST", f"/chats/{conversation_id}/typing", OTHER_ORG_KEY_USER),
    ]
    for response in responses:
        assert response.status_code == 404
        assert_no_leak(response.text, secret_chat)


def test_other_org_start_refused(chat_site, secret_chat):
    response = start(chat_site, OTHER_ORG_KEY_USER, organization_id="1")
    assert response.status_code == 403
    assert_no_leak(response.text, secret_chat)


def test_other_org_ws_refused(chat_site, secret_chat):
    client = chat_site.ready_socket(OTHER_ORG_KEY_USER)
    subscribe_reply, send_reply, text = rejected_frames(client, secret_chat)
    assert subscribe_reply["status"] == 4404
    assert send_reply["status"] == 4404
    assert_no_leak(text, secret_chat)


# A customer of the same organisation who is not a key user.

def test_non_key_reads_shared_chat(chat_site, secret_chat):
    response = api(chat_site, "GET", f"/chats/{secret_chat['id']}/messages", NON_KEY_CUSTOMER)
    assert response.status_code == 200
    assert [message["body"] for message in response.json()["messages"]] == [SECRET_BODY]


def test_non_key_http_write_refused(chat_site, secret_chat):
    conversation_id = secret_chat["id"]
    responses = [
        post(chat_site, conversation_id, NON_KEY_CUSTOMER),
        api(chat_site, "GET", f"/chats/{conversation_id}/poll", NON_KEY_CUSTOMER),
        api(chat_site, "POST", f"/chats/{conversation_id}/typing", NON_KEY_CUSTOMER),
        start(chat_site, NON_KEY_CUSTOMER),
        api(chat_site, "GET", "/start-form", NON_KEY_CUSTOMER),
    ]
    for response in responses:
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "not_key_user"
        assert_no_leak(response.text, secret_chat)
    by_issue = api(chat_site, "GET", f"/chats/by-issue/{secret_chat['issue_key']}", NON_KEY_CUSTOMER)
    assert by_issue.json()["conversation"]["can_write"] is False


def test_non_key_ws_closed(chat_site, secret_chat):
    code, text = closed_socket(chat_site, chat_site.token(NON_KEY_CUSTOMER))
    assert code == 4403
    assert_no_leak(text, secret_chat)


def test_non_key_eligibility(chat_site):
    # Bruno's organisation subscribes, so he is told he is not among the key users it named.
    eligibility = api(chat_site, "GET", "/eligibility?lang=en", NON_KEY_CUSTOMER).json()
    assert eligibility["may_chat"] is False
    assert eligibility["reason"] == "not_key_user"
    assert eligibility["message"].startswith(
        "Your organization subscribes to live chat, but you are not among the key users it named.")
    assert eligibility["channels"]["portal_url"].endswith("/servicedesk/customer/portals")


# The reason the refusal screen gives a customer named on no subscription, by the state of the
# subscription of their organisation (Fromagerie Durand, organisation 1).
REFUSAL_CASES = [
    ("suspended", {"status": SubscriptionStatus.SUSPENDED, "activation_issue_key": "SUP-9"},
     "Le contrat de souscription de votre organisation est suspendu"),
    ("expired", {"status": SubscriptionStatus.EXPIRED},
     "Le contrat de souscription de votre organisation a expiré"),
    # Saved but never activated: the organisation has no running subscription yet.
    ("not_subscribed", {"status": SubscriptionStatus.SUSPENDED},
     "Votre organisation n'a pas de contrat de souscription"),
    ("not_subscribed", {"starts_on": date(2099, 1, 1)},
     "Votre organisation n'a pas de contrat de souscription"),
]


@pytest.mark.parametrize(("reason", "changes", "message"), REFUSAL_CASES)
def test_refusal_reason_by_subscription(chat_site, reason, changes, message):
    change_subscription(chat_site.server.app, chat_site.client_key, "1", **changes)
    eligibility = api(chat_site, "GET", "/eligibility?lang=fr", NON_KEY_CUSTOMER).json()
    assert eligibility["may_chat"] is False
    assert eligibility["reason"] == reason
    assert eligibility["message"].startswith(message)
    assert " / " not in eligibility["message"]


def test_refusal_reason_without_subscription(chat_site):
    # Damien's organisation (2) has a subscription; once it is gone, his refusal says so.
    revoke(chat_site.server.app, chat_site.client_key, OTHER_ORG_KEY_USER, "2")
    with chat_site.server.app.app_context():
        database = chat_site.server.app.extensions["database"]
        with database.transaction() as session:
            session.query(Subscription).filter(Subscription.organization_id == "2").delete()
    eligibility = api(chat_site, "GET", "/eligibility?lang=en", "cust-damien").json()
    assert eligibility["reason"] == "not_subscribed"
    assert eligibility["message"] == "Your organization has no subscription to live chat with support."


def test_key_user_eligibility(chat_site):
    eligibility = api(chat_site, "GET", "/eligibility", KEY_USER).json()
    assert eligibility["may_chat"] is True
    assert eligibility["organizations"] == [{"id": "1", "name": "Fromagerie Durand"}]


# Suspended and expired subscriptions.

def test_suspended_http_refused(chat_site, secret_chat):
    app = chat_site.server.app
    change_subscription(app, chat_site.client_key, "1", status=SubscriptionStatus.SUSPENDED)
    conversation_id = secret_chat["id"]
    for response in (post(chat_site, conversation_id, KEY_USER),
                     api(chat_site, "GET", f"/chats/{conversation_id}/poll", KEY_USER),
                     start(chat_site, KEY_USER)):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "suspended"
        assert_no_leak(response.text, secret_chat)
    history = api(chat_site, "GET", f"/chats/{conversation_id}/messages", KEY_USER)
    assert history.status_code == 200


def test_suspended_agent_told_why(chat_site, secret_chat):
    change_subscription(chat_site.server.app, chat_site.client_key, "1", status=SubscriptionStatus.SUSPENDED)
    response = api(chat_site, "GET", f"/chats/by-issue/{secret_chat['issue_key']}?project_key=SUP", AGENT)
    access = response.json()["conversation"]["customer_access"]
    assert access["allowed"] is False
    assert "contrat suspendu" in access["message"]
    history = api(chat_site, "GET", f"/chats/{secret_chat['id']}/messages?project_key=SUP", AGENT).json()
    event = history["messages"][-1]
    assert event["event_type"] == "customer_access_withdrawn"
    assert event["visibility"] == "internal"
    assert "contrat suspendu" in event["body"]
    customer_history = api(chat_site, "GET", f"/chats/{secret_chat['id']}/messages", KEY_USER).json()
    assert [message["kind"] for message in customer_history["messages"]] == ["message"]


def test_suspended_ws_closed(chat_site, secret_chat):
    change_subscription(chat_site.server.app, chat_site.client_key, "1", status=SubscriptionStatus.SUSPENDED)
    code, text = closed_socket(chat_site, chat_site.token(KEY_USER))
    assert code == 4403
    assert_no_leak(text, secret_chat)


def test_expired_refused(chat_site, secret_chat):
    app = chat_site.server.app
    change_subscription(app, chat_site.client_key, "1", ends_on=date(2026, 6, 30))
    app.config["SUBSCRIPTION_TODAY"] = "2026-07-01"
    response = post(chat_site, secret_chat["id"], KEY_USER)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "expired"
    assert_no_leak(response.text, secret_chat)
    eligibility = api(chat_site, "GET", "/eligibility", KEY_USER).json()
    assert eligibility["reason"] == "expired"
    code, text = closed_socket(chat_site, chat_site.token(KEY_USER))
    assert code == 4403
    assert_no_leak(text, secret_chat)


# Removal while a chat is open.

def test_removed_socket_stops_delivery(chat_site, secret_chat):
    conversation_id = secret_chat["id"]
    customer = chat_site.ready_socket(KEY_USER)
    customer.send(type="subscribe", conversation_id=conversation_id, after_seq=1)
    agent = chat_site.ready_socket(AGENT, "SUP")
    agent.send(type="subscribe", conversation_id=conversation_id, after_seq=1)
    post(chat_site, conversation_id, AGENT, "Avant le retrait")
    assert customer.receive_messages(1)[0]["body"] == "Avant le retrait"

    revoke(chat_site.server.app, chat_site.client_key, KEY_USER, "1")
    # Published right after the notice: held, then dropped by the re-check.
    assert post(chat_site, conversation_id, AGENT, SECRET_REPLY).status_code == 201
    frames = customer.receive_until(lambda frame: frame["type"] == "error")
    assert frames[-1]["code"] == "not_key_user"
    assert frames[-1]["conversation_id"] == conversation_id
    assert [frame for frame in frames if frame["type"] == "message"] == []
    agent.receive_until(lambda frame: frame.get("body") == SECRET_REPLY)

    customer.send(type="ping")
    later = customer.receive_until(lambda frame: frame["type"] == "pong")
    assert_no_leak(json.dumps(later, ensure_ascii=False), secret_chat)


def test_removed_send_refused(chat_site, secret_chat):
    conversation_id = secret_chat["id"]
    customer = chat_site.ready_socket(KEY_USER)
    revoke(chat_site.server.app, chat_site.client_key, KEY_USER, "1")
    client_message_id = str(uuid.uuid4())
    customer.send(type="send", conversation_id=conversation_id, client_message_id=client_message_id,
                  body="Encore moi", visibility="public")
    reply = customer.wait_ack(client_message_id)
    assert reply["type"] == "error"
    assert reply["status"] == 403
    assert post(chat_site, conversation_id, KEY_USER).status_code == 403
    history = api(chat_site, "GET", f"/chats/{conversation_id}/messages", KEY_USER)
    assert [message["body"] for message in history.json()["messages"]] == [SECRET_BODY]


def test_removed_long_poll_ends(chat_site, secret_chat):
    conversation_id = secret_chat["id"]
    hub = chat_site.server.app.extensions["hub"]
    results = []
    poller = threading.Thread(target=lambda: results.append(
        api(chat_site, "GET", f"/chats/{conversation_id}/poll?after=1", KEY_USER)))
    poller.start()
    wait_until(lambda: hub.waiter_count() == 1, message="the long-poll to wait")

    revoke(chat_site.server.app, chat_site.client_key, KEY_USER, "1")
    poller.join(30)
    assert results[0].status_code == 403
    assert_no_leak(results[0].text, secret_chat)


# Customers on agent routes.

def test_customer_agent_routes_http(chat_site, secret_chat):
    responses = [
        post(chat_site, secret_chat["id"], KEY_USER, body="Note ?", visibility="internal"),
        api(chat_site, "GET", f"/chats/by-issue/{secret_chat['issue_key']}?project_key=SUP", KEY_USER),
        api(chat_site, "GET", "/chats?project_key=SUP", KEY_USER),
    ]
    for response in responses:
        assert response.status_code == 403


def test_customer_internal_note_ws(chat_site, secret_chat):
    customer = chat_site.ready_socket(KEY_USER, "SUP")
    client_message_id = str(uuid.uuid4())
    customer.send(type="send", conversation_id=secret_chat["id"], client_message_id=client_message_id,
                  body="Note ?", visibility="internal")
    reply = customer.wait_ack(client_message_id)
    assert reply["status"] == 403


# Organisation choice and product areas.

def test_start_form_areas_of_subscription(chat_site):
    app = chat_site.server.app
    change_subscription(app, chat_site.client_key, "1", product_areas=["Ventes", "Paie"])
    form = api(chat_site, "GET", "/start-form?organization_id=1", KEY_USER).json()
    assert form["product_areas"] == ["Ventes", "Paie"]
    assert start(chat_site, KEY_USER, product_area="Stocks").status_code == 400


def test_start_form_two_organisations(chat_site):
    grant(chat_site.server.app, chat_site.client_key, KEY_USER, "2")
    form = api(chat_site, "GET", "/start-form", KEY_USER).json()
    assert [organization["id"] for organization in form["organizations"]] == ["1", "2"]
    assert form["product_areas"] == []
    assert start(chat_site, KEY_USER).status_code == 400
