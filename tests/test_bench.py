"""The benchmark package's own parts, and the product under gunicorn's gevent worker.

The gevent test starts the product as README.md's "Production" section does (gunicorn with
gunicorn.conf.py, GUNICORN_WORKER_CLASS=gevent) through bench.stack.Stack, and runs one chat
over real sockets: under gevent, psycopg2, Redis and the background threads must cooperate with
the loop, or the second socket would wait behind the first one's query."""

import json
import subprocess
import sys
import uuid

import pytest

from bench.common import Section, percentile, write_section
from bench.stack import DATABASE_SERVER_URL, REDIS_URL, Stack

from .support import ROOT_DIR, redis_reachable, require_service, wait_until
from .wsclient import WsClient


def test_percentile_nearest_rank():
    values = list(range(1, 101))

    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.99) == 99
    assert percentile(values, 1.0) == 100
    assert percentile([7], 0.99) == 7
    assert percentile([], 0.5) is None


def test_write_section_replaces_only_its_own(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\n## FAQ quality\n\nfigures\n\n## Capacity\n\nold\n", encoding="utf-8")

    write_section(Section("Capacity", "new table").markdown("python -m bench"), path)
    write_section(Section("Delivery latency", "p99").markdown("python -m bench"), path)

    text = path.read_text(encoding="utf-8")
    assert "## FAQ quality\n\nfigures\n" in text
    assert "old" not in text
    assert "new table" in text
    assert text.index("## Capacity") < text.index("## Delivery latency")


def _postgresql_available():
    import sqlalchemy

    from addon.db import normalize_database_url

    engine = sqlalchemy.create_engine(normalize_database_url(DATABASE_SERVER_URL))
    try:
        with engine.connect():
            return True
    except sqlalchemy.exc.OperationalError:
        return False
    finally:
        engine.dispose()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_chat_under_gunicorn_gevent_worker(database):
    if database == "postgresql":
        require_service(_postgresql_available(), f"PostgreSQL at {DATABASE_SERVER_URL}",
                        "start PostgreSQL or set BENCH_DATABASE_URL")
        require_service(redis_reachable(REDIS_URL), f"Redis at {REDIS_URL}", "start Redis or set BENCH_REDIS_URL")
    with Stack(database=database, redis=database == "postgresql", jira_latency_ms=0, worker_class="gevent") as stack:
        customer = stack.key_users(1)[0]
        conversation = stack.start_chat(customer, "Bonjour, l'export comptable échoue.")
        sockets = []
        try:
            for account_id, project_key in ((customer, None), ("agent-camille", "SUP")):
                client = WsClient(stack.url)
                sockets.append(client)
                assert client.auth(stack.context_token(account_id), project_key)["type"] == "ready"
                client.send(type="subscribe", conversation_id=conversation["id"], after_seq=0)
                assert client.receive_messages(1)[0]["body"] == "Bonjour, l'export comptable échoue."
            customer_socket, agent_socket = sockets

            client_message_id = str(uuid.uuid4())
            customer_socket.send(type="send", conversation_id=conversation["id"], body="Le fichier est vide.",
                                 client_message_id=client_message_id)
            assert customer_socket.wait_ack(client_message_id)["type"] == "ack"
            arrived = agent_socket.receive_messages(1)[0]
            agent_socket.send(type="send", conversation_id=conversation["id"], body="Je regarde.",
                              client_message_id=str(uuid.uuid4()))
            reply = customer_socket.receive_messages(2)
        finally:
            for client in sockets:
                client.close()

        assert (arrived["body"], arrived["client_message_id"]) == ("Le fichier est vide.", client_message_id)
        assert [frame["body"] for frame in reply] == ["Le fichier est vide.", "Je regarde."]
        assert len(stack.worker_pids()) == 1
        # The outbox, a background thread and so a greenlet here, writes the messages to Jira.
        wait_until(lambda: "Je regarde." in json.dumps(
            stack.site("GET", f"/_devsite/issues/{conversation['issue_key']}"), ensure_ascii=False),
            timeout=30, message="the agent's message as a Jira comment")


GEVENT_QUERIES_SCRIPT = """
from gevent import monkey
monkey.patch_all()

import time
import gevent
from sqlalchemy import text
from addon.db import Database

database = Database({url!r})
with database.engine.connect() as connection:  # open the pool's first connection beforehand
    connection.execute(text("SELECT 1"))

def sleep_in_postgresql():
    with database.engine.connect() as connection:
        connection.execute(text("SELECT pg_sleep(0.5)"))

started = time.monotonic()
gevent.joinall([gevent.spawn(sleep_in_postgresql) for _ in range(4)], raise_error=True)
print(round(time.monotonic() - started, 2))
database.dispose()
"""


def test_postgresql_queries_yield_under_gevent():
    require_service(_postgresql_available(), f"PostgreSQL at {DATABASE_SERVER_URL}",
                    "start PostgreSQL or set BENCH_DATABASE_URL")
    script = GEVENT_QUERIES_SCRIPT.format(url=DATABASE_SERVER_URL)

    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT_DIR, capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    # Four queries of 0.5 s each: about 0.5 s when they wait side by side, 2 s if each blocked the loop.
    assert float(result.stdout.strip()) < 1.5
