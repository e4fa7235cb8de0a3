"""The socket hub: one per process, between the publish/subscribe layer and the open websockets.

The hub follows the pub/sub channel of a conversation while at least one local socket or
long-poll waiter follows it. Every payload published on a channel goes through
`fanout.may_receive(viewer, payload)` for each follower, and nothing else decides who receives
what. Sends to one socket are serialised by its own queue and writer thread, so a slow browser
never stalls the pub/sub delivery thread or the other sockets. The writer runs only while the
queue holds work: an idle socket keeps no thread (under gevent, a greenlet of about 13 KiB).

Ordering contract per socket and conversation: messages go out in `seq` order, each once, except
that a new version of a message already sent (edited or deleted) goes out again. The hub records
every seq published on the channel, including those the viewer may not receive, so an internal note does not look
like a gap to a customer's socket. A real gap (a lost push, or two writers that published in the
reverse order of their commits) holds the live messages back and reads the missing ones from the
database. The same catch-up runs when a socket subscribes and after a Redis outage (the pub/sub
`on_gap` callback).

Access changes (a key user removed, a subscription suspended or ended) arrive on their own
channel. The hub then holds the live payloads of the customers concerned at once, on the delivery
thread, and each socket's writer re-checks its follows: a follow the customer may no longer write
in ends, its held payloads are dropped and an error frame says why. Long-poll waiters wake up
and their request re-checks.
"""

import json
import logging
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from functools import partial

from sqlalchemy import select

from ..chat import fanout
from ..chat.access import ACCESS_CHANNEL, access_conversation, require_writer
from ..chat.actions import database, history
from ..chat.models import Conversation, ReadMark
from ..errors import NotFound, PermissionDenied
from .pubsub import create_pubsub

log = logging.getLogger(__name__)

LONG_POLL_SECS = 25
# A socket whose send has been blocked this long, or whose queue contains this many frames, is too
# slow or dead: it is closed and unregistered.
SEND_TIMEOUT_SECS = 10.0
SEND_QUEUE_MAX = 1000
CATCH_UP_BATCH = 200
# A payload whose predecessors are still missing after this many catch-ups that found nothing
# new is sent anyway: its seq was never committed (or is hidden), so waiting would stall forever.
MAX_FRUITLESS_CATCH_UPS = 2
# Payloads that only hubs read. Browsers get the `presence` frame that the hub derives from them.
PRESENCE = "presence"
PRESENCE_QUERY = "presence_query"
INTERNAL = "internal"


@dataclass
class Follow:
    """One conversation followed by one socket."""

    installation_id: int
    last_seq: int  # every seq up to this one was sent or is not for this viewer
    hold_count: int = 0  # catch-ups and acks under way, during which live payloads wait in held_payloads
    held_payloads: list = field(default_factory=list)
    fruitless: int = 0  # consecutive catch-ups that found nothing after last_seq


class Connection:
    """One authenticated websocket: its viewer, followed conversations and outgoing queue."""

    def __init__(self, hub, ws, viewer):
        self.hub = hub
        self.ws = ws
        self.viewer = viewer
        self.follows = {}  # conversation_id -> Follow
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._queue = deque()  # (kind, value) for the writer, oldest first
        self._queue_lock = threading.Lock()
        self._writer_running = False
        self._sending_since = None
        self._dead = False

    def send(self, frame):
        """Queue `frame` behind everything queued before it (replies of the receive loop)."""
        with self._lock:
            self._put(frame)

    def hold(self, conversation_id):
        """Hold live payloads of a followed conversation until `release` (used around an ack)."""
        with self._lock:
            follow = self.follows.get(conversation_id)
            if follow is not None:
                follow.hold_count += 1

    def release(self, conversation_id):
        with self._lock:
            follow = self.follows.get(conversation_id)
            if follow is not None:
                self._release(conversation_id, follow)

    # Called by the hub.

    def begin_follow(self, conversation_id, installation_id, after_seq):
        """Start following, holding live payloads until `start_catch_up` has run. Return False if
        already followed."""
        with self._lock:
            if conversation_id in self.follows:
                return False
            self.follows[conversation_id] = Follow(installation_id, after_seq, hold_count=1)
        return True

    def start_catch_up(self, conversation_id):
        """Queue the first catch-up of a follow, which ends the hold that `begin_follow` took."""
        self._enqueue(("catch_up", conversation_id))

    def end_follow(self, conversation_id):
        with self._lock:
            return self.follows.pop(conversation_id, None)

    def offer(self, payload, visible):
        """Take one published payload of a followed conversation (pub/sub delivery thread)."""
        conversation_id = payload.get("conversation_id")
        with self._lock:
            follow = self.follows.get(conversation_id)
            if follow is not None:
                self._admit(conversation_id, follow, payload, visible)

    def gap(self, conversation_id):
        """Catch up from the database: messages of the conversation may have been missed."""
        with self._lock:
            follow = self.follows.get(conversation_id)
            if follow is None:
                return
            follow.hold_count += 1
        self._enqueue(("catch_up", conversation_id))

    def abort(self, code=None, reason=None):
        """Close the socket at once. Without a code, the TCP connection is shut down, which also
        unblocks a send stuck on a peer that stopped reading."""
        self._dead = True
        if code is not None:
            try:
                with self._send_lock:
                    self.ws.close(code, reason)
                return
            except Exception as error:  # already closed, or the peer is gone
                log.debug("Closing socket of %s with %s failed: %s", self.viewer.account_id, code, error)
        try:
            self.ws.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def recheck(self):
        """Hold every follow's live payloads until the writer thread has re-checked access."""
        with self._lock:
            held = list(self.follows.items())
            for _conversation_id, follow in held:
                follow.hold_count += 1
        self._enqueue(("recheck", held))

    def flush(self, timeout):
        """Wait up to `timeout` s for the frames queued so far to be sent."""
        done = threading.Event()
        self._enqueue(("flush", done))
        done.wait(timeout)

    def stop(self):
        self._dead = True
        self._enqueue(("stop", None))

    # Under self._lock.

    def _put(self, frame):
        if self._dead:
            return
        stuck_secs = time.monotonic() - self._sending_since if self._sending_since else 0
        if len(self._queue) >= SEND_QUEUE_MAX or stuck_secs > SEND_TIMEOUT_SECS:
            log.warning("Socket of %s dropped: %d frames queued, current send blocked for %.1f s",
                        self.viewer.account_id, len(self._queue), stuck_secs)
            self.abort()
            return
        self._enqueue(("send", frame))

    def _admit(self, conversation_id, follow, payload, visible):
        if follow.hold_count:
            follow.held_payloads.append((payload, visible))
            return
        seq = payload.get("seq") if payload.get("type") == "message" else None
        if seq is None:
            own = payload.get("type") == "typing" and payload.get("account_id") == self.viewer.account_id
            if visible and not own:
                self._put(payload)
            return
        if seq <= follow.last_seq:
            # Only a new version of a message already sent goes out twice.
            if visible and (payload.get("edited_at") or payload.get("deleted")):
                self._put(payload)
            return
        if seq > follow.last_seq + 1 and follow.fruitless < MAX_FRUITLESS_CATCH_UPS:
            follow.hold_count += 1
            follow.held_payloads.append((payload, visible))
            self._enqueue(("catch_up", conversation_id))
            return
        follow.last_seq = seq
        follow.fruitless = 0
        if visible:
            self._put(payload)

    def _release(self, conversation_id, follow):
        follow.hold_count -= 1
        if follow.hold_count:
            return
        held, follow.held_payloads = follow.held_payloads, []
        for payload, visible in held:
            self._admit(conversation_id, follow, payload, visible)

    # The writer thread.

    def _enqueue(self, item):
        """Queue `item` and start the writer unless it runs."""
        with self._queue_lock:
            self._queue.append(item)
            if self._writer_running:
                return
            self._writer_running = True
        threading.Thread(target=self._write_loop, name="ws-writer", daemon=True).start()

    def _next(self):
        """Take the oldest queued item, or end the writer's turn when none is left."""
        with self._queue_lock:
            if self._queue:
                return self._queue.popleft()
            self._writer_running = False
            return None

    def _write_loop(self):
        while True:
            item = self._next()
            if item is None:
                return
            kind, value = item
            if kind == "stop":
                with self._queue_lock:
                    self._queue.clear()
                    self._writer_running = False
                return
            if kind == "flush":
                value.set()
                continue
            try:
                if kind == "send":
                    self._send_now(value)
                elif kind == "recheck":
                    self._recheck(value)
                else:
                    self._catch_up(value)
            except Exception as error:
                if kind == "send":
                    log.info("Socket of %s dropped: send failed (%s)", self.viewer.account_id,
                             type(error).__name__)
                else:
                    log.exception("Catch-up of conversation %s for %s failed, so the socket is closed "
                                  "and the client reconnects", value, self.viewer.account_id)
                self.abort()
                with self._queue_lock:
                    self._queue.clear()
                    self._writer_running = False
                self.hub.disconnect(self)
                return

    def _send_now(self, frame):
        if self._dead:
            return
        text = json.dumps(frame, ensure_ascii=False, separators=(",", ":"))
        with self._send_lock:
            self._sending_since = time.monotonic()
            try:
                self.ws.send(text)
            finally:
                self._sending_since = None

    def _recheck(self, held):
        for conversation_id, follow in held:
            rejection = self.hub.rejection_frame(self.viewer, conversation_id)
            with self._lock:
                current = self.follows.get(conversation_id) is follow
                if current and rejection is None:
                    self._release(conversation_id, follow)
            if current and rejection is not None:
                # Ending the follow drops the payloads held since the notice: none reaches the socket.
                self.hub.unfollow(self, conversation_id)
                log.info("Live delivery of conversation %s to %s stopped: %s", conversation_id,
                         self.viewer.account_id, rejection["code"])
                self._send_now(rejection)

    def _catch_up(self, conversation_id):
        with self._lock:
            follow = self.follows.get(conversation_id)
            if follow is None:
                return
            after_seq = follow.last_seq
        while True:
            payloads, read_up_to, complete = self.hub.read_missed(self.viewer, conversation_id, after_seq)
            for payload in payloads:
                self._send_now(payload)
            after_seq = max(after_seq, read_up_to)
            if complete:
                break
        with self._lock:
            follow.fruitless = 0 if after_seq > follow.last_seq else follow.fruitless + 1
            follow.last_seq = max(follow.last_seq, after_seq)
            self._release(conversation_id, follow)


# Payloads that end a long-poll's wait: messages, and the SLA frames that the poll route reads again.
WAKING_TYPES = ("message", "sla", "sla_customer")


class Waiter:
    """One long-poll request waiting for news of one conversation."""

    def __init__(self, viewer):
        self.viewer = viewer
        self.event = threading.Event()

    def offer(self, payload, visible):
        if visible and payload.get("type") in WAKING_TYPES:
            self.event.set()

    def gap(self, _conversation_id):
        self.event.set()


class Hub:
    """Registry of this process's sockets and long-poll waiters, by conversation channel."""

    def __init__(self, app, pubsub):
        self.app = app
        self.pubsub = pubsub
        self.hub_id = uuid.uuid4().hex[:12]
        self._lock = threading.Lock()  # guards the dicts below and is never held across I/O
        self._subscribe_lock = threading.Lock()  # serialises pub/sub subscribe and unsubscribe
        self._connections = set()
        self._members = {}  # channel -> set of Connection or Waiter
        self._subscriptions = {}  # channel -> pubsub Subscription
        self._targets = {}  # channel -> (installation_id, conversation_id)
        self._presence = {}  # channel -> {hub_id: customer sockets of that hub}
        self._access_subscription = None
        self._closed = False

    # Sockets.

    def connection_count(self):
        with self._lock:
            return len(self._connections)

    def waiter_count(self):
        with self._lock:
            return sum(isinstance(member, Waiter) for members in self._members.values() for member in members)

    def connect(self, ws, viewer):
        """Register an authenticated websocket; its writer thread starts with its first frame to send."""
        connection = Connection(self, ws, viewer)
        with self._lock:
            self._connections.add(connection)
        return connection

    def disconnect(self, connection):
        """Unregister a socket, whether it closed cleanly, failed or was dropped. Idempotent.

        Return the ids of the conversations it followed that no customer socket of this hub
        follows any more (always empty for an agent's socket).
        """
        with self._lock:
            if connection not in self._connections:
                return []
            self._connections.discard(connection)
        followed = list(connection.follows)
        for conversation_id in followed:
            self.unfollow(connection, conversation_id)
        connection.stop()
        log.debug("Socket of %s unregistered", connection.viewer.account_id)
        if connection.viewer.is_agent:
            return []
        installation_id = connection.viewer.installation_id
        return [conversation_id for conversation_id in followed
                if not self._customer_sockets(fanout.channel_of(installation_id, conversation_id))]

    def follow(self, connection, conversation, after_seq):
        """Send the conversation's visible messages after `after_seq` to `connection`, then live ones.

        Live delivery starts before the history is read, and live payloads that the history
        already covered are dropped, so there is no gap and no duplicate. Following a
        conversation twice on one socket changes nothing.
        """
        if not connection.begin_follow(conversation.id, conversation.installation_id, after_seq):
            return
        try:
            self._join(connection, conversation.installation_id, conversation.id)
        finally:
            # The history is read only once the channel is subscribed (with Redis, once Redis
            # confirmed it). A message committed before that point is in the history, and one
            # committed after it is pushed. Read earlier, a message committed in between was
            # in neither and stayed missing until a later message revealed the gap.
            connection.start_catch_up(conversation.id)
        with self._lock:
            registered = connection in self._connections
        if not registered:
            # `disconnect` ran meanwhile (its writer thread failed) and may have listed the
            # follows before this one began, so this follow would keep the channel forever.
            self.unfollow(connection, conversation.id)
            return
        if connection.viewer.is_agent:
            self._publish(conversation.installation_id, conversation.id,
                          {"type": PRESENCE_QUERY, "conversation_id": conversation.id, "visibility": INTERNAL})
        else:
            self._announce_presence(conversation.installation_id, conversation.id)

    def unfollow(self, connection, conversation_id):
        follow = connection.end_follow(conversation_id)
        if follow is None:
            return
        self._leave(connection, follow.installation_id, conversation_id)
        if not connection.viewer.is_agent:
            self._announce_presence(follow.installation_id, conversation_id)

    # Long-poll waiters.

    def wait(self, viewer, conversation, check, timeout):
        """Return `check()` when truthy, else wait up to `timeout` s for news and return `check()`.

        The waiter is registered before the first check, so nothing published in between is missed.
        """
        waiter = Waiter(viewer)
        self._join(waiter, conversation.installation_id, conversation.id)
        try:
            found = check()
            if found:
                return found
            waiter.event.wait(timeout)
            return check()
        finally:
            self._leave(waiter, conversation.installation_id, conversation.id)

    # Channel membership.

    def _join(self, member, installation_id, conversation_id):
        channel = fanout.channel_of(installation_id, conversation_id)
        with self._subscribe_lock:
            with self._lock:
                self._members.setdefault(channel, set()).add(member)
                self._targets[channel] = (installation_id, conversation_id)
                if channel in self._subscriptions:
                    return
            subscription = self.pubsub.subscribe(
                channel, partial(self._on_message, channel), on_gap=partial(self._on_gap, channel)
            )
            with self._lock:
                self._subscriptions[channel] = subscription

    def _leave(self, member, installation_id, conversation_id):
        channel = fanout.channel_of(installation_id, conversation_id)
        with self._subscribe_lock:
            with self._lock:
                members = self._members.get(channel, set())
                members.discard(member)
                if members:
                    return
                self._members.pop(channel, None)
                self._targets.pop(channel, None)
                self._presence.pop(channel, None)
                subscription = self._subscriptions.pop(channel, None)
            if subscription is not None:
                subscription.close()

    def _members_of(self, channel):
        with self._lock:
            return list(self._members.get(channel, ()))

    # Pub/sub callbacks, on the delivery thread: they only queue work and return.

    def _on_message(self, channel, payload):
        kind = payload.get("type")
        if kind == PRESENCE_QUERY:
            self._answer_presence_query(channel)
            return
        if kind == PRESENCE:
            payload = self._presence_frame(channel, payload)
        for member in self._members_of(channel):
            member.offer(payload, fanout.may_receive(member.viewer, payload))

    def _on_gap(self, channel):
        with self._lock:
            target = self._targets.get(channel)
        if target is None:
            return
        log.info("Messages of conversation %s may have been missed, so its followers catch up "
                 "from the database", target[1])
        for member in self._members_of(channel):
            member.gap(target[1])

    # Presence: whether a customer of the conversation has a socket open, shown to agents.
    # Each hub publishes how many customer sockets it has, and agents' hubs add the counts up.

    def _customer_sockets(self, channel):
        return sum(1 for member in self._members_of(channel)
                   if isinstance(member, Connection) and not member.viewer.is_agent)

    def _announce_presence(self, installation_id, conversation_id):
        channel = fanout.channel_of(installation_id, conversation_id)
        customers = self._customer_sockets(channel)
        self._publish(installation_id, conversation_id, {
            "type": PRESENCE, "conversation_id": conversation_id, "hub": self.hub_id,
            "customers": customers, "visibility": INTERNAL,
        })

    def _answer_presence_query(self, channel):
        with self._lock:
            target = self._targets.get(channel)
        if target is not None:
            self._announce_presence(*target)

    def _presence_frame(self, channel, payload):
        with self._lock:
            counts = self._presence.setdefault(channel, {})
            counts[payload.get("hub")] = int(payload.get("customers") or 0)
            connected = any(counts.values())
        # NOTE: a process that dies without closing its hub leaves its count here until this
        # process has no follower of the conversation left.
        return {"type": PRESENCE, "conversation_id": payload.get("conversation_id"),
                "customer_connected": connected, "visibility": INTERNAL}

    def _publish(self, installation_id, conversation_id, payload):
        with self.app.app_context():
            fanout.publish(installation_id, conversation_id, payload)

    # Access changes.

    def watch_access(self):
        """Hear the access changes that `addon.chat.access.notify_access_changed` publishes."""
        self._access_subscription = self.pubsub.subscribe(ACCESS_CHANNEL, self._on_access_changed)

    def _on_access_changed(self, notice):
        installation_id = notice.get("installation_id")
        account_ids = notice.get("account_ids")

        def concerned(viewer):
            return (not viewer.is_agent and viewer.installation_id == installation_id
                    and (not account_ids or viewer.account_id in account_ids))

        with self._lock:
            connections = [c for c in self._connections if concerned(c.viewer)]
            waiters = [member for members in self._members.values() for member in members
                       if isinstance(member, Waiter) and concerned(member.viewer)]
        log.info("Access changed on installation %s: re-checking %d sockets and %d long-polls",
                 installation_id, len(connections), len(waiters))
        for connection in connections:
            connection.recheck()
        for waiter in waiters:
            waiter.event.set()

    def rejection_frame(self, viewer, conversation_id):
        """Return the error frame that ends `viewer`'s live delivery of a conversation, or None."""
        with self.app.app_context():
            try:
                require_writer(viewer, access_conversation(viewer, conversation_id))
                return None
            except (NotFound, PermissionDenied) as error:
                return {"type": "error", "code": error.code, "message": error.message,
                        "status": 4404 if isinstance(error, NotFound) else error.status,
                        "conversation_id": conversation_id}
            finally:
                database().remove_session()

    # Signals that are not messages.

    def typing(self, viewer, conversation, visibility=None):
        payload = fanout.typing_payload(viewer, conversation, visibility)
        self._publish(conversation.installation_id, conversation.id, payload)

    def mark_read(self, viewer, conversation, seq):
        """Store that `viewer` read `conversation` up to `seq` (never backwards), then announce it."""
        seq = max(0, min(seq, conversation.last_seq))
        with database().transaction() as session:
            mark = session.execute(select(ReadMark).where(
                ReadMark.conversation_id == conversation.id, ReadMark.account_id == viewer.account_id,
            )).scalar_one_or_none()
            if mark is None:
                mark = ReadMark(conversation_id=conversation.id, account_id=viewer.account_id, last_read_seq=0)
                session.add(mark)
            if seq <= mark.last_read_seq:
                return mark.last_read_seq
            mark.last_read_seq = seq
        self._publish(conversation.installation_id, conversation.id, {
            "type": "read", "conversation_id": conversation.id, "account_id": viewer.account_id, "seq": seq,
        })
        return seq

    def read_missed(self, viewer, conversation_id, after_seq):
        """Read from the database what `viewer` may receive after `after_seq` (writer thread).

        Return (payloads, seq read up to, complete). The conversation's last_seq is read before
        the messages, so every seq up to it was committed and is either returned or hidden from
        this viewer.
        """
        with self.app.app_context():
            conversation = database().session.get(Conversation, conversation_id)
            if conversation is None:
                return [], after_seq, True
            last_seq = conversation.last_seq
            rows = history(conversation_id, viewer, after_seq=after_seq, limit=CATCH_UP_BATCH)
            payloads = [fanout.message_payload(conversation, row) for row in rows]
        complete = len(rows) < CATCH_UP_BATCH
        read_up_to = rows[-1].seq if rows else after_seq
        if complete:
            read_up_to = max(read_up_to, last_seq)
        return [p for p in payloads if fanout.may_receive(viewer, p)], read_up_to, complete

    def close(self):
        """Close every socket (1001, going away) and every channel subscription. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            connections = list(self._connections)
        if self._access_subscription is not None:
            self._access_subscription.close()
        for connection in connections:
            connection.abort(code=1001, reason="Server shutting down")
            self.disconnect(connection)
        with self._lock:
            subscriptions = list(self._subscriptions.values())
            self._subscriptions.clear()
            self._members.clear()
        for subscription in subscriptions:
            subscription.close()


def init_app(app):
    """Create the process's hub as `app.extensions["hub"]`, on the app's pub/sub layer.

    The pub/sub layer starts threads, so call this in each worker process after the fork.
    """
    app.config.setdefault("LONG_POLL_SECS", LONG_POLL_SECS)
    pubsub = app.extensions.get("pubsub")
    if pubsub is None:
        pubsub = create_pubsub(app.config.get("REDIS_URL"), app.config.get("REDIS_CHANNEL_PREFIX"))
        app.extensions["pubsub"] = pubsub
    hub = Hub(app, pubsub)
    hub.watch_access()
    app.extensions["hub"] = hub
    return hub
