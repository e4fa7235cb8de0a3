"""A background thread that does its work in passes, woken by `wake()` or after a pause.

The outbox (addon.sync.outbox) and the attachment sender (addon.chat.attachments_jira) are such
workers: storing a row calls `wake()`, and each pass returns how long to sleep before the next one
is due. The pause also picks up rows that another process stored. A pass that raises is logged and
retried after `poll_secs`, because the database or Jira may be down for a while.
"""

import logging
import threading

log = logging.getLogger(__name__)

DEFAULT_RETRY_BASE_SECS = 5.0
DEFAULT_RETRY_MAX_SECS = 300.0
# Without a wake-up a worker still looks for due rows this often.
DEFAULT_POLL_SECS = 30.0
STOP_TIMEOUT_SECS = 30.0


class PassWorker:
    """Subclasses set `name` and define `run_once()`, which returns the seconds until the next pass.

    The retry settings are the outbox's (OUTBOX_RETRY_BASE_SECS, OUTBOX_RETRY_MAX_SECS,
    OUTBOX_POLL_SECS), shared by every worker of the process.
    """

    name = "worker"

    def __init__(self, app):
        self.app = app
        config = app.config
        self.retry_base_secs = float(config.get("OUTBOX_RETRY_BASE_SECS", DEFAULT_RETRY_BASE_SECS))
        self.retry_max_secs = float(config.get("OUTBOX_RETRY_MAX_SECS", DEFAULT_RETRY_MAX_SECS))
        self.poll_secs = float(config.get("OUTBOX_POLL_SECS", DEFAULT_POLL_SECS))
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._thread = None
        self._guard = threading.Lock()

    @property
    def database(self):
        return self.app.extensions["database"]

    def wake(self):
        self._wakeup.set()

    def start(self):
        """Start the thread, unless it runs already."""
        with self._guard:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()
        log.info("Worker %s started", self.name)

    def stop(self, timeout=STOP_TIMEOUT_SECS):
        """Stop the thread, waiting up to `timeout` seconds for a pass in progress."""
        self._stopping.set()
        self._wakeup.set()
        with self._guard:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        thread.join(timeout)
        if thread.is_alive():
            log.warning("Worker %s still busy %.0f s after the stop request", self.name, timeout)
        else:
            log.info("Worker %s stopped", self.name)

    def run_once(self):
        raise NotImplementedError

    def _run(self):
        delay_secs = 0.0
        while not self._stopping.is_set():
            self._wakeup.wait(delay_secs)
            self._wakeup.clear()
            if self._stopping.is_set():
                break
            with self.app.app_context():
                try:
                    delay_secs = self.run_once()
                except Exception:
                    log.exception("A pass of worker %s failed", self.name)
                    delay_secs = self.poll_secs
                finally:
                    self.database.session.remove()
