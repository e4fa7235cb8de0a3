"""The delivery thread shared by both publish/subscribe implementations.

Subscriber callbacks never run on a publisher's stack (it may hold a database session or a
socket lock) nor on the Redis listener thread (a slow callback there would let Redis buffer,
then drop, the connection). They run here, one job at a time, in submission order, which is
what keeps the messages of a channel in order.
"""

import logging
import queue
import threading

log = logging.getLogger(__name__)

# A backlog this long means callbacks are slower than the publishers. It is logged once,
# and again only after the queue has drained.
BACKLOG_WARNING_SIZE = 1000

_STOP = object()


class Dispatcher:
    """One daemon thread that runs submitted jobs in order. A failing job is logged and skipped."""

    def __init__(self, name):
        self._queue = queue.Queue()
        self._backlog_warned = False
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, function, *args):
        """Queue `function(*args)` to run on the delivery thread, unless the dispatcher is stopped."""
        if self._stopped:
            return
        self._queue.put((function, args))
        backlog = self._queue.qsize()
        if backlog >= BACKLOG_WARNING_SIZE and not self._backlog_warned:
            self._backlog_warned = True
            log.warning(
                "Delivery backlog reached %d jobs on thread %s: subscriber callbacks are too slow",
                backlog, self._thread.name,
            )

    def on_thread(self):
        """Return True when called from the delivery thread itself."""
        return threading.current_thread() is self._thread

    def stop(self, timeout):
        """Run the jobs already queued, then end the thread (waits up to `timeout` seconds)."""
        if self._stopped:
            return
        self._stopped = True
        self._queue.put(_STOP)
        if not self.on_thread():
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("Delivery thread %s did not stop within %s s", self._thread.name, timeout)

    def _run(self):
        while True:
            if self._queue.empty():
                self._backlog_warned = False
            job = self._queue.get()
            if job is _STOP:
                return
            function, args = job
            try:
                function(*args)
            except Exception:  # one failing job must not end delivery for everyone
                log.exception("Delivery job %s failed, delivery continues", getattr(function, "__qualname__", function))
