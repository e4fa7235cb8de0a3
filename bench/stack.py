"""The product as production runs it, against the local Jira site, for the benchmarks.

    from bench.stack import Stack

    with Stack(database="postgresql", redis=True, jira_latency_ms=50) as stack:
        customers = stack.key_users(10)          # new customer accounts, key users of organisation 1
        agent = stack.agents(1)[0]               # a seed agent of project SUP
        conversation = stack.start_chat(customers[0], "Bonjour")   # POST /api/chats, the conversation
        token = stack.context_token(agent)       # what AP.context.getToken() gives the agent's page
        stack.site("PUT", "/_devsite/faults", json=[...])          # the local site's control API

`Stack(...)` takes:
  database        "postgresql": a fresh schema on BENCH_DATABASE_URL (default
                  postgresql://postgres@127.0.0.1:5432/test), dropped on exit; "sqlite": a temp file.
  redis           True: REDIS_URL=BENCH_REDIS_URL (default redis://127.0.0.1:6379/14).
  jira_latency_ms > 0: a latency fault on the site's REST API (`/rest/...`), kept in
                  `stack.jira_faults` so that a benchmark replacing the faults can keep it.
  worker_class    GUNICORN_WORKER_CLASS; the default is the one README.md recommends.
  workers         WEB_CONCURRENCY (default 1).
  extra_env       more environment variables for the add-on (and its migration run).

On enter it starts the site (`python -m devsite`), migrates (`flask --app app db upgrade`),
starts `gunicorn -c gunicorn.conf.py app:app` with ADDON_ENV=production as README.md's
"Production" section does, bound to 127.0.0.1, installs the add-on into the site, and reads the
shared secret back with the add-on's own code (in an app built in this process with every
background job off; the secret is never printed). Logs go to test-artifacts/bench/.

Attributes and methods:
  url, site_url, database_url, redis_url, client_key, worker_class, gunicorn_pid
  context_token(account_id, lifetime_secs=3600)  a context JWT as Jira signs it
  key_users(count, organization_id="1")  creates `count` customers on the site (JSM REST, as the
                  app), adds them to the organisation, names them key users of its active
                  subscription; returns their account ids
  agents(count)   `count` agent account ids (the site has two agents; they repeat)
  start_chat(account_id, message)  POST /api/chats; returns the conversation dict
  api(method, path, account_id, **kwargs)  a JWT-authenticated call to /api
  site(method, path, json=None)  a call to the site (control API under /_devsite/); decoded JSON
  worker_pids()   the gunicorn workers' process ids
  rss_kib(pid)    resident memory of a process, in KiB
  app             the in-process app (database access through the add-on's code)
"""

import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import jwt
import requests

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "bench"
HOST = "127.0.0.1"
# The worker class README.md's "Production" section recommends for websockets.
DEFAULT_WORKER_CLASS = "gevent"
DATABASE_SERVER_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
START_TIMEOUT_SECS = 60
# Background jobs that the in-process app (used for its database code only) must not run.
QUIET_APP = {"OUTBOX_AUTOSTART": "false", "SLA_SWEEPER": "false", "FAQ_KB_SYNC_JOB": "false",
             "TRANSCRIPT_ATTACH_JOB": "false", "ROUTING_REOFFER_JOB": "false"}
ORGANIZATION_NAMES = {"1": "Fromagerie Durand", "2": "Menuiserie Lefèvre"}
SEED_AGENTS = ("agent-camille", "agent-hugo")


def free_port():
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _answers(url):
    try:
        return requests.get(url, timeout=2).status_code < 500
    except requests.RequestException:
        return False


class StackError(RuntimeError):
    """A part of the stack failed to start; the message names it and its log."""


class Stack:
    def __init__(self, database="postgresql", redis=True, jira_latency_ms=50, worker_class=DEFAULT_WORKER_CLASS,
                 extra_env=None, workers=1):
        if database not in ("postgresql", "sqlite"):
            raise ValueError(f"database={database!r}; use 'postgresql' or 'sqlite'")
        self.database = database
        self.redis_url = REDIS_URL if redis else None
        self.jira_latency_ms = jira_latency_ms
        self.worker_class = worker_class
        self.workers = workers
        self.extra_env = dict(extra_env or {})
        self.run_id = uuid.uuid4().hex[:8]
        self.processes = []
        self.log_files = []
        self.schema = None
        self.tempdir = None
        self.app = None
        self.client_key = None
        self._secret = None
        self.jira_faults = []
        self._customer_count = 0

    # Start and stop.

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_exc):
        self.stop()

    def start(self):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self._start_site()
        self._make_database()
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.env = self._addon_env()
        self._migrate()
        self._start_gunicorn()
        if self.jira_latency_ms > 0:
            self.jira_faults = [{"mode": "latency", "path": "^/rest/", "latency_ms": int(self.jira_latency_ms),
                                 "times": 0}]
            self.site("PUT", "/_devsite/faults", json=self.jira_faults)
        self._install()

    def stop(self):
        if self.app is not None:
            _stop_app(self.app)
            self.app = None
        # One at a time, the add-on first: its workers may still call the site while they stop.
        workers = self._worker_pids_or_none()
        for process in reversed(self.processes):
            _stop_process(process)
        for pid in workers:  # a worker left behind by a master that died first
            _kill_if_alive(pid)
        self.processes = []
        for file in self.log_files:
            file.close()
        self.log_files = []
        if self.schema is not None:
            _drop_schema(self.schema)
            self.schema = None
        if self.tempdir is not None:
            self.tempdir.cleanup()
            self.tempdir = None

    def _log(self, name):
        path = ARTIFACTS / f"{name}-{self.run_id}.log"
        file = path.open("w")
        self.log_files.append(file)
        return path, file

    def _wait(self, url, process, name, log_path):
        deadline = time.monotonic() + START_TIMEOUT_SECS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise StackError(f"{name} exited at start-up with code {process.returncode}; see {log_path}")
            if _answers(url):
                return
            time.sleep(0.1)
        raise StackError(f"{name} did not answer on {url} within {START_TIMEOUT_SECS} s; see {log_path}")

    def _start_site(self):
        port = free_port()
        self.site_url = f"http://{HOST}:{port}"
        log_path, log_file = self._log("devsite")
        process = subprocess.Popen([sys.executable, "-m", "devsite", "--host", HOST, "--port", str(port)],
                                   cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT)
        self.processes.append(process)
        self._wait(f"{self.site_url}/_devsite/health", process, "The local Jira site", log_path)

    def _make_database(self):
        if self.database == "sqlite":
            self.tempdir = tempfile.TemporaryDirectory(prefix="bench-")
            self.database_url = f"sqlite:///{self.tempdir.name}/addon.sqlite3"
            return
        import sqlalchemy

        from addon.db import normalize_database_url

        schema = f"bench_{self.run_id}"
        engine = sqlalchemy.create_engine(normalize_database_url(DATABASE_SERVER_URL))
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
        self.schema = schema
        separator = "&" if "?" in DATABASE_SERVER_URL else "?"
        self.database_url = f"{DATABASE_SERVER_URL}{separator}options=-csearch_path%3D{schema}"

    def _addon_env(self):
        env = dict(os.environ)
        env.update({
            "ADDON_ENV": "production",
            "ADDON_BASE_URL": self.url,
            "ADDON_SECRET_KEY": secrets.token_hex(24),
            "DATABASE_URL": self.database_url,
            "CONNECT_INSTALL_KEYS_URL": f"{self.site_url}/_devsite/install-keys/",
            "CONNECT_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "CONNECT_ALL_JS_URL": f"{self.site_url}/_devsite/all.js",
            "CONNECT_OAUTH_TOKEN_URL": f"{self.site_url}/oauth2/token",
            "ADDON_FRAME_ANCESTORS": self.site_url,
            "PORT": str(self.port),
            "GUNICORN_WORKER_CLASS": self.worker_class,
            "WEB_CONCURRENCY": str(self.workers),
            # One line per request would cost more than some of the requests measured.
            "GUNICORN_LOG_LEVEL": "warning",
        })
        env.pop("REDIS_URL", None)
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
            # Redis pub/sub ignores the database number: without a prefix of its own, a stack would
            # receive the messages of another stack running at the same time.
            env["REDIS_CHANNEL_PREFIX"] = f"supportchat-bench-{self.run_id}:"
        env.update(self.extra_env)
        return env

    def _migrate(self):
        log_path, log_file = self._log("migrate")
        result = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"], cwd=ROOT,
                                env={**self.env, "SLA_SWEEPER": "false"}, stdout=log_file, stderr=subprocess.STDOUT,
                                timeout=120)
        if result.returncode != 0:
            raise StackError(f"flask db upgrade failed with code {result.returncode}; see {log_path}")

    def _start_gunicorn(self):
        log_path, log_file = self._log("gunicorn")
        self.gunicorn_log = log_path
        # --bind keeps the benchmark on loopback; gunicorn.conf.py would listen on every interface.
        command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"{HOST}:{self.port}",
                   "app:app"]
        process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log_file, stderr=subprocess.STDOUT)
        self.processes.append(process)
        self.gunicorn_pid = process.pid
        self._wait(f"{self.url}/atlassian-connect.json", process, "gunicorn", log_path)

    def _install(self):
        result = self.site("POST", "/_devsite/apps/install",
                           json={"descriptor_url": f"{self.url}/atlassian-connect.json"})
        if result.get("status") not in (200, 204):
            raise StackError(f"installing the add-on into the local site failed: {result}; see {self.gunicorn_log}")
        self.client_key = result["client_key"]
        from addon import create_app
        from addon.atlassian.installations import get_active_installation, shared_secret_of

        overrides = {name: value for name, value in self.env.items()
                     if name.startswith(("ADDON_", "CONNECT_", "DATABASE_", "REDIS_"))}
        overrides.update(QUIET_APP)
        self.app = create_app(overrides)
        with self.app.app_context():
            self._secret = shared_secret_of(get_active_installation(self.client_key))

    # What the benchmarks use.

    def site(self, method, path, json=None):
        response = requests.request(method, self.site_url + path, json=json, timeout=60)
        if response.status_code >= 400:
            raise StackError(f"{method} {path} on the local site returned {response.status_code}: "
                             f"{response.text[:300]}")
        return response.json() if response.content else None

    def context_token(self, account_id, lifetime_secs=3600):
        from addon.atlassian.qsh import CONTEXT_QSH

        now = int(time.time())
        claims = {"iss": self.client_key, "iat": now, "exp": now + lifetime_secs, "qsh": CONTEXT_QSH,
                  "sub": account_id, "context": {"user": {"accountId": account_id}}}
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def api(self, method, path, account_id, **kwargs):
        headers = {"Authorization": f"JWT {self.context_token(account_id, 300)}"}
        return requests.request(method, self.url + "/api" + path, headers=headers, timeout=60, **kwargs)

    def agents(self, count):
        return [SEED_AGENTS[index % len(SEED_AGENTS)] for index in range(count)]

    def key_users(self, count, organization_id="1"):
        """Create `count` customers on the site and make them key users of the organisation's
        active subscription. The site learns of them through its JSM REST API, called as the app."""
        from addon.atlassian.installations import get_active_installation
        from addon.atlassian.jira_client import jira_client_for

        account_ids = []
        with self.app.app_context():
            installation = get_active_installation(self.client_key)
            with jira_client_for(installation) as jira:
                for _ in range(count):
                    self._customer_count += 1
                    number = self._customer_count
                    created = jira.request("POST", "rest/servicedeskapi/customer", json={
                        "email": f"client{number}.{self.run_id}@bench.example", "displayName": f"Client {number}"})
                    account_ids.append(created["accountId"])
                for start in range(0, len(account_ids), 50):
                    jira.request("POST", f"rest/servicedeskapi/organization/{organization_id}/user",
                                 json={"accountIds": account_ids[start:start + 50]})
            _grant(self.app, installation.id, organization_id, account_ids)
        return account_ids

    def start_chat(self, account_id, message="Bonjour, la facture 42 est bloquée."):
        response = self.api("POST", "/chats", account_id, json={
            "summary": "Facture bloquée", "product_area": "Ventes", "impact": "blocking",
            "message": message, "client_message_id": str(uuid.uuid4()),
        })
        if response.status_code != 201:
            raise StackError(f"POST /api/chats returned {response.status_code}: {response.text[:300]}")
        return response.json()["conversation"]

    def _worker_pids_or_none(self):
        try:
            return self.worker_pids() if getattr(self, "gunicorn_pid", None) else []
        except OSError:
            return []

    def worker_pids(self):
        children = Path(f"/proc/{self.gunicorn_pid}/task/{self.gunicorn_pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    @staticmethod
    def rss_kib(pid):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise StackError(f"no VmRSS for process {pid}")


def _stop_process(process, timeout_secs=40):
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=timeout_secs)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _kill_if_alive(pid):
    """Kill gunicorn worker `pid` if it outlived its master (checked by its command line)."""
    import signal

    try:
        if b"gunicorn" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return
        os.kill(pid, signal.SIGKILL)
    except (FileNotFoundError, ProcessLookupError):
        pass


def _grant(app, installation_id, organization_id, account_ids):
    from sqlalchemy import select

    from addon.access.models import KeyUser, Subscription, SubscriptionStatus

    with app.extensions["database"].transaction() as session:
        subscription = session.execute(select(Subscription).where(
            Subscription.installation_id == installation_id, Subscription.organization_id == organization_id,
        )).scalar_one_or_none()
        if subscription is None:
            subscription = Subscription(
                installation_id=installation_id, organization_id=organization_id,
                status=SubscriptionStatus.ACTIVE, starts_on=date(2020, 1, 1),
                contract_reference=f"CT-{organization_id}",
                organization_name=ORGANIZATION_NAMES.get(organization_id, organization_id))
            session.add(subscription)
            session.flush()
        session.add_all([KeyUser(installation_id=installation_id, subscription_id=subscription.id,
                                 account_id=account_id, organization_id=organization_id)
                         for account_id in account_ids])


def _stop_app(app):
    extensions = app.extensions
    for name in ("subscription_scheduler", "faq_kb_scheduler", "routing_scheduler"):
        scheduler = extensions.get(name)
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=False)
    for name in ("outbox", "attachment_worker"):
        if name in extensions:
            extensions[name].stop()
    if "transcript_job" in extensions:
        from addon.chat import transcript_attach

        transcript_attach.stop(app)
    for name in ("hub", "pubsub"):
        if name in extensions:
            extensions[name].close()
    from addon.atlassian import webhooks

    webhooks.shutdown(app)
    extensions["database"].dispose()


def _drop_schema(schema):
    import sqlalchemy

    from addon.db import normalize_database_url

    engine = sqlalchemy.create_engine(normalize_database_url(DATABASE_SERVER_URL))
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()
