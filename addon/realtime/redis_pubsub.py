"""Publish/subscribe through Redis, for several workers or instances.

Each layer uses two connections whatever the number of subscriptions: one for PUBLISH and one
subscriber connection owned by a listener thread. A Redis channel is subscribed while at least
one local subscription to it exists. Only the listener thread touches the subscriber
connection, so `subscribe` and `close` mark the registry as changed and wake the listener by
publishing on a private wake channel. The listener then reconciles the Redis subscriptions with
the registry. A message published here reaches local subscribers through Redis only, so once.
"""

import logging
import random
import threading
import time
import uuid
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from .pubsub import CLOSE_TIMEOUT_SECS, PubSub, PubSubUnavailable

log = logging.getLogger(__name__)

# Channel names get this prefix so they never collide with other users of the database.
DEFAULT_PREFIX = "supportchat:"
# Publishing must stay quick for the caller: with Redis unreachable, a publish fails after at
# most the pool wait, the connect and one command timeout. The listener uses the same bounds.
COMMAND_TIMEOUT_SECS = 2.0
CONNECT_TIMEOUT_SECS = 2.0
# The listener wakes at least this often to reconcile subscriptions and notice close().
LISTEN_POLL_SECS = 1.0
# After this many seconds without a reply on the subscriber connection the listener sends a
# PING, and after twice as many it reconnects. This catches a Redis that vanished without
# closing the connection, which TCP alone reports only after minutes.
HEALTH_CHECK_SECS = 30.0
# `subscribe` waits up to this long for Redis to confirm a new channel.
SUBSCRIBE_TIMEOUT_SECS = 5.0
RECONNECT_MIN_SECS = 0.1
RECONNECT_MAX_SECS = 10.0

LINK_ERRORS = (RedisError, OSError)


def describe_url(url):
    """Return host:port/db of a Redis URL, without its credentials, for logs and errors."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 6379}{parts.path or '/0'}"


class RedisPubSub(PubSub):
    """Publish/subscribe through the Redis server at `url` (a redis:// or rediss:// URL)."""

    def __init__(self, url, prefix=DEFAULT_PREFIX, health_check_secs=HEALTH_CHECK_SECS):
        super().__init__()
        self.prefix = prefix
        self.health_check_secs = health_check_secs
        self.where = describe_url(url)
        instance = uuid.uuid4().hex[:12]
        # Names shown by CLIENT LIST, so an operator can tell whose connections these are.
        self.publisher_name = f"{prefix}pub:{instance}"
        self.subscriber_name = f"{prefix}sub:{instance}"
        self._wake_channel = f"{prefix}wake:{instance}"

        try:
            pool = redis.BlockingConnectionPool.from_url(
                url, max_connections=1, timeout=COMMAND_TIMEOUT_SECS, client_name=self.publisher_name,
                socket_timeout=COMMAND_TIMEOUT_SECS, socket_connect_timeout=CONNECT_TIMEOUT_SECS,
                retry=Retry(NoBackoff(), 1),  # one immediate reconnect when the idle connection was dropped
            )
            self._publisher = redis.Redis(connection_pool=pool)
            self._subscriber = redis.Redis.from_url(
                url, decode_responses=True, client_name=self.subscriber_name,
                socket_timeout=COMMAND_TIMEOUT_SECS, socket_connect_timeout=CONNECT_TIMEOUT_SECS,
                socket_keepalive=True,
                retry=Retry(NoBackoff(), 0),  # the listener reconnects itself, with backoff and logs
            )
        except ValueError as error:
            self._dispatcher.stop(CLOSE_TIMEOUT_SECS)
            raise ValueError(
                f"REDIS_URL is not a valid Redis URL ({error}). Use the form redis://host:port/db"
            ) from error

        # Link state, shared with the listener under `_link`.
        self._link = threading.Condition()
        self._state = "connecting"  # then "up" or "down"
        self._confirmed = set()  # channels Redis confirmed on the current connection
        self._gap_channels = set()  # channels whose subscribers get on_gap() once confirmed again
        self._dirty = False  # the registry changed since the last reconciliation
        # Listener-only state about the current connection: the channels SUBSCRIBE was sent
        # for, and per channel the number of (UN)SUBSCRIBE replies still to come.
        self._redis_channels = set()
        self._pending = {}

        self._stopping = threading.Event()
        self._listener = threading.Thread(target=self._listen_forever, name="pubsub-redis-listener", daemon=True)
        self._listener.start()

    @property
    def healthy(self):
        """True while the subscriber connection to Redis is up."""
        return not self._closed and self._state == "up"

    def publish(self, channel, message):
        text = self._encode(channel, message)
        try:
            self._publisher.publish(self.prefix + channel, text)
        except LINK_ERRORS as error:
            raise PubSubUnavailable(
                f"Redis at {self.where} did not accept the live push on channel {channel!r} "
                f"({type(error).__name__}). The message is in the database and clients catch up on reconnect."
            ) from error

    def _channel_added(self, channel):
        with self._lock:
            self._dirty = True
        with self._link:
            if channel in self._confirmed:
                return
        self._wake()
        with self._link:
            answered = self._link.wait_for(
                lambda: channel in self._confirmed or self._state == "down" or self._stopping.is_set(),
                timeout=SUBSCRIBE_TIMEOUT_SECS,
            )
            if channel in self._confirmed:
                return
            # Checked and recorded under the same lock as confirmations, so none slips between.
            self._gap_channels.add(channel)
        if answered:
            log.debug("Channel %s will be subscribed when the link to Redis is back", channel)
        else:
            log.warning("Redis at %s did not confirm channel %s within %s s, so the listener keeps trying",
                        self.where, channel, SUBSCRIBE_TIMEOUT_SECS)

    def _channel_removed(self, channel):
        with self._lock:
            self._dirty = True
        self._wake()

    def _wake(self):
        """Make the listener reconcile now rather than at its next poll."""
        if self._state == "down":
            return  # it reconciles when it reconnects
        try:
            self._publisher.publish(self._wake_channel, "")
        except LINK_ERRORS as error:
            log.debug("Wake-up of the Redis listener failed (%s), so it reconciles at its next poll "
                      "within %s s", error, LISTEN_POLL_SECS)

    def _stop(self):
        self._stopping.set()
        self._wake()
        with self._link:
            self._link.notify_all()
        self._listener.join(CLOSE_TIMEOUT_SECS)
        if self._listener.is_alive():
            log.warning("Redis listener thread did not stop within %s s", CLOSE_TIMEOUT_SECS)
        self._publisher.close()
        self._publisher.connection_pool.disconnect()
        self._subscriber.close()

    # The listener thread.

    def _listen_forever(self):
        attempts = 0
        outage_started = None
        while not self._stopping.is_set():
            pubsub = self._subscriber.pubsub()
            try:
                self._connect(pubsub)
                self._listen(pubsub, outage_started)
            except Exception as error:  # the listener must outlive any failure, or pushes stop for good
                if not isinstance(error, LINK_ERRORS):
                    log.exception("Redis listener failed unexpectedly, so it reconnects")
                if self._mark_down():
                    attempts = 1
                    outage_started = time.monotonic()
                    log.warning("Redis link to %s is down (%s: %s). Live pushes are lost until it is back. "
                                "Reconnecting with backoff", self.where, type(error).__name__, error)
                else:
                    attempts += 1
                    log.debug("Redis reconnect attempt %d to %s failed: %s", attempts, self.where, error)
                self._stopping.wait(_backoff_secs(attempts))
            finally:
                pubsub.close()
        self._mark_down()

    def _connect(self, pubsub):
        with self._lock:
            self._dirty = False
            desired = set(self._subscriptions)
        self._redis_channels = desired
        self._pending = dict.fromkeys(desired, 1)
        # The wake channel goes first, so its confirmation means the connection works.
        pubsub.subscribe(self._wake_channel, *(self.prefix + channel for channel in desired))

    def _listen(self, pubsub, outage_started):
        up_logged = False
        last_heard = pinged = time.monotonic()
        while not self._stopping.is_set():
            self._reconcile(pubsub)
            message = pubsub.get_message(timeout=min(LISTEN_POLL_SECS, self.health_check_secs))
            now = time.monotonic()
            if message is None:
                silent_secs = now - last_heard
                if silent_secs >= 2 * self.health_check_secs:
                    raise redis.ConnectionError(f"no reply from Redis for {silent_secs:.1f} s")
                if silent_secs >= self.health_check_secs and pinged <= last_heard:
                    pubsub.ping()
                    pinged = now
                continue
            last_heard = now
            kind = message["type"]
            channel = message["channel"]
            if kind == "pong":
                continue
            if channel == self._wake_channel:
                if kind == "subscribe" and not up_logged:
                    up_logged = True
                    self._mark_up(outage_started)
                continue
            if not channel.startswith(self.prefix):
                continue
            channel = channel[len(self.prefix):]
            if kind == "message":
                log.debug("Received %d characters on channel %s", len(message["data"]), channel)
                self._dispatcher.submit(self._deliver, channel, message["data"])
            elif kind in ("subscribe", "unsubscribe"):
                self._acknowledge(channel)

    def _reconcile(self, pubsub):
        """Send SUBSCRIBE and UNSUBSCRIBE so that Redis matches the registry."""
        with self._lock:
            if not self._dirty:
                return
            self._dirty = False
            desired = set(self._subscriptions)
            added = desired - self._redis_channels
            removed = self._redis_channels - desired
            # Discarded while the registry is locked: a subscriber registering now either is
            # in `desired` or finds its channel unconfirmed and waits for the next SUBSCRIBE.
            with self._link:
                self._confirmed -= removed
        self._redis_channels = desired
        for channel in added | removed:
            self._pending[channel] = self._pending.get(channel, 0) + 1
        if added:
            pubsub.subscribe(*(self.prefix + channel for channel in added))
        if removed:
            pubsub.unsubscribe(*(self.prefix + channel for channel in removed))
        log.debug("Redis channels: %d subscribed, %d unsubscribed", len(added), len(removed))

    def _acknowledge(self, channel):
        """Count a SUBSCRIBE or UNSUBSCRIBE reply. A channel is live once all its replies are in."""
        remaining = self._pending.pop(channel, 0) - 1
        if remaining > 0:
            self._pending[channel] = remaining
            return
        if channel not in self._redis_channels:
            return
        with self._link:
            self._confirmed.add(channel)
            gap = channel in self._gap_channels
            self._gap_channels.discard(channel)
            self._link.notify_all()
        if gap:
            self._dispatcher.submit(self._deliver_gap, channel)

    def _mark_up(self, outage_started):
        with self._link:
            self._state = "up"
            self._link.notify_all()
        if outage_started is None:
            log.info("Redis link to %s is up", self.where)
        else:
            log.info("Redis link to %s is back after %.1f s", self.where, time.monotonic() - outage_started)

    def _mark_down(self):
        """Record that the link is down and return True when it was up or connecting before."""
        with self._lock:
            desired = set(self._subscriptions)
        with self._link:
            was_down = self._state == "down"
            self._state = "down"
            # Every channel is subscribed again on the next connection, and its subscribers
            # then learn that they may have missed messages.
            self._gap_channels |= desired
            self._confirmed.clear()
            self._link.notify_all()
        return not was_down


def _backoff_secs(attempts):
    """Return the seconds to wait after failed attempt `attempts`: capped exponential backoff with jitter."""
    ceiling = min(RECONNECT_MAX_SECS, RECONNECT_MIN_SECS * 2 ** min(attempts, 16))
    return random.uniform(ceiling / 2, ceiling)
