"""Helpers shared by the tests: free ports, servers on loopback, waiting on conditions."""

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server

ROOT_DIR = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"


def require_service(available, what, how_to_install):
    """Skip a test whose service is missing, except in CI, where the test must fail instead."""
    if available:
        return
    message = f"{what} is not available; {how_to_install}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true, so this fails instead of skipping)")
    pytest.skip(message)


def redis_reachable(url):
    """Tell whether a Redis server replies to PING at `url` within a second."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        return client.ping()
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, timeout=10.0, interval=0.02, message="condition"):
    """Return the first truthy value of `condition()`, polling until `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


def _answers(url):
    try:
        return requests.get(url, timeout=1).status_code < 500
    except requests.RequestException:
        return False


class DevSite:
    """The local Jira site, run as its own process so that nothing of it lives in the add-on's."""

    def __init__(self, base_path=""):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}{base_path}"
        self.log_path = ROOT_DIR / "test-artifacts" / f"devsite-{self.port}.log"
        self.log_path.parent.mkdir(exist_ok=True)
        command = [sys.executable, "-m", "devsite", "--host", "127.0.0.1", "--port", str(self.port)]
        if base_path:
            command += ["--base-path", base_path]
        self._log_file = self.log_path.open("w")
        self.process = subprocess.Popen(
            command, cwd=ROOT_DIR, stdout=self._log_file, stderr=subprocess.STDOUT
        )
        try:
            wait_until(lambda: self.process.poll() is not None or _answers(self.url + "/_devsite/health"),
                       timeout=30, message="the local Jira site to start")
        except AssertionError:
            self.stop()
            raise
        if self.process.poll() is not None:
            raise RuntimeError(f"the local Jira site exited at start-up; see {self.log_path}")

    def control(self, method, path, json=None, expected=(200, 201, 204)):
        response = requests.request(method, self.url + path, json=json, timeout=30)
        if response.status_code not in expected:
            raise AssertionError(
                f"{method} {path} on the local Jira site returned {response.status_code}: {response.text[:500]}"
            )
        return response.json() if response.content else None

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._log_file.close()


class AddonServer:
    """The add-on app served by a threaded WSGI server on loopback, in the test process."""

    def __init__(self, app, port):
        self.app = app
        self.port = port
        self.url = app.config["ADDON_BASE_URL"]
        self._server = make_server("127.0.0.1", port, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self):
        from addon.atlassian import webhooks

        self._server.shutdown()
        self._thread.join(timeout=10)
        webhooks.shutdown(self.app)
        stop_background(self.app)
        self.app.extensions["database"].dispose()


def stop_background(app):
    """Stop the app's background parts (SLA sweeper and action pool, outbox, socket hub, pub/sub) that it started."""
    extensions = app.extensions
    sweeper = extensions.pop("sla_sweeper", None)
    if sweeper is not None:
        sweeper.stop()
    sla_actions = extensions.pop("sla_actions", None)  # the pool that a hand-called sweep() created
    if sla_actions is not None:
        sla_actions.shutdown()
    for name in ("subscription_scheduler", "faq_kb_scheduler", "routing_scheduler"):
        scheduler = extensions.pop(name, None)
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=False)
    if "outbox" in extensions:
        extensions["outbox"].stop()
    if "attachment_worker" in extensions:
        extensions["attachment_worker"].stop()
    if "transcript_job" in extensions:
        from addon.chat import transcript_attach

        transcript_attach.stop(app)
    if "hub" in extensions:
        extensions["hub"].close()
    if "pubsub" in extensions:
        extensions["pubsub"].close()


def postgresql_schema_url(server_url):
    """Create a fresh schema on `server_url` and return (url pinned to it, schema name)."""
    import sqlalchemy

    schema = "t_" + uuid.uuid4().hex[:12]
    engine = sqlalchemy.create_engine(server_url)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    separator = "&" if "?" in server_url else "?"
    return f"{server_url}{separator}options=-csearch_path%3D{schema}", schema


def drop_postgresql_schema(server_url, schema):
    import sqlalchemy

    engine = sqlalchemy.create_engine(server_url)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()
