"""Publish/subscribe for live pushes: one interface, an in-process and a Redis implementation.

Chat actions publish after the database commit. The websocket hub subscribes once per channel
(one conversation) and fans each message out to its sockets.

Contract shared by both implementations:

- `publish(channel, message)` JSON-encodes `message` on the caller's thread, so a message that
  is not JSON-serialisable raises there. It never runs subscriber code on the caller's stack.
- Callbacks run on the layer's single delivery thread, in publication order per channel. Each
  callback receives its own decoded dict. A callback must return quickly, for example by
  putting the message on a socket's send queue, because every other subscriber waits
  behind it. A callback that raises is logged and delivery goes on.
- After `Subscription.close()` returns, the callback is not called again, except for a call
  already running on the delivery thread.

Live pushes are best effort. The database is the record: every message is committed before it
is published, and clients catch up from the database by sequence number when they reconnect.
So a push may be lost when Redis is unreachable, but the loss is visible:

- `publish` raises `PubSubUnavailable` when the message could not be handed to Redis.
- `healthy` is False while the subscriber link to Redis is down.
- A subscription's `on_gap()` callback runs, on the delivery thread, once its channel is
  subscribed again after the link was down. Messages of that channel may have been missed, so
  the subscriber should catch up from the database. It can also run when nothing was missed.

The layer starts threads, so create it in each worker after gunicorn forks, not before.
Messages are never logged. Channel names and sizes are logged at DEBUG only.
"""

import json
import logging
import os
import threading

from .dispatch import Dispatcher

log = logging.getLogger(__name__)

# How long `close()` waits for each of the layer's threads to end.
CLOSE_TIMEOUT_SECS = 5.0


class PubSubUnavailable(RuntimeError):
    """The live push could not be sent, but the message is still in the database."""


class Subscription:
    """One callback subscribed to one channel. `close()` unsubscribes it."""

    def __init__(self, layer, channel, callback, on_gap):
        self.channel = channel
        self.callback = callback
        self.on_gap = on_gap
        self._layer = layer

    def close(self):
        """Stop delivery to this subscription. Closing twice is harmless."""
        self._layer._remove(self)

    def __repr__(self):
        return f"<Subscription channel={self.channel!r}>"


class PubSub:
    """The interface, with the registry of local subscriptions and the delivery thread."""

    def __init__(self):
        self._lock = threading.Lock()
        self._subscriptions = {}  # channel -> set of Subscription
        self._closed = False
        self._pid = os.getpid()
        self._dispatcher = Dispatcher(name=f"pubsub-delivery-{type(self).__name__}")

    @property
    def healthy(self):
        """True while published messages can reach subscribers."""
        return not self._closed

    def publish(self, channel, message):
        """Send `message` (a JSON-serialisable dict) to every subscriber of `channel`."""
        raise NotImplementedError

    def subscribe(self, channel, callback, on_gap=None):
        """Call `callback(message)` on the delivery thread for each message published on `channel`.

        The Redis implementation returns once Redis has confirmed the channel, waiting at most a
        few seconds, or at once while the link is down. `on_gap()`, when given, runs when
        messages of `channel` may have been missed, including after such an early return.
        """
        self._check_usable()
        _check_channel(channel)
        if not callable(callback):
            raise TypeError(f"callback for channel {channel!r} must be callable, got {callback!r}")
        if on_gap is not None and not callable(on_gap):
            raise TypeError(f"on_gap for channel {channel!r} must be callable, got {on_gap!r}")

        subscription = Subscription(self, channel, callback, on_gap)
        with self._lock:
            self._subscriptions.setdefault(channel, set()).add(subscription)
        log.debug("Subscribed to channel %s", channel)
        self._channel_added(channel)
        return subscription

    def close(self):
        """Stop the delivery thread and connections. Afterwards `publish` raises `PubSubUnavailable`."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._subscriptions.clear()
        self._stop()
        self._dispatcher.stop(CLOSE_TIMEOUT_SECS)

    # Hooks for the implementations.

    def _channel_added(self, channel):
        """Run after a subscription to `channel` is registered."""

    def _channel_removed(self, channel):
        """Run after the last subscription to `channel` is removed."""

    def _stop(self):
        """Release the implementation's threads and connections."""

    # Shared helpers.

    def _check_usable(self):
        if self._closed:
            raise PubSubUnavailable("The publish/subscribe layer is closed, so no live push was sent.")
        if os.getpid() != self._pid:
            raise RuntimeError(
                "This publish/subscribe layer was created in another process and its threads did "
                "not survive the fork. Create it in each worker after the fork."
            )

    def _encode(self, channel, message):
        """Return `message` as JSON text after checking `channel` and the layer's state."""
        self._check_usable()
        _check_channel(channel)
        if not isinstance(message, dict):
            raise TypeError(f"message on channel {channel!r} must be a dict, got {type(message).__name__}")
        try:
            text = json.dumps(message, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError) as error:
            raise type(error)(f"message on channel {channel!r} is not JSON-serialisable: {error}") from error
        log.debug("Publishing %d characters on channel %s", len(text), channel)
        return text

    def _remove(self, subscription):
        channel = subscription.channel
        with self._lock:
            subscriptions = self._subscriptions.get(channel)
            if not subscriptions or subscription not in subscriptions:
                return
            subscriptions.discard(subscription)
            last = not subscriptions
            if last:
                del self._subscriptions[channel]
        log.debug("Unsubscribed from channel %s", channel)
        if last:
            self._channel_removed(channel)

    def _subscribers(self, channel):
        with self._lock:
            return list(self._subscriptions.get(channel, ()))

    def _deliver(self, channel, text):
        """Call every subscriber of `channel` with its own copy of the message (delivery thread)."""
        for subscription in self._subscribers(channel):
            try:
                subscription.callback(json.loads(text))
            except Exception:  # a broken subscriber must not starve the others
                log.exception("Subscriber callback %r on channel %s raised, delivery continues",
                              subscription.callback, channel)

    def _deliver_gap(self, channel):
        """Tell the subscribers of `channel` that messages may have been missed (delivery thread)."""
        for subscription in self._subscribers(channel):
            if subscription.on_gap is None:
                continue
            try:
                subscription.on_gap()
            except Exception:  # same isolation as message callbacks
                log.exception("Gap callback %r on channel %s raised", subscription.on_gap, channel)


class InProcessPubSub(PubSub):
    """Publish/subscribe inside one process (the default, for a single worker)."""

    def publish(self, channel, message):
        text = self._encode(channel, message)
        self._dispatcher.submit(self._deliver, channel, text)


def _check_channel(channel):
    if not isinstance(channel, str) or not channel:
        raise ValueError(f"channel must be a non-empty string, got {channel!r}")


def create_pubsub(redis_url=None, channel_prefix=None):
    """Return the Redis implementation when `redis_url` is set, the in-process one otherwise.

    `channel_prefix` starts every Redis channel name (default "supportchat:"). Redis delivers a
    published message to the subscribers of every database, so deployments that share a Redis
    server need prefixes of their own, whatever database their URLs name.
    """
    if redis_url:
        from .redis_pubsub import DEFAULT_PREFIX, RedisPubSub  # imported here: it builds on this module

        return RedisPubSub(redis_url, prefix=channel_prefix or DEFAULT_PREFIX)
    log.info("Live pushes stay inside this process because REDIS_URL is not set")
    return InProcessPubSub()
