"""The chat websocket opened from a Custom UI page with a single-use ticket from
`POST /forge/ui/socket-ticket`, over loopback with FITs minted by the local site's signer."""

import uuid
from datetime import timedelta

import requests
from sqlalchemy import func, select, update

from addon.atlassian.forge.socket_tickets import SocketTicket
from addon.models import Installation, utcnow

from .test_forge_ui_api import AGENT, AGENT_MODULE, CUSTOMER, OTHER_CUSTOMER, forge_chat  # noqa: F401
from .subscriptions import grant_defaults
from .wsclient import ChatSite, WsClient, chat_site, install  # noqa: F401

CLOSE_UNAUTHORIZED = 4401


def _ticket(chat, account_id=CUSTOMER, module=None, **mint_body):
    minted = chat.minted(account_id, module=module, **mint_body)
    response = requests.post(chat.server.url + "/forge/ui/socket-ticket", headers=minted["headers"], timeout=40)
    return response


def _ticket_of(chat, account_id=CUSTOMER, module=None):
    response = _ticket(chat, account_id, module)
    assert response.status_code == 200, response.text
    return response.json()["ticket"]


def _socket(chat):
    return WsClient(chat.server.url)


def _auth(client, ticket, project_key=None):
    client.send(type="auth", ticket=ticket, project_key=project_key)
    return client.receive()


def _stored_tickets(chat):
    with chat.server.app.app_context():
        session = chat.server.app.extensions["database"].session
        return session.scalar(select(func.count()).select_from(SocketTicket))


def test_ticket_opens_socket_as_fit_principal(forge_chat):
    response = _ticket(forge_chat)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["url"] == forge_chat.server.url + "/ws"

    client = _socket(forge_chat)
    try:
        ready = _auth(client, body["ticket"])
        assert ready["type"] == "ready", ready
        assert ready["account_id"] == CUSTOMER
        assert ready["role"] == "customer"
    finally:
        client.close()
    assert _stored_tickets(forge_chat) == 0


def test_ticket_socket_carries_chat(forge_chat):
    conversation = forge_chat.start_chat().json()["conversation"]
    customer_ticket, agent_ticket = _ticket_of(forge_chat), _ticket_of(forge_chat, AGENT, AGENT_MODULE)
    # Each socket authenticates right after it opens: the tests' auth deadline is one second.
    customer = _socket(forge_chat)
    agent = None
    try:
        assert _auth(customer, customer_ticket)["type"] == "ready"
        agent = _socket(forge_chat)
        assert _auth(agent, agent_ticket, "SUP")["role"] == "agent"
        for client in (customer, agent):
            client.send(type="subscribe", conversation_id=conversation["id"], after_seq=0)
            assert client.receive_messages(1)[0]["seq"] == 1

        client_message_id = str(uuid.uuid4())
        agent.send(type="send", conversation_id=conversation["id"], body="Bonjour, ici Camille.",
                   visibility="public", client_message_id=client_message_id)
        assert agent.wait_ack(client_message_id)["type"] == "ack"
        [message] = customer.receive_messages(1)
        assert message["body"] == "Bonjour, ici Camille."
        assert message["author"]["account_id"] == AGENT
    finally:
        customer.close()
        if agent is not None:
            agent.close()


def test_ticket_works_once(forge_chat):
    ticket = _ticket_of(forge_chat)
    first = _socket(forge_chat)
    second = None
    try:
        assert _auth(first, ticket)["type"] == "ready"
        # Opened only now, because the tests' one-second auth deadline runs from a socket's opening.
        second = _socket(forge_chat)
        second.send(type="auth", ticket=ticket)
        code, frames = second.closed_with()
        assert code == CLOSE_UNAUTHORIZED
        assert "already used" in frames[-1]["message"] or "unknown" in frames[-1]["message"]
    finally:
        first.close()
        if second is not None:
            second.close()


def test_expired_ticket_rejected(forge_chat):
    ticket = _ticket_of(forge_chat)
    database = forge_chat.server.app.extensions["database"]
    with forge_chat.server.app.app_context(), database.transaction() as session:
        session.execute(update(SocketTicket).values(expires_at=utcnow() - timedelta(seconds=1)))

    client = _socket(forge_chat)
    try:
        client.send(type="auth", ticket=ticket)
        code, frames = client.closed_with()
        assert code == CLOSE_UNAUTHORIZED
        assert "expired" in frames[-1]["message"]
    finally:
        client.close()


def test_unknown_ticket_rejected(forge_chat):
    client = _socket(forge_chat)
    try:
        client.send(type="auth", ticket="not-a-ticket-we-issued")
        code, _ = client.closed_with()
        assert code == CLOSE_UNAUTHORIZED
    finally:
        client.close()


def test_ticket_of_uninstalled_tenant_rejected(forge_chat):
    ticket = _ticket_of(forge_chat)
    database = forge_chat.server.app.extensions["database"]
    with forge_chat.server.app.app_context(), database.transaction() as session:
        session.execute(update(Installation).where(Installation.client_key == forge_chat.client_key)
                        .values(status="uninstalled"))

    client = _socket(forge_chat)
    try:
        client.send(type="auth", ticket=ticket)
        code, frames = client.closed_with()
        assert code == CLOSE_UNAUTHORIZED
        assert "no longer has the app installed" in frames[-1]["message"]
    finally:
        client.close()


def test_reauth_with_ticket_of_other_tenant_rejected(forge_chat, jira_site):
    # A second tenant: the Connect installation of the same site, with its own client_key.
    client_key, secret = install(jira_site, forge_chat.server)
    assert client_key != forge_chat.client_key
    grant_defaults(forge_chat.server.app, client_key)
    connect_site = ChatSite(forge_chat.server, client_key, secret)

    client = connect_site.ready_socket(CUSTOMER)
    try:
        client.send(type="auth", ticket=_ticket_of(forge_chat))
        code, frames = client.closed_with()
        assert code == CLOSE_UNAUTHORIZED
        assert "another site or user" in frames[-1]["message"]
    finally:
        connect_site.close()


def test_reauth_with_ticket_of_other_user_rejected(forge_chat):
    client = _socket(forge_chat)
    try:
        assert _auth(client, _ticket_of(forge_chat))["type"] == "ready"
        client.send(type="auth", ticket=_ticket_of(forge_chat, OTHER_CUSTOMER))
        code, frames = client.closed_with()
        assert code == CLOSE_UNAUTHORIZED
        assert "another site or user" in frames[-1]["message"]
    finally:
        client.close()


def test_reauth_with_new_ticket_keeps_socket(forge_chat):
    client = _socket(forge_chat)
    try:
        assert _auth(client, _ticket_of(forge_chat))["type"] == "ready"
        client.send(type="auth", ticket=_ticket_of(forge_chat))
        client.send(type="ping")
        frames = client.receive_until(lambda frame: frame["type"] == "pong")
        assert all(frame["type"] != "error" for frame in frames), frames
    finally:
        client.close()


def test_forged_fit_gets_no_ticket(forge_chat):
    before = _stored_tickets(forge_chat)

    response = _ticket(forge_chat, forgery="expired")

    assert response.status_code == 401, response.text
    assert _stored_tickets(forge_chat) == before


def test_ticket_refused_when_forge_off(chat_site):
    client = chat_site.socket()
    client.send(type="auth", ticket="anything")
    code, frames = client.closed_with()
    assert code == CLOSE_UNAUTHORIZED
    assert "FORGE_ENABLED" in frames[-1]["message"]
