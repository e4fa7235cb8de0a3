"""Jira sync: message-to-comment latency, and the drain of a comment backlog under a 429 regime.

Both parts send customer messages through the chat's HTTP API (`POST /api/chats/<id>/messages`,
as the portal does without a socket) to conversations started through `POST /api/chats`. The
outbox of the gunicorn worker writes them to the local site as JSM comments, impersonating the
customer, then sets the `supportchat.messages` comment property (two REST calls per comment).

Latency: the local site responds to every REST call after 50 ms. A message's latency is the
`created` time the site gave its comment minus the instant the send request started (one clock,
since both run on this machine, with Jira's millisecond precision). The site's comment-batching
setting keeps its default, so a message may share a comment with the messages sent just before it.

Drain: the site admits POSTs to the comment endpoints at ALLOWED_PER_SEC (a token bucket of one
second's worth, then 429 with Atlassian's rate-limit headers). A backlog of messages is sent at
once, with comment batching off (`comment_batch_window_secs` = 0) so that each message needs its
own comment write. The drain rate counts the comments created after the last message of the
backlog was sent, per second until the last comment, against the allowed rate: while the backlog
is being sent, the same worker also handles those requests. The rate over the whole backlog is
shown too. Afterwards every message's marker must appear in exactly one
comment body on the site: none lost, none duplicated.
"""

import os
import re
import threading
import time
import uuid
from datetime import datetime, timezone

import psycopg2
import requests

from .common import Section, percentile, progress, table

LATENCY_MS = 50
ALLOWED_PER_SEC = 10
CONVERSATIONS = {True: 4, False: 20}
LATENCY_MESSAGES = {True: 30, False: 300}
# Messages per second, in total, during the latency part.
LATENCY_SEND_RATE = 5
DRAIN_MESSAGES = {True: 100, False: 600}
SENDER_THREADS = 4
SYNC_TIMEOUT_SECS = 120
GOAL_P95_MS = 500
GOAL_DRAIN_FRACTION = 0.9
MARKER = re.compile(r"BX\d{6}Q")


def marker(number):
    return f"BX{number:06d}Q"


def message_text(number):
    return f"Toujours bloqué sur la facture, réf. {marker(number)}, merci de regarder."


class Chats:
    """Conversations of key users on the stack, and the messages sent to them with their send instants."""

    def __init__(self, stack, count):
        self.stack = stack
        self.http = requests.Session()
        self.customers = stack.key_users(count)
        self.conversations = []
        for account_id in self.customers:
            conversation = stack.start_chat(account_id, "Bonjour, la facture 42 reste bloquée.")
            self.conversations.append((account_id, conversation["id"], conversation["issue_key"]))
        self.sent = {}  # marker -> (issue key, wall-clock send instant)
        self._lock = threading.Lock()

    def send(self, index, number):
        account_id, conversation_id, issue_key = self.conversations[index % len(self.conversations)]
        headers = {"Authorization": f"JWT {self.stack.context_token(account_id, 300)}"}
        sent_at = time.time()
        response = self.http.post(f"{self.stack.url}/api/chats/{conversation_id}/messages", headers=headers,
                                  json={"body": message_text(number), "client_message_id": str(uuid.uuid4())},
                                  timeout=30)
        if response.status_code not in (200, 201):
            raise RuntimeError(f"sending message {number} returned {response.status_code}: {response.text[:200]}")
        with self._lock:
            self.sent[marker(number)] = (issue_key, sent_at)

    def comments(self):
        """Return {issue key: [comment dicts]} of the conversations' issues, read from the site."""
        return {issue_key: self.stack.site("GET", f"/_devsite/issues/{issue_key}")["comments"]
                for _account, _conversation, issue_key in self.conversations}

    def occurrences(self):
        """Return {marker: [(issue key, comment created instant)]} over every comment of the issues."""
        found = {}
        for issue_key, comments in self.comments().items():
            for comment in comments:
                body = comment.get("body")
                text = body if isinstance(body, str) else repr(body)
                for match in MARKER.findall(text):
                    found.setdefault(match, []).append((issue_key, parse_time(comment["created"])))
        return found

    def wait_synced(self, markers, timeout_secs):
        """Wait until no message waits for its comment; return the occurrences and whether each marker arrived.

        The wait reads the add-on's database, because reading every comment from the site as
        often would load the site process that serves the calls being measured.
        """
        deadline = time.monotonic() + timeout_secs
        connection = psycopg2.connect(self.stack.database_url)
        connection.autocommit = True
        try:
            while time.monotonic() < deadline:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT count(*) FROM messages WHERE sync_state IN ('pending', 'failed', 'sending')")
                    if cursor.fetchone()[0] == 0:
                        break
                time.sleep(0.2)
        finally:
            connection.close()
        found = self.occurrences()
        return found, all(name in found for name in markers)


def parse_time(value):
    if isinstance(value, (int, float)):
        return value / 1000 if value > 1e11 else value
    text = str(value).replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def measure_latency(chats, quick):
    count = LATENCY_MESSAGES[quick]
    progress(f"jira_sync: latency, {count} messages at {LATENCY_SEND_RATE}/s")
    started = time.monotonic()
    for number in range(count):
        pause = started + number / LATENCY_SEND_RATE - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        chats.send(number, number)
    found, complete = chats.wait_synced(list(chats.sent), SYNC_TIMEOUT_SECS)
    latencies = [(found[name][0][1] - sent_at) * 1000 for name, (_issue, sent_at) in chats.sent.items()
                 if name in found]
    return latencies, complete


def measure_drain(stack, chats, quick):
    from addon.atlassian.installations import get_active_installation
    from addon.settings import set_setting

    latency_markers = set(chats.sent)
    with stack.app.app_context():
        set_setting(get_active_installation(stack.client_key).id, "comment_batch_window_secs", 0)
    limit = {"mode": "allowed_rate", "method": "POST", "path": "/comment$", "rate_per_sec": ALLOWED_PER_SEC,
             "burst": ALLOWED_PER_SEC, "latency_ms": LATENCY_MS}
    stack.site("PUT", "/_devsite/faults", json=[limit, *stack.jira_faults])

    count = DRAIN_MESSAGES[quick]
    progress(f"jira_sync: drain, backlog of {count} messages, {ALLOWED_PER_SEC} comment POSTs/s allowed")
    senders = []
    for worker in range(SENDER_THREADS):
        numbers = range(100_000 + worker, 100_000 + count, SENDER_THREADS)
        senders.append(threading.Thread(target=lambda numbers=numbers: [chats.send(n, n) for n in numbers]))
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    sent_all_at = time.time()
    backlog = [name for name in chats.sent if name not in latency_markers]
    found, complete = chats.wait_synced(backlog, SYNC_TIMEOUT_SECS + count / ALLOWED_PER_SEC)

    rule = stack.site("GET", "/_devsite/faults")[0]
    stack.site("PUT", "/_devsite/faults", json=stack.jira_faults)
    return backlog, found, complete, rule, sent_all_at


def rate_of(moments):
    """Return (seconds from first to last, events per second) of sorted instants."""
    span = moments[-1] - moments[0] if len(moments) > 1 else 0.0
    # N events over a span hold N - 1 intervals.
    return span, (len(moments) - 1) / span if span > 0 else 0.0


def drain_figures(backlog, found, sent_all_at):
    """Return (whole span, whole rate, comments after the backlog was sent, their rate, lost, duplicated)."""
    created = sorted(moment for name in backlog for _issue, moment in found.get(name, []))
    lost = [name for name in backlog if name not in found]
    duplicated = [name for name in backlog if len(found.get(name, [])) > 1]
    span, whole_rate = rate_of(created)
    after = [moment for moment in created if moment >= sent_all_at]
    _after_span, rate = rate_of(after)
    return span, whole_rate, len(after), rate, lost, duplicated


def run(quick: bool) -> Section:
    from .stack import Stack

    load_before = os.getloadavg()[0]
    with Stack(jira_latency_ms=LATENCY_MS) as stack:
        progress(f"jira_sync: starting {CONVERSATIONS[quick]} chats")
        chats = Chats(stack, CONVERSATIONS[quick])
        latencies, latency_complete = measure_latency(chats, quick)
        backlog, found, drain_complete, rule, sent_all_at = measure_drain(stack, chats, quick)
    load = (load_before, os.getloadavg()[0])
    return section(latencies, latency_complete, len(chats.conversations), backlog, found, drain_complete, rule,
                   sent_all_at, load)


def section(latencies, latency_complete, conversations, backlog, found, drain_complete, rule, sent_all_at, load):
    span, whole_rate, after_count, rate, lost, duplicated = drain_figures(backlog, found, sent_all_at)
    writes = rule.get("admitted", 0)
    rejected = rule.get("rejected", 0)
    fraction = rate / ALLOWED_PER_SEC
    p95 = percentile(latencies, 0.95)

    def cell(value):
        return "–" if value is None else f"{value:.0f}"

    body = "\n\n".join([
        __doc__.split("\n\n", 1)[1].strip(),
        table(("Message → comment", "messages", "p50 ms", "p95 ms", "p99 ms", "max ms"),
              [(f"{conversations} conversations, {LATENCY_SEND_RATE} messages/s",
                len(latencies), cell(percentile(latencies, 0.5)), cell(p95), cell(percentile(latencies, 0.99)),
                cell(max(latencies) if latencies else None))]),
        table(("429 regime", "value"), [
            ("messages in the backlog", len(backlog)),
            ("conversations", conversations),
            ("comment POSTs admitted / rejected with 429", f"{writes} / {rejected}"),
            ("first to last comment", f"{span:.1f} s ({whole_rate:.2f} comments/s)"),
            ("comments created after the backlog was sent", after_count),
            ("drain rate after the backlog was sent", f"{rate:.2f} comments/s ({fraction:.0%} of {ALLOWED_PER_SEC}/s)"),
            ("messages lost / duplicated", f"{len(lost)} / {len(duplicated)}"),
        ]),
        f"Load average (1 min) of the machine: {load[0]:.1f} at the start, {load[1]:.1f} at the end (2 cores).",
    ])
    result = Section(title="Jira sync", body=body,
                     summary={"sync_p95_ms": p95, "drain_fraction": fraction})
    latency_goal = f"comment sync p95 ≤ {GOAL_P95_MS} ms: {cell(p95)} ms."
    (result.met if latency_complete and p95 is not None and p95 <= GOAL_P95_MS else result.missed).append(latency_goal)
    drain_goal = (f"drain ≥ {GOAL_DRAIN_FRACTION:.0%} of the allowed rate: {fraction:.0%} "
                  f"({rate:.2f} of {ALLOWED_PER_SEC} comments/s).")
    (result.met if fraction >= GOAL_DRAIN_FRACTION else result.missed).append(drain_goal)
    exactness = f"no loss and no duplicate under 429: {len(lost)} lost, {len(duplicated)} duplicated."
    (result.met if drain_complete and not lost and not duplicated else result.missed).append(exactness)
    return result
