"""The publish/subscribe layer: the same behaviour in-process and through Redis, then what only
Redis does (other processes, lost connections, an outage of a Redis server started here).

Redis tests use database 15 of TEST_REDIS_URL (default redis://127.0.0.1:6379/15) and channel
prefixes of their own, and never flush anything.
"""

import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import uuid

import pytest
import redis

from addon.realtime import InProcessPubSub, PubSubUnavailable, create_pubsub
from addon.realtime.redis_pubsub import RedisPubSub, describe_url

from .support import ROOT_DIR, free_port, redis_reachable, require_service, wait_until

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
INSTALL_REDIS = (
    "install and start Redis (e.g. apt-get install redis-server), or set TEST_REDIS_URL "
    "to a redis:// URL whose database the tests may use"
)
REDIS_LOGGER = "addon.realtime.redis_pubsub"


@pytest.fixture(scope="module")
def redis_url():
    require_service(redis_reachable(TEST_REDIS_URL), f"Redis at {TEST_REDIS_URL}", INSTALL_REDIS)
    return TEST_REDIS_URL


@pytest.fixture
def redis_admin(redis_url):
    """A plain client for checks and for killing the layer's connections."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def prefix():
    return f"supportchat-test-{uuid.uuid4().hex[:10]}:"


@pytest.fixture
def make_redis(prefix):
    """Build RedisPubSub layers on one prefix, as several processes would, and close them after the test."""
    layers = []

    def make(url, **options):
        layer = RedisPubSub(url, prefix=prefix, **options)
        layers.append(layer)
        return layer

    yield make
    for layer in layers:
        layer.close()


@pytest.fixture(params=["in-process", "redis"])
def layer(request, make_redis):
    if request.param == "in-process":
        pubsub = InProcessPubSub()
        yield pubsub
        pubsub.close()
        return
    yield make_redis(request.getfixturevalue("redis_url"))


class Inbox:
    """A subscriber callback that records messages, the threads it ran on and gap notices."""

    def __init__(self):
        self.messages = []
        self.thread_ids = set()
        self.gaps = 0
        self._lock = threading.Lock()

    def __call__(self, message):
        with self._lock:
            self.messages.append(message)
            self.thread_ids.add(threading.get_ident())

    def on_gap(self):
        with self._lock:
            self.gaps += 1

    def wait_for(self, count, timeout=10.0):
        wait_until(lambda: len(self.messages) >= count, timeout=timeout, message=f"{count} messages")
        return self.messages


def _records(caplog, level, text):
    """Return the records of the Redis layer's logger at `level` that contain `text`."""
    return [record for record in caplog.records
            if record.name == REDIS_LOGGER and record.levelno == level and text in record.getMessage()]


def _redis_clients(admin, name_prefix):
    return [client for client in admin.client_list() if client["name"].startswith(name_prefix)]


# Behaviour shared by both implementations.


def test_delivery_several_subscribers(layer):
    inboxes = [Inbox() for _ in range(3)]
    for inbox in inboxes:
        layer.subscribe("conversation-1", inbox)

    layer.publish("conversation-1", {"text": "bonjour"})

    for inbox in inboxes:
        assert inbox.wait_for(1) == [{"text": "bonjour"}]


def test_delivery_order_1000(layer):
    first, second = Inbox(), Inbox()
    layer.subscribe("conversation-1", first)
    layer.subscribe("conversation-2", second)

    for sequence in range(1000):
        layer.publish("conversation-1", {"sequence": sequence})
        layer.publish("conversation-2", {"sequence": sequence})

    expected = [{"sequence": sequence} for sequence in range(1000)]
    assert first.wait_for(1000) == expected
    assert second.wait_for(1000) == expected


def test_delivery_channels_separate(layer):
    other, inbox = Inbox(), Inbox()
    layer.subscribe("conversation-2", other)
    layer.subscribe("conversation-1", inbox)

    layer.publish("conversation-1", {"to": 1})
    layer.publish("conversation-2", {"to": 2})

    assert inbox.wait_for(1) == [{"to": 1}]
    assert other.wait_for(1) == [{"to": 2}]


def test_unsubscribe_stops_delivery(layer):
    closed_inbox, open_inbox = Inbox(), Inbox()
    subscription = layer.subscribe("conversation-1", closed_inbox)
    layer.subscribe("conversation-1", open_inbox)
    layer.publish("conversation-1", {"sequence": 1})
    closed_inbox.wait_for(1)
    open_inbox.wait_for(1)

    subscription.close()
    subscription.close()
    layer.publish("conversation-1", {"sequence": 2})

    # Both callbacks sit on the same channel and delivery thread, so once `open_inbox` has
    # the second message, `closed_inbox` would have had it too.
    open_inbox.wait_for(2)
    assert closed_inbox.messages == [{"sequence": 1}]


def test_raising_callback_isolated(layer, caplog):
    def broken(message):
        raise RuntimeError("subscriber bug")

    inbox = Inbox()
    layer.subscribe("conversation-1", broken)
    layer.subscribe("conversation-1", inbox)

    with caplog.at_level(logging.DEBUG):
        layer.publish("conversation-1", {"text": "secret chat text"})
        layer.publish("conversation-1", {"text": "second"})
        inbox.wait_for(2)

    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 2
    assert "conversation-1" in errors[0].getMessage()
    assert errors[0].exc_info[0] is RuntimeError
    assert "secret chat text" not in caplog.text


def test_publish_off_caller_thread(layer):
    inbox = Inbox()
    layer.subscribe("conversation-1", inbox)

    layer.publish("conversation-1", {"text": "bonjour"})

    inbox.wait_for(1)
    assert threading.get_ident() not in inbox.thread_ids


def test_subscribers_get_own_copy(layer):
    def mutate(message):
        message["text"] = "changed"

    inbox = Inbox()
    layer.subscribe("conversation-1", mutate)
    layer.subscribe("conversation-1", inbox)
    published = {"text": "bonjour"}

    layer.publish("conversation-1", published)
    published["text"] = "changed by the publisher"

    assert inbox.wait_for(1) == [{"text": "bonjour"}]


@pytest.mark.parametrize("message, error", [
    ({"when": object()}, TypeError),
    ({"ratio": float("nan")}, ValueError),
    (["not", "a", "dict"], TypeError),
])
def test_publish_rejects_invalid_message(layer, message, error):
    with pytest.raises(error, match="conversation-1"):
        layer.publish("conversation-1", message)


@pytest.mark.parametrize("channel", ["", None, 12])
def test_publish_rejects_invalid_channel(layer, channel):
    with pytest.raises(ValueError, match="channel must be a non-empty string"):
        layer.publish(channel, {"text": "bonjour"})


def test_subscribe_rejects_non_callable(layer):
    with pytest.raises(TypeError, match="must be callable"):
        layer.subscribe("conversation-1", "not a function")


def test_closed_layer_rejects_publish(layer):
    layer.close()

    assert not layer.healthy
    with pytest.raises(PubSubUnavailable, match="closed"):
        layer.publish("conversation-1", {"text": "bonjour"})


def pubsub_threads():
    # Only the layers' own threads: other tests' background threads come and go meanwhile.
    return sum(1 for thread in threading.enumerate() if thread.name.startswith("pubsub-"))


def test_no_thread_per_subscription(layer):
    layer.subscribe("warm-up", Inbox())
    threads_before = pubsub_threads()

    inboxes = [Inbox() for _ in range(500)]
    for number, inbox in enumerate(inboxes):
        layer.subscribe(f"conversation-{number}", inbox)
    layer.publish("conversation-499", {"text": "bonjour"})

    assert inboxes[499].wait_for(1) == [{"text": "bonjour"}]
    assert pubsub_threads() == threads_before


def test_create_pubsub_picks_implementation(redis_url):
    in_process = create_pubsub(None)
    in_redis = create_pubsub(redis_url)
    try:
        assert type(in_process) is InProcessPubSub
        assert type(in_redis) is RedisPubSub
    finally:
        in_process.close()
        in_redis.close()


def test_create_pubsub_channel_prefix_isolates(redis_url, prefix):
    # Redis pub/sub ignores the database number, so only the prefix keeps two deployments apart.
    ours = create_pubsub(redis_url, channel_prefix=prefix)
    theirs = create_pubsub(redis_url.rsplit("/", 1)[0] + "/3", channel_prefix=prefix + "other:")
    try:
        inbox, other_inbox = Inbox(), Inbox()
        ours.subscribe("conversation-1", inbox)
        theirs.subscribe("conversation-1", other_inbox)

        theirs.publish("conversation-1", {"text": "autre déploiement"})
        ours.publish("conversation-1", {"text": "bonjour"})

        assert inbox.wait_for(1) == [{"text": "bonjour"}]
        assert other_inbox.wait_for(1) == [{"text": "autre déploiement"}]
    finally:
        ours.close()
        theirs.close()


# Redis only.


def test_redis_instances_exchange(redis_url, make_redis):
    first, second = make_redis(redis_url), make_redis(redis_url)
    first_inbox, second_inbox = Inbox(), Inbox()
    first.subscribe("conversation-1", first_inbox)
    second.subscribe("conversation-1", second_inbox)

    first.publish("conversation-1", {"from": "first"})
    second.publish("conversation-1", {"from": "second"})

    assert len(first_inbox.wait_for(2)) == 2
    assert len(second_inbox.wait_for(2)) == 2
    assert {"from": "second"} in first_inbox.messages
    assert {"from": "first"} in second_inbox.messages


def test_redis_own_message_once(redis_url, make_redis):
    layer = make_redis(redis_url)
    inbox = Inbox()
    layer.subscribe("conversation-1", inbox)

    layer.publish("conversation-1", {"sequence": 1})
    layer.publish("conversation-1", {"sequence": 2})

    # A second copy of message 1 would arrive before message 2, which is on the same channel.
    wait_until(lambda: {"sequence": 2} in inbox.messages, message="message 2")
    assert inbox.messages == [{"sequence": 1}, {"sequence": 2}]


def test_redis_cross_process(redis_url, make_redis, prefix):
    layer = make_redis(redis_url)
    inbox = Inbox()
    layer.subscribe("conversation-1", inbox)
    script = textwrap.dedent(f"""
        from addon.realtime.redis_pubsub import RedisPubSub
        layer = RedisPubSub({redis_url!r}, prefix={prefix!r})
        layer.publish("conversation-1", {{"from": "subprocess"}})
        layer.close()
    """)

    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT_DIR, capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert inbox.wait_for(1) == [{"from": "subprocess"}]


def test_redis_channel_reference_counted(redis_url, make_redis, redis_admin, prefix):
    layer = make_redis(redis_url)
    first = layer.subscribe("conversation-1", Inbox())
    second = layer.subscribe("conversation-1", Inbox())

    def subscribers():
        return redis_admin.pubsub_numsub(prefix + "conversation-1")[0][1]

    assert subscribers() == 1
    first.close()
    layer.publish("conversation-1", {"text": "still subscribed"})
    assert subscribers() == 1
    second.close()
    wait_until(lambda: subscribers() == 0, message="the Redis channel to be unsubscribed")


def test_redis_resubscribe_after_last_closed(redis_url, make_redis):
    layer = make_redis(redis_url)
    layer.subscribe("conversation-1", Inbox()).close()
    inbox = Inbox()

    layer.subscribe("conversation-1", inbox)
    layer.publish("conversation-1", {"text": "bonjour"})

    assert inbox.wait_for(1) == [{"text": "bonjour"}]


def test_redis_subscription_churn(redis_url, make_redis):
    layer = make_redis(redis_url)

    def churn(worker):
        for round_number in range(25):
            layer.subscribe(f"conversation-{(worker + round_number) % 5}", Inbox()).close()

    workers = [threading.Thread(target=churn, args=(worker,)) for worker in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    inboxes = [Inbox() for _ in range(5)]
    for number, inbox in enumerate(inboxes):
        layer.subscribe(f"conversation-{number}", inbox)
        layer.publish(f"conversation-{number}", {"number": number})

    for number, inbox in enumerate(inboxes):
        assert inbox.wait_for(1) == [{"number": number}]


def test_redis_rejects_invalid_url():
    with pytest.raises(ValueError, match="REDIS_URL is not a valid Redis URL"):
        RedisPubSub("http://127.0.0.1:6379/15")


def test_redis_url_description_hides_password():
    assert describe_url("redis://user:secret@127.0.0.1:6380/15") == "127.0.0.1:6380/15"


def test_redis_two_connections(redis_url, make_redis, redis_admin, prefix):
    layer = make_redis(redis_url)
    for number in range(500):
        layer.subscribe(f"conversation-{number}", Inbox())
    layer.publish("conversation-0", {"text": "bonjour"})

    names = sorted(client["name"] for client in _redis_clients(redis_admin, prefix))

    assert names == sorted([layer.publisher_name, layer.subscriber_name])


def test_redis_recovers_after_kill(redis_url, make_redis, redis_admin, caplog):
    layer = make_redis(redis_url)
    inbox = Inbox()
    layer.subscribe("conversation-1", inbox, on_gap=inbox.on_gap)
    [subscriber] = _redis_clients(redis_admin, layer.subscriber_name)

    with caplog.at_level(logging.INFO, logger=REDIS_LOGGER):
        redis_admin.client_kill_filter(_id=subscriber["id"])
        wait_until(lambda: inbox.gaps == 1, message="on_gap after the reconnection")
        layer.publish("conversation-1", {"text": "after the kill"})
        inbox.wait_for(1)

    assert inbox.messages == [{"text": "after the kill"}]
    assert layer.healthy
    assert len(_records(caplog, logging.WARNING, "is down")) == 1
    assert len(_records(caplog, logging.INFO, "is back")) == 1


def test_redis_unreachable_publish_raises():
    layer = RedisPubSub(f"redis://127.0.0.1:{free_port()}/15")
    try:
        with pytest.raises(PubSubUnavailable, match="database"):
            layer.publish("conversation-1", {"text": "bonjour"})
        assert not layer.healthy
    finally:
        layer.close()


class RedisServer:
    """A throw-away redis-server on a free loopback port, so that the test may stop it."""

    def __init__(self, directory):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/15"
        self.directory = directory
        self.process = None

    def start(self):
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                   "--save", "", "--appendonly", "no", "--dir", str(self.directory)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: redis_reachable(self.url), message=f"redis-server on port {self.port}")

    def pause(self):
        """Freeze the server: connections stay open but get no reply."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self):
        self.process.send_signal(signal.SIGCONT)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.resume()
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def redis_server(tmp_path):
    require_service(shutil.which("redis-server"), "redis-server", INSTALL_REDIS)
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def test_redis_outage_logged_once(redis_server, make_redis, caplog):
    layer = make_redis(redis_server.url)
    inbox = Inbox()
    layer.subscribe("conversation-1", inbox, on_gap=inbox.on_gap)

    with caplog.at_level(logging.DEBUG, logger=REDIS_LOGGER):
        redis_server.stop()
        wait_until(lambda: len(_records(caplog, logging.DEBUG, "reconnect attempt")) >= 3,
                   message="three failed reconnect attempts")
        assert not layer.healthy
        with pytest.raises(PubSubUnavailable):
            layer.publish("conversation-1", {"text": "lost"})

        redis_server.start()
        wait_until(lambda: inbox.gaps == 1, message="on_gap after the outage")
        layer.publish("conversation-1", {"text": "after the outage"})
        inbox.wait_for(1)

    assert inbox.messages == [{"text": "after the outage"}]
    assert len(_records(caplog, logging.WARNING, "is down")) == 1
    assert len(_records(caplog, logging.INFO, "is back")) == 1


def test_redis_silent_server_detected(redis_server, make_redis, caplog):
    layer = make_redis(redis_server.url, health_check_secs=0.3)
    inbox = Inbox()
    layer.subscribe("conversation-1", inbox, on_gap=inbox.on_gap)

    with caplog.at_level(logging.INFO, logger=REDIS_LOGGER):
        redis_server.pause()
        wait_until(lambda: not layer.healthy, message="the silent link to be marked down")
        redis_server.resume()
        wait_until(lambda: inbox.gaps == 1, message="on_gap after the server answers again")
        layer.publish("conversation-1", {"text": "after the freeze"})
        inbox.wait_for(1)

    assert inbox.messages == [{"text": "after the freeze"}]
    assert len(_records(caplog, logging.WARNING, "no reply from Redis")) == 1


GEVENT_SCRIPT = """
from gevent import monkey
monkey.patch_all()

import threading
from addon.realtime import InProcessPubSub
from addon.realtime.redis_pubsub import RedisPubSub

for layer in (InProcessPubSub(), RedisPubSub({url!r}, prefix={prefix!r})):
    received = threading.Event()
    layer.subscribe("conversation-1", lambda message: received.set())
    layer.publish("conversation-1", {{"text": "bonjour"}})
    assert received.wait(10), type(layer).__name__ + " delivered nothing under gevent"
    layer.close()
print("delivered")
"""


def test_gevent_delivery(redis_url, prefix):
    script = GEVENT_SCRIPT.format(url=redis_url, prefix=prefix)

    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT_DIR, capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "delivered"
