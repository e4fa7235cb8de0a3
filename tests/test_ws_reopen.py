"""Websocket /ws when a chat is closed and opened again at once ("Retour", then the same chat).

The close handshake ends the TCP connection with nothing after the close frame. A message
committed while the new socket subscribes reaches that socket exactly once."""

import base64
import json
import os
import socket
import struct
import threading
import uuid
from urllib.parse import urlsplit

import pytest

from addon.chat.actions import Viewer, post_message

from .support import wait_until
from .wsclient import (  # noqa: F401  (fixtures)
    chat_site,
    redis_url,
    serve_chat_site,
)

CUSTOMER = "cust-alice"
AGENT = "agent-camille"
RECEIVE_TIMEOUT_SECS = 10.0
OPCODE_TEXT = 0x1
OPCODE_CLOSE = 0x8
REOPEN_ROUNDS = 15


class RawSocket:
    """A websocket client on a bare TCP socket, which returns every byte the server writes,
    including bytes after the close frame that a websocket library would discard."""

    def __init__(self, base_url, path="/ws?lang=fr"):
        parts = urlsplit(base_url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=RECEIVE_TIMEOUT_SECS)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((
            f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head

    def _recv(self):
        data = self.sock.recv(65536)
        if not data:
            raise AssertionError("the server closed the TCP connection before the expected frame")
        return data

    def _take(self, count):
        while len(self.buffer) < count:
            self.buffer += self._recv()
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def send_frame(self, opcode, payload):
        mask = os.urandom(4)
        header = bytes([0x80 | opcode])
        if len(payload) < 126:
            header += bytes([0x80 | len(payload)])
        else:
            header += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send(self, **frame):
        self.send_frame(OPCODE_TEXT, json.dumps(frame).encode())

    def read_frame(self):
        """Return (opcode, payload) of the next server frame (servers do not mask)."""
        first, second = self._take(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._take(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._take(8))[0]
        return first & 0x0F, self._take(length)

    def receive(self):
        opcode, payload = self.read_frame()
        assert opcode == OPCODE_TEXT, (opcode, payload)
        return json.loads(payload)

    def read_until_close_frame(self):
        """Return the payload of the server's close frame, skipping data frames before it."""
        while True:
            opcode, payload = self.read_frame()
            if opcode == OPCODE_CLOSE:
                return payload

    def read_to_end(self):
        """Return every byte the server writes until it ends the TCP connection."""
        data, self.buffer = self.buffer, b""
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                return data
            data += chunk

    def close(self):
        self.sock.close()


@pytest.fixture
def redis_chat_site(redis_url, database_url, jira_site, tmp_path):
    """The add-on with its hub on Redis pub/sub, where subscribing a channel takes a round trip."""
    yield from serve_chat_site(database_url, jira_site, tmp_path, REDIS_URL=redis_url)


@pytest.fixture(params=["in_process", "redis"])
def any_chat_site(request, database_url):
    """The add-on on each pub/sub layer. It names `database_url` so that the database backends
    parametrise it, which a fixture looked up by name does not do."""
    return request.getfixturevalue("chat_site" if request.param == "in_process" else "redis_chat_site")


def agent_viewer(chat_site):
    return Viewer(installation_id=1, client_key=chat_site.client_key, account_id=AGENT,
                  role="agent", project_key="SUP")


def post_as_agent(chat_site, conversation_id, body):
    """Store and publish an agent's message on a thread of its own, as another request would."""
    app = chat_site.server.app
    stored = {}

    def run():
        with app.app_context():
            message, _created = post_message(agent_viewer(chat_site), conversation_id, body,
                                             client_message_id=str(uuid.uuid4()))
            stored["seq"] = message.seq

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(RECEIVE_TIMEOUT_SECS)
    return stored["seq"]


def subscribed_socket(chat_site, conversation_id, after_seq):
    client = chat_site.ready_socket(CUSTOMER)
    client.send(type="subscribe", conversation_id=conversation_id, after_seq=after_seq)
    return client


def drain_until_pong(client):
    """Return the message frames still queued for `client`, up to the reply to a ping."""
    client.send(type="ping")
    frames = client.receive_until(lambda frame: frame["type"] == "pong")
    return [frame for frame in frames if frame["type"] == "message"]


def test_reopen_client_close_clean(chat_site):
    conversation = chat_site.start_chat(CUSTOMER)
    raw = RawSocket(chat_site.url)
    try:
        raw.send(type="auth", token=chat_site.token(CUSTOMER), project_key=None)
        assert raw.receive()["type"] == "ready"
        raw.send(type="subscribe", conversation_id=conversation["id"], after_seq=0)
        assert raw.receive()["seq"] == 1

        raw.send_frame(OPCODE_CLOSE, struct.pack("!H", 1000))
        assert struct.unpack("!H", raw.read_until_close_frame()[:2])[0] == 1000
        # Browsers read anything after the close frame as a frame: "HTTP/1.1 200" starts with
        # 0x48, a close opcode without FIN, which Chromium reports as "Invalid frame header".
        assert raw.read_to_end() == b""
    finally:
        raw.close()


def test_reopen_server_close_clean(chat_site):
    raw = RawSocket(chat_site.url)
    try:
        raw.send(type="ping")  # not an auth frame: the server closes with 4401
        close_payload = raw.read_until_close_frame()
        assert struct.unpack("!H", close_payload[:2])[0] == 4401
        raw.send_frame(OPCODE_CLOSE, close_payload[:2])
        assert raw.read_to_end() == b""
    finally:
        raw.close()


def test_reopen_commit_during_subscribe(any_chat_site):
    """A message committed while the new socket's channel subscription is being set up (a Redis
    round trip in production) is delivered once, whether the history or the live push has it."""
    chat_site = any_chat_site
    conversation_id = chat_site.start_chat(CUSTOMER)["id"]
    hub = chat_site.server.app.extensions["hub"]
    pubsub = hub.pubsub
    real_subscribe = pubsub.subscribe
    for round_number in range(REOPEN_ROUNDS):
        old = subscribed_socket(chat_site, conversation_id, after_seq=0)
        last_seq = old.receive_messages(1 + round_number)[-1]["seq"]
        old.close()
        wait_until(lambda: hub.connection_count() == 0, message="the hub to drop the closed socket")

        posted = {}

        def subscribe_while_posting(channel, callback, on_gap=None):
            if "seq" not in posted:
                posted["seq"] = post_as_agent(chat_site, conversation_id, f"pendant l'abonnement {round_number}")
            return real_subscribe(channel, callback, on_gap=on_gap)

        pubsub.subscribe = subscribe_while_posting
        try:
            new = subscribed_socket(chat_site, conversation_id, after_seq=last_seq)
            frames = new.receive_messages(1)
        finally:
            pubsub.subscribe = real_subscribe
        assert [frame["seq"] for frame in frames] == [posted["seq"]]
        assert drain_until_pong(new) == []
        new.close()
        wait_until(lambda: hub.connection_count() == 0, message="the hub to drop the closed socket")


def test_reopen_loop_exactly_once(any_chat_site):
    """Close and reopen the customer's socket at once, many times, while the agent posts."""
    chat_site = any_chat_site
    conversation_id = chat_site.start_chat(CUSTOMER)["id"]
    agent = chat_site.ready_socket(AGENT, "SUP")
    stop = threading.Event()
    posted = []

    def post_continuously():
        while not stop.is_set():
            client_message_id = str(uuid.uuid4())
            agent.send(type="send", conversation_id=conversation_id, body=f"agent {len(posted)}",
                       client_message_id=client_message_id)
            ack = agent.wait_ack(client_message_id)
            assert ack["type"] == "ack", ack
            posted.append(ack["seq"])

    client = subscribed_socket(chat_site, conversation_id, after_seq=0)
    last_seq = client.receive_messages(1)[-1]["seq"]
    poster = threading.Thread(target=post_continuously)
    poster.start()
    try:
        for _round in range(REOPEN_ROUNDS):
            client.close()
            client = subscribed_socket(chat_site, conversation_id, after_seq=last_seq)
            wait_until(lambda: posted and posted[-1] > last_seq, message="a new agent message")
            target = posted[-1]
            seqs = [frame["seq"] for frame in client.receive_messages(target - last_seq)]
            assert seqs == list(range(last_seq + 1, target + 1))
            last_seq = target
    finally:
        stop.set()
        poster.join(RECEIVE_TIMEOUT_SECS)
    target = posted[-1]
    seqs = [frame["seq"] for frame in client.receive_messages(target - last_seq)]
    assert seqs == list(range(last_seq + 1, target + 1))
    assert drain_until_pong(client) == []
