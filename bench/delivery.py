"""Delivery latency: live conversations through the product, then through the bare and durable relays.

The product runs as bench.stack.Stack starts it (gunicorn, the recommended worker class,
PostgreSQL, Redis, the local Jira site answering in 50 ms). Each conversation is a real chat
started with POST /api/chats by a key user of its own, with a customer socket and an agent
socket, both authenticated by a context token in their first frame. The relays (bench/relays.py)
get the same load from the same generator (bench/loadgen.py, a separate process).
"""

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .common import Section, ms, percentile, progress, table
from .relays import Relay
from .stack import ROOT, Stack

TITLE = "Delivery latency"
FULL = {"conversations": 500, "rate": 100, "duration_secs": 60, "lower_rates": (25, 50), "lower_secs": 20}
QUICK = {"conversations": 100, "rate": 100, "duration_secs": 10, "lower_rates": (25,), "lower_secs": 6}
GOAL_RATIO = 1.5
LOADGEN_TIMEOUT_SECS = 300


def run(quick):
    shape = QUICK if quick else FULL
    with Stack() as stack:
        progress(f"delivery: starting {shape['conversations']} chats")
        customers = stack.key_users(shape["conversations"])
        agents = stack.agents(shape["conversations"])
        with ThreadPoolExecutor(8) as pool:
            conversations = list(pool.map(stack.start_chat, customers))
        pairs = [{"conversation_id": conversation["id"], "customer_token": stack.context_token(customer),
                  "agent_token": stack.context_token(agent), "project_key": "SUP"}
                 for conversation, customer, agent in zip(conversations, customers, agents)]
        results = {}
        progress("delivery: the product")
        results["Product"] = load(stack.url, pairs, shape, stack.worker_pids())
        floor_pairs = [{"conversation_id": index + 1, "customer_token": "-", "agent_token": "-", "project_key": None}
                       for index in range(len(pairs))]
        for kind, name in (("durable", "Durable relay"), ("bare", "Bare relay")):
            progress(f"delivery: the {kind} relay")
            with Relay(kind, stack) as relay:
                results[name] = load(relay.url, floor_pairs, shape, relay.worker_pids())
        # Below the goal's rate, on the same conversations: where the product stops keeping up.
        for rate in shape["lower_rates"]:
            progress(f"delivery: the product at {rate} messages/s")
            results[f"Product at {rate} msg/s"] = load(
                stack.url, pairs, {**shape, "rate": rate, "duration_secs": shape["lower_secs"]}, stack.worker_pids())
        return section(results, shape, stack)


def load(url, pairs, shape, worker_pids):
    """Run the load generator on `url`; return its result with the workers' CPU share added."""
    plan = {"url": url, "pairs": pairs, "rate": shape["rate"], "duration_secs": shape["duration_secs"]}
    cpu_before, started = _cpu_secs(worker_pids), time.monotonic()
    result = subprocess.run([sys.executable, "-m", "bench.loadgen", "delivery"], input=json.dumps(plan),
                            capture_output=True, text=True, cwd=ROOT, timeout=LOADGEN_TIMEOUT_SECS)
    if result.returncode != 0:
        raise RuntimeError(f"the load generator failed: {result.stderr[-2000:]}")
    figures_ = json.loads(result.stdout.strip().splitlines()[-1])
    figures_["worker_cpu"] = (_cpu_secs(worker_pids) - cpu_before) / (time.monotonic() - started)
    figures_["rate"] = shape["rate"]
    return figures_


def _cpu_secs(pids):
    """User and system CPU seconds used so far by the processes `pids`."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def figures(result):
    both = result["customer_to_agent"] + result["agent_to_customer"]
    return {name: {"p50": percentile(values, 0.50), "p95": percentile(values, 0.95), "p99": percentile(values, 0.99)}
            for name, values in (("c2a", result["customer_to_agent"]), ("a2c", result["agent_to_customer"]),
                                 ("all", both))}


def section(results, shape, stack):
    computed = {name: figures(result) for name, result in results.items()}
    rows = []
    for name, result in results.items():
        f = computed[name]
        rows.append((name, *(ms(f[d][p]) for d in ("c2a", "a2c") for p in ("p50", "p95", "p99")),
                     ms(f["all"]["p99"]), f"{result['delivered']}/{result['sent']}", result["lost"],
                     result["wrong"] + result["duplicates"] + result["unknown"], result["error_count"],
                     f"{result['worker_cpu'] * 100:.0f} %"))
    ratio_durable = _ratio(computed["Product"]["all"]["p99"], computed["Durable relay"]["all"]["p99"])
    ratio_bare = _ratio(computed["Product"]["all"]["p99"], computed["Bare relay"]["all"]["p99"])
    product = results["Product"]
    body = "\n\n".join([
        f"{shape['conversations']} live conversations, {shape['rate']} messages per second in total for "
        f"{shape['duration_secs']} s, alternating customer→agent and agent→customer. Product: gunicorn with "
        f"gunicorn.conf.py, {stack.worker_class} worker ×{stack.workers}, PostgreSQL, Redis, the local Jira site "
        "answering its REST calls in 50 ms; every socket authenticated by a context token in its first frame. "
        "The relays run under the same gunicorn configuration and worker class; the durable relay writes to "
        "the same PostgreSQL database. Latency: from just before the send to the arrival at the other side's "
        "socket, measured in the load generator (bench/loadgen.py, asyncio, a separate process). Every "
        "message is checked on arrival (conversation, text, one arrival). Times in ms. Worker CPU: the "
        "gunicorn worker's CPU time over the run's wall time (100 % is one core, the most one worker can use). "
        "The last rows send fewer messages per second through the product, on the same conversations.",
        table(("Server", "c→a p50", "c→a p95", "c→a p99", "a→c p50", "a→c p95", "a→c p99", "all p99",
               "delivered", "lost", "wrong", "errors", "worker CPU"), rows),
        f"p99 ratio, product / durable relay: {ratio_durable:.2f}. Product / bare relay: {ratio_bare:.2f}.",
    ])
    met, missed = [], []
    goal = (f"p99 ≤ {GOAL_RATIO}× the durable relay at {shape['conversations']} conversations and "
            f"{shape['rate']} msg/s: {ratio_durable:.2f}×")
    clean = product["lost"] == 0 and product["wrong"] == 0 and product["duplicates"] == 0
    (met if ratio_durable <= GOAL_RATIO else missed).append(goal)
    (met if clean else missed).append(
        f"no loss, no wrong or duplicate delivery through the product: {product['lost']} lost, "
        f"{product['wrong']} wrong, {product['duplicates']} duplicates")
    for name, result in results.items():
        if result.get("wrong_examples"):
            body += (f"\n\nWrong deliveries through {name}, first ones: `"
                     f"{json.dumps(result['wrong_examples'][:3])}`.")
    if ratio_durable > GOAL_RATIO:
        body += "\n\n" + LIMIT
    return Section(TITLE, body, met, missed, summary={"p99_ratio_durable": ratio_durable,
                                                      "p99_ratio_bare": ratio_bare})


# The reason the goal is missed, from py-spy profiles of the worker (`py-spy record -p <worker pid>`) during
# this benchmark; see README.md, "Benchmarks". Update it with the code.
LIMIT = """Limit. One worker is CPU-bound here: at 100 messages per second its CPU column reads close to
100 %, and most of a message's latency is waiting for that worker. A message through the product
costs far more than the durable relay's one INSERT, because the product does its duties: the access
and key-user checks, the message row, the SLA clock, the outbox's Jira comment and its property
(50 ms each here), and the two webhooks that Jira sends back for that comment. A count of the SQL
statements per message (an SQLAlchemy event listener over 20 messages in the test set-up, on SQLite,
the sweeps' own statements subtracted) fell from about 39 to about 20 with the fixes below. A py-spy
profile of the worker at 100 messages per second over 100 conversations, taken after them, puts
19 % of its samples in the outbox, 14 % in the websocket frame (checks and `post_message`), 8 % in
verifying the JWT of incoming calls, 5 % in writing SLA issue properties and 2 % in webhook
processing. SQLAlchemy's execution takes 30 % of all samples, and no single function dominates.
Fixes made: the key-user rows are read once per frame (addon/access/keyusers.py); a frame reads
its conversation once (addon/web/ws.py); Jira's echoes of the outbox's own comments are dropped
at receipt instead of stored and handled (addon/sync/echoes.py); the outbox marks a first attempt
in the transaction that reads it and settles rows with one UPDATE (addon/sync/outbox.py). What is
left is spread over the product's duties, and the next step is more workers (`WEB_CONCURRENCY`,
with Redis), which this 2-core machine, also running the load generator, PostgreSQL and the local
site, cannot show. The relays do none of this work, so a ratio near 1.5 is out of reach for one
worker."""


def _ratio(value, floor):
    if value is None or not floor:
        return float("inf")
    return value / floor
