"""A small websocket client for the chat protocol, and the fixtures the realtime tests share.

The fixtures serve the add-on with its hub, websocket and JSON API, installed into the local Jira
site. Context tokens are minted with the installation's shared secret, as Jira signs them."""

import json
import os
import socket
import struct
import time
import uuid

import jwt
import pytest
import requests
from simple_websocket import Client, ConnectionClosed

from addon import create_app
from addon.atlassian.installations import get_active_installation, shared_secret_of
from addon.atlassian.qsh import CONTEXT_QSH

from .conftest import addon_overrides
from .subscriptions import grant_defaults
from .support import AddonServer, free_port, redis_reachable, require_service

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
RECEIVE_TIMEOUT_SECS = 10.0


class WsClient:
    """One browser socket: JSON frames in and out, and the close code the server sent."""

    def __init__(self, base_url, lang=None):
        url = base_url.replace("http://", "ws://", 1) + "/ws" + (f"?lang={lang}" if lang else "")
        self.ws = Client.connect(url)
        self.stashed = []  # frames read while looking for an ack, returned first by `receive`

    def send(self, **frame):
        self.ws.send(json.dumps(frame))

    def wait_ack(self, client_message_id, timeout=RECEIVE_TIMEOUT_SECS):
        """Return the ack (or error) that replies to a send. Other frames stay for `receive`."""
        deadline = time.monotonic() + timeout
        read = []
        try:
            while True:
                frame = self._read(max(0.01, deadline - time.monotonic()))
                if frame["type"] == "error" or (frame["type"] == "ack"
                                                and frame["client_message_id"] == client_message_id):
                    return frame
                read.append(frame)
        finally:
            self.stashed.extend(read)

    def receive(self, timeout=RECEIVE_TIMEOUT_SECS):
        """Return the next frame as a dict; fail after `timeout` seconds without one."""
        if self.stashed:
            return self.stashed.pop(0)
        return self._read(timeout)

    def _read(self, timeout):
        raw = self.ws.receive(timeout=timeout)
        if raw is None:
            raise AssertionError(f"no frame received within {timeout} s")
        return json.loads(raw)

    def receive_until(self, predicate, timeout=RECEIVE_TIMEOUT_SECS):
        """Return the frames received up to and including the first that matches `predicate`."""
        deadline = time.monotonic() + timeout
        frames = []
        while True:
            frames.append(self.receive(max(0.01, deadline - time.monotonic())))
            if predicate(frames[-1]):
                return frames

    def receive_messages(self, count, timeout=RECEIVE_TIMEOUT_SECS):
        """Return the next `count` message frames, skipping other frame types."""
        deadline = time.monotonic() + timeout
        messages = []
        while len(messages) < count:
            frame = self.receive(max(0.01, deadline - time.monotonic()))
            if frame["type"] == "message":
                messages.append(frame)
        return messages

    def auth(self, token, project_key=None):
        self.send(type="auth", token=token, project_key=project_key)
        return self.receive()

    def closed_with(self, timeout=RECEIVE_TIMEOUT_SECS):
        """Wait for the server to close the socket; return (close code, frames received before)."""
        frames = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                raw = self.ws.receive(timeout=max(0.01, deadline - time.monotonic()))
            except ConnectionClosed as closed:
                return closed.reason, frames
            if raw is None:
                if time.monotonic() > deadline:
                    raise AssertionError(f"the server did not close the socket within {timeout} s")
                continue
            frames.append(json.loads(raw))

    def kill(self):
        """Drop the TCP connection without a websocket close frame.

        SO_LINGER 0 makes the final close() send a RST. The shutdown wakes the client's reader
        thread, whose recv() would otherwise keep the socket open until the server writes.
        """
        self.ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.ws.connected = False
        self.ws.sock.shutdown(socket.SHUT_RDWR)
        self.ws.sock.close()

    def close(self):
        try:
            self.ws.close()
        except ConnectionClosed:
            pass


class ChatSite:
    """The add-on under test, installed into the local Jira site, with token and HTTP helpers."""

    def __init__(self, server, client_key, secret):
        self.server = server
        self.url = server.url
        self.client_key = client_key
        self.secret = secret
        self.sockets = []

    def token(self, account_id, lifetime_secs=300, qsh=CONTEXT_QSH, secret=None, client_key=None):
        now = int(time.time())
        claims = {
            "iss": client_key or self.client_key, "iat": now, "exp": now + lifetime_secs, "qsh": qsh,
            "sub": account_id, "context": {"user": {"accountId": account_id}},
        }
        return jwt.encode(claims, secret or self.secret, algorithm="HS256")

    def socket(self, lang=None):
        client = WsClient(self.url, lang)
        self.sockets.append(client)
        return client

    def ready_socket(self, account_id, project_key=None):
        client = self.socket()
        ready = client.auth(self.token(account_id), project_key)
        assert ready["type"] == "ready", ready
        return client

    def api(self, method, path, account_id, **kwargs):
        headers = {"Authorization": f"JWT {self.token(account_id)}"}
        return requests.request(method, self.url + "/api" + path, headers=headers, timeout=40, **kwargs)

    def start_chat(self, account_id="cust-alice", message="Bonjour, la facture 42 est bloquée."):
        response = self.api("POST", "/chats", account_id, json={
            "summary": "Facture bloquée", "product_area": "Ventes", "impact": "blocking",
            "message": message, "client_message_id": str(uuid.uuid4()),
        })
        assert response.status_code == 201, response.text
        return response.json()["conversation"]

    def close(self):
        for client in self.sockets:
            client.close()


def build_app(database_url, jira_site, port, tmp_path, **extra):
    overrides = addon_overrides(database_url, jira_site, port, tmp_path,
                                JWT_LEEWAY_SECS=1, LONG_POLL_SECS=8, WS_AUTH_TIMEOUT_SECS=1, **extra)
    app = create_app(overrides)
    if "hub" not in app.extensions:
        # TODO: drop once create_app wires the hub, the API and the websocket itself.
        from addon.realtime import hub
        from addon.web import api, ws

        hub.init_app(app)
        app.register_blueprint(api.bp)
        ws.init_app(app)
    return app


def stop_app(server):
    server.app.extensions["hub"].close()
    server.stop()
    server.app.extensions["pubsub"].close()


def install(jira_site, server):
    result = jira_site.control("POST", "/_devsite/apps/install",
                               json={"descriptor_url": f"{server.url}/atlassian-connect.json"})
    assert result["status"] in (200, 204), result
    with server.app.app_context():
        installation = get_active_installation(result["client_key"])
        secret = shared_secret_of(installation)
    return result["client_key"], secret


def serve_chat_site(database_url, jira_site, tmp_path, **overrides):
    """Yield a ChatSite: the add-on built with `overrides`, installed into the local Jira site,
    with its default customers made key users of an active subscription."""
    port = free_port()
    server = AddonServer(build_app(database_url, jira_site, port, tmp_path, **overrides), port)
    site = None
    try:
        site = ChatSite(server, *install(jira_site, server))
        # Only key users of an active subscription may chat: the customers who open chats here.
        grant_defaults(server.app, site.client_key)
        yield site
    finally:
        if site is not None:
            site.close()
        stop_app(server)


@pytest.fixture
def chat_site(database_url, jira_site, tmp_path):
    """The add-on with its hub on in-process pub/sub, installed into the local Jira site."""
    yield from serve_chat_site(database_url, jira_site, tmp_path)


@pytest.fixture
def redis_url():
    require_service(redis_reachable(TEST_REDIS_URL), f"Redis at {TEST_REDIS_URL}",
                    "install and start Redis, or set TEST_REDIS_URL to a redis:// URL the tests may use")
    return TEST_REDIS_URL


def build_app_from_environment():
    """The add-on as `flask --app app run` builds it from the environment, with the realtime parts
    wired (the second add-on process of the multi-process tests)."""
    app = create_app()
    if "hub" not in app.extensions:
        # TODO: drop once create_app wires the hub, the API and the websocket itself.
        from addon.realtime import hub
        from addon.web import api, ws

        hub.init_app(app)
        app.register_blueprint(api.bp)
        ws.init_app(app)
    return app
