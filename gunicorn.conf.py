"""Gunicorn settings for the add-on: `gunicorn -c gunicorn.conf.py app:app`.

Environment:
  PORT               TCP port to listen on, on all interfaces (default 8000).
  WEB_CONCURRENCY    number of worker processes (default 1). More than one requires REDIS_URL,
                     because chat messages reach the websockets of other processes through Redis.
  GUNICORN_WORKER_CLASS  "gevent" (default, recommended) or "gthread".
  GUNICORN_WORKER_CONNECTIONS  connections per gevent worker, open sockets included (default 10000).
  GUNICORN_THREADS   threads per gthread worker (default 32). Each open websocket keeps one thread
                     busy for as long as it is connected, so this caps the sockets per worker.

Worker classes: flask-sock needs a worker that can keep a connection open while serving others.
"gevent" (the default) runs each request and each websocket as a greenlet, so an idle chat socket
costs tens of KiB and one worker holds 10,000 of them (BENCHMARKS.md, "Capacity"). Gunicorn's
gevent worker monkey-patches the standard library at start-up, before it loads the app; the add-on
then gives psycopg2 a wait callback (addon/db.py) so that a query waits on gevent's loop instead
of stopping every socket of the worker. "gthread" gives each request and each websocket a thread
of its own. An open socket keeps its thread, so a worker serves at most GUNICORN_THREADS sockets.
Thousands of threads would each need a stack of their own and would contend for the interpreter lock. The plain "sync" worker serves one
request at a time, so a single open websocket would block it.
"""

import os

from gunicorn.glogging import Logger

SUPPORTED_WORKER_CLASSES = ("gevent", "gthread")


class ConfigurationError(RuntimeError):
    """A setting read from the environment is invalid; the message names the variable."""


def _positive_int(name, default):
    raw = os.environ.get(name, "").strip() or str(default)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not an integer; set it to a whole number ≥ 1") from None
    if value < 1:
        raise ConfigurationError(f"{name}={value} is invalid; set it to a whole number ≥ 1")
    return value


port = _positive_int("PORT", 8000)
bind = [f"0.0.0.0:{port}"]

worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent").strip() or "gevent"
if worker_class not in SUPPORTED_WORKER_CLASSES:
    raise ConfigurationError(
        f"GUNICORN_WORKER_CLASS={worker_class!r} is not supported; "
        f"use one of {', '.join(SUPPORTED_WORKER_CLASSES)} (websockets need one of them)"
    )
workers = _positive_int("WEB_CONCURRENCY", 1)
threads = _positive_int("GUNICORN_THREADS", 32)
# Simultaneous connections per gevent worker, idle chat sockets included. Gunicorn's default of
# 1000 would refuse the 1001st socket although an idle one costs little (BENCHMARKS.md, "Capacity").
worker_connections = _positive_int("GUNICORN_WORKER_CONNECTIONS", 10000)

# Each worker process keeps its own websockets; only Redis carries a message from the process
# that received it to the sockets held by the others.
if workers > 1 and not os.environ.get("REDIS_URL", "").strip():
    raise ConfigurationError(
        f"WEB_CONCURRENCY={workers} needs REDIS_URL: with several worker processes, chat messages "
        "reach the other processes' websockets only through Redis. Set REDIS_URL "
        "(e.g. redis://127.0.0.1:6379/0) or set WEB_CONCURRENCY=1."
    )

# Websockets and long-polls stay open for minutes. `timeout` only kills a worker whose main loop
# stops notifying the arbiter. gthread and gevent workers keep notifying it while requests wait,
# so an open socket alone does not trip it. Keep-alive outlasts the usual 60 s idle timeout of load
# balancers, so the balancer, not gunicorn, closes idle connections.
timeout = 120
graceful_timeout = 30
keepalive = 75

# Iframe URLs carry Jira's `jwt` in the query string, so the access log records the path only:
# %(U)s is PATH_INFO without the query, whereas %(r)s would contain it. The Referer is left out too,
# because it can be one of those URLs.
accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")


class QueryFreeLogger(Logger):
    """Gunicorn's logger, minus query strings in its "Error handling request <uri>" lines.

    When an exception escapes the app, gunicorn logs the request URI with its query string, which
    for an iframe page includes the `jwt` token.
    """

    def exception(self, msg, *args, **kwargs):
        args = tuple(arg.split("?", 1)[0] if isinstance(arg, str) else arg for arg in args)
        super().exception(msg, *args, **kwargs)


logger_class = QueryFreeLogger
