"""Capacity: idle authenticated chat sockets held by one instance, and the memory each costs.

One gunicorn worker (the recommended worker class) serves sockets that the load generator opens
in steps, up to the last step or the first failure. Each socket authenticates with a context token
in its first frame and subscribes to its customer's conversation, as a chat page does, then stays
idle. Memory per socket is the worker's RSS growth since before the first socket, divided by the
open sockets. The bare relay (bench/relays.py) gets the same steps as the baseline.
"""

import json
import subprocess
import sys
import time

from .common import Section, progress, table
from .relays import Relay
from .stack import ROOT, Stack

TITLE = "Capacity"
FULL_STEPS = (1000, 2500, 5000, 7500, 10000)
QUICK_STEPS = (500, 1500)
ACCOUNTS = 20
GOAL_SOCKETS = 10000
GOAL_KIB = 40
SETTLE_SECS = 2


def run(quick):
    steps = QUICK_STEPS if quick else FULL_STEPS
    with Stack() as stack:
        customers = stack.key_users(ACCOUNTS)
        conversations = [stack.start_chat(customer) for customer in customers]
        specs = [{"token": stack.context_token(customer), "project_key": None, "conversation_id": conversation["id"]}
                 for customer, conversation in zip(customers, conversations)]
        progress("capacity: the product")
        product = climb(stack.url, specs, steps, stack.worker_pids()[0], stack.rss_kib)
        floor_specs = [{"token": "-", "project_key": None, "conversation_id": index + 1} for index in range(ACCOUNTS)]
        progress("capacity: the bare relay")
        with Relay("bare", stack) as relay:
            bare = climb(relay.url, floor_specs, steps, relay.worker_pids()[0], stack.rss_kib)
        return section(product, bare, steps, stack)


# The reason a product socket costs more than a bare relay socket; update it with the code.
LIMIT = """Limit. A product socket costs about 14 KiB more than a bare relay socket. Each socket used to
keep a writer greenlet blocked on its queue in the hub, about 13 KiB under gevent 26.9 (5,000 of
them measured alone in one process); the writer now runs only while frames wait to be sent
(addon/realtime/hub.py), which took the product from about 70 to about 55 KiB per idle socket.
What is left is the socket's session state, not broken down further: the socket session and the
hub's connection with their locks, the viewer and its token claims, its follows and the Flask
request context kept for the socket's lifetime. The bare relay uses about 40 KiB per socket
here, so ≤ 40 KiB per chat socket would leave the product nothing for its own state."""


def climb(url, specs, steps, worker_pid, rss_kib):
    """Open sockets step by step; return one row per step reached."""
    process = subprocess.Popen([sys.executable, "-m", "bench.loadgen", "capacity"], cwd=ROOT, text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    rows = []
    try:
        process.stdin.write(json.dumps({"url": url, "sockets": specs}) + "\n")
        process.stdin.flush()
        time.sleep(SETTLE_SECS)
        baseline = rss_kib(worker_pid)
        opened = 0
        for step in steps:
            process.stdin.write(f"open {step - opened}\n")
            process.stdin.flush()
            answer = json.loads(process.stdout.readline())
            time.sleep(SETTLE_SECS)
            rss = rss_kib(worker_pid)
            opened = answer["open"]
            rows.append({"target": step, "open": opened, "failed": answer["failed"], "secs": answer["secs"],
                         "rss_kib": rss, "baseline_kib": baseline,
                         "kib_per_socket": (rss - baseline) / opened if opened else None,
                         "error": answer["error"]})
            progress(f"capacity: {opened} sockets open, {answer['failed']} failed, RSS {rss / 1024:.0f} MiB")
            if answer["failed"]:
                break
        process.stdin.write("quit\n")
        process.stdin.flush()
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return rows


def section(product, bare, steps, stack):
    def rows_of(name, rows):
        return [(name, row["target"], row["open"], row["failed"], f"{row['secs']:.1f}", f"{row['rss_kib'] / 1024:.0f}",
                 "–" if row["kib_per_socket"] is None else f"{row['kib_per_socket']:.1f}") for row in rows]

    body = "\n\n".join([
        f"Idle sockets opened in steps of up to {steps[-1]} against one instance: gunicorn with gunicorn.conf.py, "
        f"one {stack.worker_class} worker, PostgreSQL, Redis. Each product socket authenticates with a context "
        f"token in its first frame (tokens of {ACCOUNTS} key users) and subscribes to its customer's conversation. "
        "KiB per socket: the worker's RSS growth since before the first socket, divided by the open sockets. "
        "The bare relay is the baseline.",
        table(("Server", "Step", "Open", "Failed", "Open time (s)", "Worker RSS (MiB)", "KiB per socket"),
              rows_of("Product", product) + rows_of("Bare relay", bare)),
    ])
    errors = [row["error"] for row in product if row["error"]]
    if errors:
        body += f"\n\nFirst failure: `{errors[0]}`."
    last = product[-1] if product else None
    met, missed = [], []
    if last is not None:
        held = last["open"] if not last["failed"] else last["open"]
        per_socket = last["kib_per_socket"]
        goal_text = (f"≥ {GOAL_SOCKETS} sockets at ≤ {GOAL_KIB} KiB each: {held} held at "
                     f"{'–' if per_socket is None else f'{per_socket:.1f}'} KiB each")
        if steps[-1] < GOAL_SOCKETS:
            goal_text += f" (quick mode stops at {steps[-1]})"
        ok = held >= min(GOAL_SOCKETS, steps[-1]) and per_socket is not None and per_socket <= GOAL_KIB
        (met if ok else missed).append(goal_text)
    if missed:
        body += "\n\n" + LIMIT
    return Section(TITLE, body, met, missed, summary={
        "sockets": last["open"] if last else 0, "kib_per_socket": last["kib_per_socket"] if last else None})
