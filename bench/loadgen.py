"""The load generator: chat sockets on asyncio, in a process of their own.

    python -m bench.loadgen delivery < plan.json     # prints one JSON object of results
    python -m bench.loadgen capacity < plan.json     # then reads "open N" / "quit" lines

It speaks the product's frames (see addon/web/ws.py), which the relays of bench/relays.py speak
too. The websocket framing is wsproto's, over asyncio streams: one coroutine per socket, no
thread, so that the generator costs little next to the server it measures.

Delivery plan: {"url", "pairs": [{"conversation_id", "customer_token", "agent_token",
"project_key"}], "rate": messages per second in total, "duration_secs"}. Message i goes to pair
i % N, from the customer and the agent in turn, at t0 + i / rate. Every message frame is checked
on arrival: known client_message_id, right conversation, right body, and it must reach the
other side once. Latency runs from just before the send to the arrival at the other side.

Capacity plan: {"url", "sockets": [{"token", "project_key", "conversation_id"}]} cycled as sockets
open. Each "open N" line opens N more sockets, each authenticated and subscribed, and prints
{"open": total, "failed": count, "secs": seconds, "error": first error or null}.
"""

import asyncio
import json
import sys
import time
import uuid
from urllib.parse import urlsplit

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Message,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)

CONNECT_TIMEOUT_SECS = 30
CONNECT_CONCURRENCY = 50
DRAIN_SECS = 10


class Closed(Exception):
    pass


class Socket:
    """One websocket; `on_frame(socket, frame)` gets each decoded JSON frame."""

    def __init__(self, on_frame=None):
        self.on_frame = on_frame
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.ready = None
        self.closed = None
        self.role = None
        self.conversation_id = None
        self.waiters = []  # (predicate, future)

    async def connect(self, url, path="/ws"):
        parts = urlsplit(url)
        self.reader, self.writer = await asyncio.open_connection(parts.hostname, parts.port)
        self.writer.write(self.ws.send(Request(host=parts.netloc, target=path)))
        while True:
            data = await self.reader.read(65536)
            if not data:
                raise Closed("connection closed during the handshake")
            self.ws.receive_data(data)
            for event in self.ws.events():
                if isinstance(event, AcceptConnection):
                    self.task = asyncio.get_running_loop().create_task(self._read())
                    return
                if isinstance(event, RejectConnection):
                    raise Closed(f"handshake rejected with HTTP {event.status_code}")

    def send(self, frame):
        self.writer.write(self.ws.send(Message(data=json.dumps(frame))))

    def wait_for(self, predicate, timeout=CONNECT_TIMEOUT_SECS):
        future = asyncio.get_running_loop().create_future()
        self.waiters.append((predicate, future))
        return asyncio.wait_for(future, timeout)

    async def _read(self):
        parts = []
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                self.ws.receive_data(data)
                for event in self.ws.events():
                    if isinstance(event, TextMessage):
                        parts.append(event.data)
                        if event.message_finished:
                            self._deliver(json.loads("".join(parts)))
                            parts = []
                    elif isinstance(event, Ping):
                        self.writer.write(self.ws.send(event.response()))
                    elif isinstance(event, CloseConnection):
                        self.closed = event.code
                        try:
                            self.writer.write(self.ws.send(event.response()))
                        except Exception:  # the connection may already be half closed
                            pass
                        return
        except (ConnectionError, OSError):
            pass
        finally:
            if self.closed is None:
                self.closed = 1006
            for _predicate, future in self.waiters:
                if not future.done():
                    future.set_exception(Closed(f"closed with {self.closed}"))

    def _deliver(self, frame):
        for waiter in list(self.waiters):
            predicate, future = waiter
            if not future.done() and predicate(frame):
                future.set_result(frame)
                self.waiters.remove(waiter)
                return
        if self.on_frame is not None:
            self.on_frame(self, frame)

    def close(self):
        try:
            self.writer.close()
        except Exception:  # closing a dead socket
            pass


async def open_chat_socket(url, token, project_key, conversation_id, on_frame=None):
    """Connect, authenticate with the first frame as production does, and subscribe."""
    socket = Socket(on_frame)
    await socket.connect(url)
    ready = socket.wait_for(lambda frame: frame.get("type") in ("ready", "error"))
    socket.send({"type": "auth", "token": token, "project_key": project_key})
    frame = await ready
    if frame["type"] != "ready":
        socket.close()
        raise Closed(f"authentication rejected: {frame.get('code')}")
    socket.conversation_id = conversation_id
    if conversation_id is not None:
        socket.send({"type": "subscribe", "conversation_id": conversation_id})
    return socket


# Delivery.

class Delivery:
    def __init__(self, plan):
        self.plan = plan
        self.sent = {}  # client_message_id -> (conversation_id, body, target role, send time)
        self.latencies = {"customer": [], "agent": []}  # by receiving side
        self.arrived = set()
        self.wrong = 0
        self.wrong_examples = []
        self.duplicates = 0
        self.unknown = 0
        self.errors = []
        self.measuring = False

    def on_frame(self, socket, frame):
        now = time.perf_counter()
        kind = frame.get("type")
        if kind == "error":
            self.errors.append(frame.get("code"))
            return
        if kind != "message" or not self.measuring:
            return
        expected = self.sent.get(frame.get("client_message_id"))
        if expected is None:
            self.unknown += 1
            return
        conversation_id, body, target, sent_at = expected
        if frame.get("conversation_id") != conversation_id or socket.conversation_id != conversation_id \
                or frame.get("body") != body:
            self.wrong += 1
            if len(self.wrong_examples) < 5:
                self.wrong_examples.append({
                    "client_message_id": frame.get("client_message_id"), "sent_to": conversation_id,
                    "frame_conversation": frame.get("conversation_id"), "socket_conversation": socket.conversation_id,
                    "socket_role": socket.role, "body_matches": frame.get("body") == body, "seq": frame.get("seq")})
            return
        if socket.role != target:
            return  # the sender's own copy
        key = frame["client_message_id"]
        if key in self.arrived:
            self.duplicates += 1
            return
        self.arrived.add(key)
        self.latencies[target].append(now - sent_at)

    async def run(self):
        url, pairs = self.plan["url"], self.plan["pairs"]
        limit = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def open_side(pair, role):
            token = pair["customer_token"] if role == "customer" else pair["agent_token"]
            project_key = None if role == "customer" else pair.get("project_key")
            async with limit:
                socket = await open_chat_socket(url, token, project_key, pair["conversation_id"], self.on_frame)
            socket.role = role
            return socket

        started = time.perf_counter()
        sockets = await asyncio.gather(*[open_side(pair, role) for pair in pairs for role in ("customer", "agent")])
        connect_secs = time.perf_counter() - started
        await asyncio.sleep(1.0)  # the subscriptions' history arrives and is ignored
        self.measuring = True

        rate, duration = self.plan["rate"], self.plan["duration_secs"]
        # A resent client_message_id is taken for a retry and not delivered again, so each run
        # of a plan on the same conversations needs ids of its own.
        prefix = uuid.uuid4().hex[:8]
        total = int(rate * duration)
        t0 = time.perf_counter()
        for index in range(total):
            delay = t0 + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            pair_index = index % len(pairs)
            from_customer = (index // len(pairs)) % 2 == 0
            socket = sockets[2 * pair_index + (0 if from_customer else 1)]
            client_message_id = f"{prefix}-{index}"
            body = f"Message {index} de la conversation {pairs[pair_index]['conversation_id']} : la facture reste bloquée."
            self.sent[client_message_id] = (pairs[pair_index]["conversation_id"], body,
                                            "agent" if from_customer else "customer", time.perf_counter())
            socket.send({"type": "send", "conversation_id": pairs[pair_index]["conversation_id"], "body": body,
                         "client_message_id": client_message_id, "visibility": "public"})
        send_secs = time.perf_counter() - t0
        deadline = time.perf_counter() + DRAIN_SECS
        while len(self.arrived) < total and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        closed_early = sum(1 for socket in sockets if socket.closed is not None)
        missing = [(conversation_id, target) for key, (conversation_id, _body, target, _at) in self.sent.items()
                   if key not in self.arrived]
        lost_by_conversation = {}
        for conversation_id, target in missing:
            lost_by_conversation[f"{conversation_id} to {target}"] = lost_by_conversation.get(
                f"{conversation_id} to {target}", 0) + 1
        for socket in sockets:
            socket.close()
        return {
            "conversations": len(pairs), "sent": total, "delivered": len(self.arrived),
            "lost": total - len(self.arrived), "lost_by_conversation": lost_by_conversation, "wrong": self.wrong, "wrong_examples": self.wrong_examples, "duplicates": self.duplicates,
            "unknown": self.unknown, "errors": self.errors[:10], "error_count": len(self.errors),
            "closed_early": closed_early, "connect_secs": connect_secs, "send_secs": send_secs,
            # Keyed by direction: customer→agent arrives at the agent.
            "customer_to_agent": self.latencies["agent"], "agent_to_customer": self.latencies["customer"],
        }


# Capacity.

async def capacity(plan, lines):
    url, specs = plan["url"], plan["sockets"]
    sockets = []
    limit = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def open_one(index):
        spec = specs[index % len(specs)]
        async with limit:
            return await open_chat_socket(url, spec["token"], spec.get("project_key"), spec.get("conversation_id"))

    async for line in lines:
        command = line.split()
        if not command or command[0] == "quit":
            break
        count = int(command[1])
        started = time.perf_counter()
        results = await asyncio.gather(*[open_one(len(sockets) + offset) for offset in range(count)],
                                       return_exceptions=True)
        opened = [result for result in results if isinstance(result, Socket)]
        failures = [result for result in results if not isinstance(result, Socket)]
        sockets += opened
        await asyncio.sleep(0.5)  # the subscriptions' history arrives
        dead = sum(1 for socket in sockets if socket.closed is not None)
        print(json.dumps({"open": len(sockets) - dead, "failed": len(failures) + dead,
                          "secs": time.perf_counter() - started,
                          "error": repr(failures[0])[:200] if failures else None}), flush=True)
    for socket in sockets:
        socket.close()


async def _stdin_lines():
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        yield line


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["delivery"]:
        plan = json.loads(sys.stdin.read())
        print(json.dumps(asyncio.run(Delivery(plan).run())), flush=True)
    elif argv[:1] == ["capacity"]:
        plan = json.loads(sys.stdin.readline())

        async def run():
            await capacity(plan, _stdin_lines())

        asyncio.run(run())
    else:
        sys.exit("usage: python -m bench.loadgen delivery|capacity < plan.json")


if __name__ == "__main__":
    main()
