"""The two floors the chat's delivery latency is compared with, served like the product.

Both are flask-sock apps (the product's websocket library) at `/ws`, run by
`gunicorn -c gunicorn.conf.py bench.relays:app` with the same worker class, and they speak the
product's frames, so one load generator drives all three:

- `{"type": "auth", ...}` → `{"type": "ready"}`; the token is not checked.
- `{"type": "subscribe", "conversation_id": N}` → the socket receives that conversation's messages.
- `{"type": "send", "conversation_id": N, "body": ..., "client_message_id": ...}` → an `ack` to the
  sender, then a `message` frame (conversation_id, seq, body, client_message_id) to every socket
  subscribed to N, the sender's included, as the product does.

The bare relay (BENCH_RELAY=bare) keeps nothing. The durable relay (BENCH_RELAY=durable) first
INSERTs the message into BENCH_RELAY_DATABASE_URL and COMMITs, on a pooled connection: the least
that any chat keeping its messages must do before it delivers them. Not for production use.
"""

import itertools
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from flask import Flask
from flask_sock import Sock
from simple_websocket import ConnectionClosed

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
KINDS = ("bare", "durable")


def create_relay(kind, database_url=None):
    if kind not in KINDS:
        raise ValueError(f"BENCH_RELAY={kind!r}; use one of {', '.join(KINDS)}")
    app = Flask(__name__)
    app.config["SOCK_SERVER_OPTIONS"] = {"ping_interval": 25, "max_message_size": 64 * 1024}
    sock = Sock(app)
    store = _Store(database_url) if kind == "durable" else None
    followers = {}  # conversation_id -> set of _Socket
    lock = threading.Lock()
    sequences = {}

    @app.get("/health")
    def health():
        return {"ok": True, "kind": kind}

    @sock.route("/ws")
    def relay(ws):
        client = _Socket(ws)
        followed = set()
        try:
            while True:
                frame = json.loads(ws.receive())
                kind_of_frame = frame.get("type")
                if kind_of_frame == "auth":
                    client.send({"type": "ready"})
                elif kind_of_frame == "subscribe":
                    conversation_id = frame["conversation_id"]
                    with lock:
                        followers.setdefault(conversation_id, set()).add(client)
                    followed.add(conversation_id)
                elif kind_of_frame == "send":
                    conversation_id = frame["conversation_id"]
                    with lock:
                        seq = sequences[conversation_id] = sequences.get(conversation_id, 0) + 1
                        targets = list(followers.get(conversation_id, ()))
                    if store is not None:
                        store.insert(conversation_id, seq, frame["body"], frame.get("client_message_id"))
                    client.send({"type": "ack", "conversation_id": conversation_id,
                                 "client_message_id": frame.get("client_message_id"), "seq": seq})
                    message = json.dumps({"type": "message", "conversation_id": conversation_id, "seq": seq,
                                          "body": frame["body"], "client_message_id": frame.get("client_message_id")})
                    for target in targets:
                        target.send_text(message)
        except ConnectionClosed:
            pass
        finally:
            with lock:
                for conversation_id in followed:
                    followers.get(conversation_id, set()).discard(client)

    return app


class _Socket:
    """A websocket whose sends from several greenlets or threads do not interleave."""

    def __init__(self, ws):
        self.ws = ws
        self.lock = threading.Lock()

    def send(self, frame):
        self.send_text(json.dumps(frame))

    def send_text(self, text):
        try:
            with self.lock:
                self.ws.send(text)
        except ConnectionClosed:
            pass


class _Store:
    """One INSERT and COMMIT per message, through SQLAlchemy's pool as the product uses it."""

    def __init__(self, database_url):
        from sqlalchemy import text

        from addon.db import Database

        self.database = Database(database_url)
        self.insert_sql = text("INSERT INTO bench_relay_message (conversation_id, seq, body, client_message_id, "
                               "created_at) VALUES (:conversation_id, :seq, :body, :client_message_id, :created_at)")
        with self.database.engine.begin() as connection:
            connection.execute(text(
                "CREATE TABLE IF NOT EXISTS bench_relay_message (id BIGSERIAL PRIMARY KEY, conversation_id BIGINT "
                "NOT NULL, seq BIGINT NOT NULL, body TEXT NOT NULL, client_message_id VARCHAR(64), "
                "created_at DOUBLE PRECISION NOT NULL)" if not self.database.url.startswith("sqlite") else
                "CREATE TABLE IF NOT EXISTS bench_relay_message (id INTEGER PRIMARY KEY, conversation_id INTEGER "
                "NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL, client_message_id VARCHAR(64), "
                "created_at REAL NOT NULL)"))

    def insert(self, conversation_id, seq, body, client_message_id):
        with self.database.engine.begin() as connection:
            connection.execute(self.insert_sql, {"conversation_id": conversation_id, "seq": seq, "body": body,
                                                 "client_message_id": client_message_id, "created_at": time.time()})


def _app_from_environment():
    kind = os.environ.get("BENCH_RELAY")
    if kind is None:
        return None
    return create_relay(kind, os.environ.get("BENCH_RELAY_DATABASE_URL"))


# `gunicorn -c gunicorn.conf.py bench.relays:app` with BENCH_RELAY set.
app = _app_from_environment()


class Relay:
    """A relay served by gunicorn on loopback: `with Relay("durable", stack) as relay: relay.url`.

    It takes the worker class, worker count and database of `stack` (a bench.stack.Stack).
    """

    _numbers = itertools.count(1)

    def __init__(self, kind, stack):
        self.kind = kind
        self.stack = stack
        self.process = None

    def __enter__(self):
        from .stack import ARTIFACTS, free_port

        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        env = dict(os.environ)
        env.update({"BENCH_RELAY": self.kind, "BENCH_RELAY_DATABASE_URL": self.stack.database_url,
                    "PORT": str(self.port), "GUNICORN_WORKER_CLASS": self.stack.worker_class,
                    "WEB_CONCURRENCY": str(self.stack.workers), "GUNICORN_LOG_LEVEL": "warning"})
        env.pop("REDIS_URL", None)
        for name in ("GUNICORN_WORKER_CONNECTIONS", "GUNICORN_THREADS"):
            if name in self.stack.env:
                env[name] = self.stack.env[name]
        self.log_path = ARTIFACTS / f"relay-{self.kind}-{self.stack.run_id}-{next(self._numbers)}.log"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"{HOST}:{self.port}",
             "bench.relays:app"], cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            self.stack._wait(f"{self.url}/health", self.process, f"the {self.kind} relay", self.log_path)
        except BaseException:
            self.__exit__()
            raise
        return self

    def worker_pids(self):
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def __exit__(self, *_exc):
        from .stack import _stop_process

        if self.process is not None:
            _stop_process(self.process)
            self.process = None
        self._log.close()
