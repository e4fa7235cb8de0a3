"""Websocket /ws: the chat protocol end to end, with real sockets to the add-on on loopback and
the local Jira site behind it. Tokens are minted with the installation's shared secret, as Jira
signs the tokens of AP.context.getToken()."""

import os
import subprocess
import sys
import time
import uuid

import pytest
import requests

from addon.atlassian.qsh import qsh_of
from addon.chat.actions import Viewer, post_message

from .subscriptions import grant_defaults
from .support import ROOT_DIR, AddonServer, free_port, wait_until
from .wsclient import (  # noqa: F401  (fixtures)
    ChatSite,
    WsClient,
    build_app,
    chat_site,
    install,
    redis_url,
    stop_app,
)

CUSTOMER = "cust-alice"
OTHER_ORG_CUSTOMER = "cust-chloe"
AGENT = "agent-camille"


def subscribe(client, conversation_id, after_seq=0):
    client.send(type="subscribe", conversation_id=conversation_id, after_seq=after_seq)


def send(client, conversation_id, body, visibility="public", client_message_id=None):
    """Send a message and wait for its ack, so that the test's messages are stored in order."""
    client_message_id = client_message_id or str(uuid.uuid4())
    client.send(type="send", conversation_id=conversation_id, body=body, visibility=visibility,
                client_message_id=client_message_id)
    client.last_ack = client.wait_ack(client_message_id)
    return client_message_id


def next_ack(client):
    return client.last_ack


@pytest.fixture
def chat(chat_site):
    """A conversation started by the customer, with the customer's and the agent's sockets on it."""
    conversation = chat_site.start_chat(CUSTOMER)
    customer = chat_site.ready_socket(CUSTOMER)
    agent = chat_site.ready_socket(AGENT, "SUP")
    for client in (customer, agent):
        subscribe(client, conversation["id"])
        assert client.receive_messages(1)[0]["seq"] == 1
    return conversation["id"], customer, agent


def test_ws_ready_frame(chat_site):
    client = chat_site.socket()
    ready = client.auth(chat_site.token(AGENT), "SUP")
    assert ready["type"] == "ready"
    assert ready["role"] == "agent"
    assert ready["account_id"] == AGENT


def test_ws_messages_both_ways(chat):
    conversation_id, customer, agent = chat
    send(customer, conversation_id, "Le bon de livraison ne s'imprime pas.")
    send(agent, conversation_id, "Je regarde tout de suite.")
    send(customer, conversation_id, "Merci !")

    for client in (customer, agent):
        bodies = [frame["body"] for frame in client.receive_messages(3)]
        assert bodies == ["Le bon de livraison ne s'imprime pas.", "Je regarde tout de suite.", "Merci !"]


def test_ws_sequence_numbers(chat):
    conversation_id, customer, agent = chat
    for number in range(5):
        send(customer if number % 2 else agent, conversation_id, f"message {number}")
    assert [frame["seq"] for frame in agent.receive_messages(5)] == [2, 3, 4, 5, 6]


def test_ws_ack_before_own_message(chat):
    conversation_id, customer, _agent = chat
    client_message_id = str(uuid.uuid4())
    customer.send(type="send", conversation_id=conversation_id, body="Premier message",
                  client_message_id=client_message_id)
    frames = customer.receive_until(lambda frame: frame["type"] == "message")
    acks = [frame for frame in frames if frame["type"] == "ack"]
    assert len(acks) == 1
    assert acks[0]["client_message_id"] == client_message_id
    assert acks[0]["seq"] == frames[-1]["seq"]


def test_ws_internal_note_hidden(chat_site, chat):
    conversation_id, customer, agent = chat
    send(agent, conversation_id, "Note interne : client sous contrat premium.", visibility="internal")
    send(agent, conversation_id, "Pouvez-vous m'envoyer une capture ?")

    agent_frames = agent.receive_messages(2)
    customer_frames = customer.receive_messages(1)
    assert [frame["visibility"] for frame in agent_frames] == ["internal", "public"]
    assert customer_frames[0]["body"] == "Pouvez-vous m'envoyer une capture ?"

    # The history of a new socket has no internal note either.
    fresh = chat_site.ready_socket(CUSTOMER)
    subscribe(fresh, conversation_id)
    history = fresh.receive_messages(2)
    assert [frame["seq"] for frame in history] == [1, 3]
    client_message_id = send(fresh, conversation_id, "Voici la capture.")
    frames = fresh.receive_until(lambda frame: frame.get("client_message_id") == client_message_id
                                 and frame["type"] == "message")
    assert all(frame.get("visibility") != "internal" for frame in frames)


def test_ws_internal_note_by_customer_rejected(chat):
    conversation_id, customer, _agent = chat
    send(customer, conversation_id, "Je voudrais écrire une note interne", visibility="internal")
    error = next_ack(customer)
    assert error["type"] == "error"
    assert error["code"] == "forbidden"


def test_ws_reconnect_after_kill(chat_site, chat):
    conversation_id, customer, agent = chat
    send(agent, conversation_id, "avant la coupure")
    last_seq = customer.receive_messages(1)[0]["seq"]

    customer.kill()
    hub = chat_site.server.app.extensions["hub"]
    wait_until(lambda: hub.connection_count() == 1, message="the hub to drop the killed socket")
    sent = [send(agent, conversation_id, f"pendant la coupure {number}") for number in range(4)]
    assert [frame["client_message_id"] for frame in agent.receive_messages(5)][1:] == sent

    again = chat_site.ready_socket(CUSTOMER)
    subscribe(again, conversation_id, after_seq=last_seq)
    send(agent, conversation_id, "après la reconnexion")
    frames = again.receive_messages(5)
    assert [frame["seq"] for frame in frames] == list(range(last_seq + 1, last_seq + 6))
    assert [frame["client_message_id"] for frame in frames[:4]] == sent
    again.send(type="ping")
    trailing = again.receive_until(lambda frame: frame["type"] == "pong")
    assert [frame for frame in trailing if frame["type"] == "message"] == []


def test_ws_lost_push_repaired(chat_site, chat):
    conversation_id, customer, agent = chat
    app = chat_site.server.app
    # A push lost on the way (no pub/sub while it is stored), then one that arrives.
    pubsub = app.extensions.pop("pubsub")
    try:
        with app.app_context():
            viewer = Viewer(installation_id=1, client_key=chat_site.client_key, account_id=AGENT,
                            role="agent", project_key="SUP")
            post_message(viewer, conversation_id, "jamais poussé", client_message_id="lost-push")
    finally:
        app.extensions["pubsub"] = pubsub
    send(agent, conversation_id, "poussé")

    frames = customer.receive_messages(2)
    assert [frame["body"] for frame in frames] == ["jamais poussé", "poussé"]
    assert [frame["seq"] for frame in frames] == [2, 3]


def test_ws_resend_same_ack(chat_site, chat):
    conversation_id, customer, agent = chat
    client_message_id = str(uuid.uuid4())
    send(customer, conversation_id, "Une seule fois", client_message_id=client_message_id)
    first = next_ack(customer)
    send(customer, conversation_id, "Une seule fois", client_message_id=client_message_id)
    second = next_ack(customer)
    assert first == second

    response = chat_site.api("GET", f"/chats/{conversation_id}/messages?after=1", CUSTOMER)
    matching = [m for m in response.json()["messages"] if m["client_message_id"] == client_message_id]
    assert len(matching) == 1


def test_ws_ping_pong(chat_site):
    client = chat_site.ready_socket(CUSTOMER)
    client.send(type="ping")
    assert client.receive() == {"type": "pong"}


def test_ws_typing_reaches_other_side(chat):
    conversation_id, customer, agent = chat
    customer.send(type="typing", conversation_id=conversation_id)
    frame = agent.receive_until(lambda frame: frame["type"] == "typing")[-1]
    assert frame["role"] == "customer"
    assert frame["account_id"] == CUSTOMER


def test_ws_typing_internal_note_hidden(chat):
    conversation_id, customer, agent = chat
    agent.send(type="typing", conversation_id=conversation_id, visibility="internal")
    agent.send(type="typing", conversation_id=conversation_id, visibility="public")

    # Frames of one conversation arrive in order, so the first typing frame the customer gets
    # would be the internal one if it leaked.
    frame = customer.receive_until(lambda frame: frame["type"] == "typing")[-1]
    assert frame["visibility"] == "public"
    assert frame["account_id"] == AGENT


def test_ws_typing_internal_refused_to_customer(chat):
    conversation_id, customer, agent = chat
    customer.send(type="typing", conversation_id=conversation_id, visibility="internal")

    frame = customer.receive_until(lambda frame: frame["type"] == "error")[-1]
    assert frame["code"] == "forbidden"


def test_ws_read_mark_published(chat):
    conversation_id, customer, agent = chat
    customer.send(type="read", conversation_id=conversation_id, seq=1)
    frame = agent.receive_until(lambda frame: frame["type"] == "read")[-1]
    assert frame == {"type": "read", "conversation_id": conversation_id, "account_id": CUSTOMER, "seq": 1}


def test_ws_presence_for_agents(chat_site):
    conversation = chat_site.start_chat(CUSTOMER)
    agent = chat_site.ready_socket(AGENT, "SUP")
    subscribe(agent, conversation["id"])
    first = agent.receive_until(lambda frame: frame["type"] == "presence")[-1]
    assert first["customer_connected"] is False

    customer = chat_site.ready_socket(CUSTOMER)
    subscribe(customer, conversation["id"])
    joined = agent.receive_until(lambda frame: frame["type"] == "presence")[-1]
    assert joined["customer_connected"] is True

    customer.close()
    left = agent.receive_until(lambda frame: frame["type"] == "presence")[-1]
    assert left["customer_connected"] is False


def test_ws_presence_hidden_from_customer(chat):
    conversation_id, customer, agent = chat
    customer.send(type="ping")
    frames = customer.receive_until(lambda frame: frame["type"] == "pong")
    assert [frame for frame in frames if frame["type"] == "presence"] == []


# Authentication and access.

def test_ws_no_auth_frame(chat_site):
    client = chat_site.socket()
    code, frames = client.closed_with()
    assert code == 4401
    assert frames[0]["code"] == "authentication_failed"


def test_ws_first_frame_not_auth(chat_site):
    client = chat_site.socket()
    client.send(type="ping")
    code, _frames = client.closed_with()
    assert code == 4401


def test_ws_bad_token(chat_site):
    client = chat_site.socket()
    client.send(type="auth", token="not-a-jwt", project_key=None)
    code, _frames = client.closed_with()
    assert code == 4401


def test_ws_wrong_secret(chat_site):
    client = chat_site.socket()
    client.send(type="auth", token=chat_site.token(CUSTOMER, secret="another-secret-0123456789abcdef-0123456789"))
    code, frames = client.closed_with()
    assert code == 4401
    assert "signature" in frames[0]["message"]


def test_ws_computed_qsh_token(chat_site):
    client = chat_site.socket()
    client.send(type="auth", token=chat_site.token(CUSTOMER, qsh=qsh_of("GET", "/ws", "")))
    code, frames = client.closed_with()
    assert code == 4401
    assert "context-qsh" in frames[0]["message"]


def test_ws_other_site_token(chat_site):
    client = chat_site.socket()
    client.send(type="auth", token=chat_site.token(CUSTOMER, client_key="jira:another-site"))
    code, _frames = client.closed_with()
    assert code == 4401


def test_ws_expired_token(chat_site):
    client = chat_site.socket()
    client.send(type="auth", token=chat_site.token(CUSTOMER, lifetime_secs=-60))
    code, _frames = client.closed_with()
    assert code == 4401


def test_ws_token_expires_without_reauth(chat_site):
    client = chat_site.socket()
    ready = client.auth(chat_site.token(CUSTOMER, lifetime_secs=2))
    assert ready["type"] == "ready"
    code, frames = client.closed_with()
    assert code == 4401
    assert frames[-1]["code"] == "token_expired"


def test_ws_reauth_extends(chat_site):
    client = chat_site.socket()
    first = client.auth(chat_site.token(CUSTOMER, lifetime_secs=2))
    second = client.auth(chat_site.token(CUSTOMER, lifetime_secs=300))
    assert second["reauth_before"] > first["reauth_before"]
    # Outlive the first token (2 s plus 1 s of leeway): the socket still replies.
    wait_until(lambda: first["reauth_before"] + 4 < time.time(), timeout=10)
    client.send(type="ping")
    assert client.receive() == {"type": "pong"}


def test_ws_reauth_other_user(chat_site):
    client = chat_site.ready_socket(CUSTOMER)
    client.send(type="auth", token=chat_site.token(OTHER_ORG_CUSTOMER))
    code, _frames = client.closed_with()
    assert code == 4401


def test_ws_other_org_not_found(chat_site):
    conversation = chat_site.start_chat(CUSTOMER, message="Données confidentielles de la Fromagerie.")
    intruder = chat_site.ready_socket(OTHER_ORG_CUSTOMER)
    subscribe(intruder, conversation["id"])
    error = intruder.receive()
    assert error["type"] == "error"
    assert error["status"] == 4404
    assert error["code"] == "not_found"

    # Nothing of the conversation reaches the intruder, now or later.
    owner = chat_site.ready_socket(CUSTOMER)
    send(owner, conversation["id"], "Encore un secret")
    next_ack(owner)
    intruder.send(type="ping")
    frames = intruder.receive_until(lambda frame: frame["type"] == "pong")
    assert [frame for frame in frames if frame["type"] == "message"] == []


def test_ws_other_org_send_rejected(chat_site):
    conversation = chat_site.start_chat(CUSTOMER)
    intruder = chat_site.ready_socket(OTHER_ORG_CUSTOMER)
    send(intruder, conversation["id"], "Intrusion")
    error = next_ack(intruder)
    assert error["status"] == 4404
    response = chat_site.api("GET", f"/chats/{conversation['id']}/messages", CUSTOMER)
    assert len(response.json()["messages"]) == 1


def test_ws_unknown_conversation(chat_site):
    client = chat_site.ready_socket(CUSTOMER)
    subscribe(client, 999999)
    assert client.receive()["status"] == 4404


def test_ws_error_in_english(chat_site):
    client = chat_site.socket(lang="en")
    client.auth(chat_site.token(CUSTOMER))
    subscribe(client, 999999)
    assert client.receive()["message"] == "Chat not found (999999)."


def test_ws_invalid_frame(chat_site):
    client = chat_site.ready_socket(CUSTOMER)
    client.ws.send("{not json")
    assert client.receive()["code"] == "invalid_input"


# Two add-on processes on Redis.

@pytest.fixture
def redis_pair(redis_url, database_url, jira_site, tmp_path):
    """The in-process add-on and a second add-on process, both on Redis and the same SQLite file."""
    port = free_port()
    server = AddonServer(build_app(database_url, jira_site, port, tmp_path, REDIS_URL=redis_url), port)
    second_port = free_port()
    log_path = tmp_path / "second-addon.log"
    environment = dict(
        os.environ, ADDON_ENV="test", ADDON_BASE_URL=f"http://127.0.0.1:{second_port}",
        ADDON_SECRET_KEY=server.app.config["ADDON_SECRET_KEY"], DATABASE_URL=database_url,
        REDIS_URL=redis_url, CONNECT_ALLOWED_HOSTS="127.0.0.1,localhost",
        CONNECT_INSTALL_KEYS_URL=f"{jira_site.url}/_devsite/install-keys/",
        CONNECT_OAUTH_TOKEN_URL=f"{jira_site.url}/oauth2/token", PYTHONPATH=str(ROOT_DIR),
    )
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-c", SECOND_PROCESS, str(second_port)],
            cwd=ROOT_DIR, env=environment, stdout=log_file, stderr=subprocess.STDOUT,
        )
    site = None
    try:
        site = ChatSite(server, *install(jira_site, server))
        grant_defaults(server.app, site.client_key)
        wait_until(lambda: process.poll() is not None or _answers(f"http://127.0.0.1:{second_port}/atlassian-connect.json"),
                   timeout=30, message="the second add-on process to start")
        assert process.poll() is None, log_path.read_text()
        second = ChatSite(_Remote(f"http://127.0.0.1:{second_port}"), site.client_key, site.secret)
        yield site, second
        second.close()
    finally:
        if site is not None:
            site.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        stop_app(server)


# The second process serves the same factory, wired like the first; `flask run` would do the
# same once create_app wires the hub itself.
SECOND_PROCESS = """
import sys
from tests.wsclient import build_app_from_environment
build_app_from_environment().run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True)
"""


class _Remote:
    def __init__(self, url):
        self.url = url


def _answers(url):
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


@pytest.mark.sqlite_only
def test_ws_across_processes(redis_pair):
    first, second = redis_pair
    conversation = first.start_chat(CUSTOMER)
    customer = second.ready_socket(CUSTOMER)
    agent = first.ready_socket(AGENT, "SUP")
    for client in (customer, agent):
        subscribe(client, conversation["id"])
        assert client.receive_messages(1)[0]["seq"] == 1

    send(agent, conversation["id"], "Envoyé par le premier processus")
    assert customer.receive_messages(1)[0]["body"] == "Envoyé par le premier processus"
    send(customer, conversation["id"], "Envoyé par le second processus")
    assert agent.receive_messages(2)[-1]["body"] == "Envoyé par le second processus"
