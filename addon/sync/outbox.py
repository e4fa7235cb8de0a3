"""The outbox: one worker per process writes chat messages to Jira as comments.

Messages are stored and acknowledged first (addon.chat.actions.post_message). The worker writes
their comments afterwards, in `seq` order within each conversation, each message at most once.
Up to OUTBOX_WRITERS conversations are written at the same time, on a small thread pool. A
comment costs one or two Jira round trips, so one writer alone wrote about 6 comments per second
to a local site that responds in 50 ms (bench/jira_sync.py), below a 10 per second rate limit.
Before a write whose outcome may stay unknown, the rows get `sync_uncertain_since`, and the next
attempt looks for the comment before posting again. A failed write is retried later with
exponential backoff, or after the Retry-After that Jira sent with a 429, and is never dropped.

Several processes may run a worker against PostgreSQL: a session-level advisory lock per
conversation lets one worker at a time write a conversation's head, and the lock dies with its
connection if the process dies. SQLite deployments run one process, so no lock is taken there.
"""

import logging
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import contextmanager
from zoneinfo import ZoneInfo

from sqlalchemy import select, text

from ..atlassian.jira_client import jira_client_for
from ..atlassian.jira_errors import JiraError, JiraRateLimited
from ..chat.models import Conversation, Message, SyncState
from ..models import Installation, utcnow
from ..settings import get_settings
from . import echoes
from . import outbox_queue as queue
from ..worker import PassWorker
from .outbox_write import Batch, deliver

log = logging.getLogger(__name__)

DEFAULT_TIME_ZONE = "Europe/Paris"  # the support team's time, for the times shown in comments
# First key of the outbox's two-key advisory locks (the second is the conversation id). Other
# code that takes advisory locks on this database must not use this first key.
ADVISORY_LOCK_SPACE = 0x0B0C
# Conversations written at the same time by one process (app config OUTBOX_WRITERS). Each writer
# holds up to two database connections while it writes.
DEFAULT_WRITERS = 4


class Outbox(PassWorker):
    """The process's outbox worker. Call `wake()` after storing a message and `stop()` to end the thread."""

    name = "outbox"

    def __init__(self, app):
        super().__init__(app)
        self.time_zone = ZoneInfo(app.config.get("OUTBOX_TIME_ZONE", DEFAULT_TIME_ZONE))
        self.writers = max(1, int(app.config.get("OUTBOX_WRITERS", DEFAULT_WRITERS)))
        self._pool = None

    def stop(self, *args, **kwargs):
        super().stop(*args, **kwargs)
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def run_once(self):
        """Write every due batch; return the seconds until the next head is due (at most poll_secs).

        Runs inside the app context.
        """
        if self.writers == 1:
            self._write_in_rounds()
        else:
            self._write_on_pool()

        with self._transaction() as session:
            now = utcnow()
            due_at = queue.next_due_at(session, now)
        if due_at is None:
            return self.poll_secs
        return min(self.poll_secs, max(0.0, (due_at - now).total_seconds()))

    def _write_in_rounds(self):
        # Each round gives every due conversation one batch, so a busy conversation does not
        # starve the others.
        while not self._stopping.is_set():
            with self._transaction() as session:
                conversation_ids = queue.due_conversations(session, utcnow())
            progressed = False
            for conversation_id in conversation_ids:
                if self._stopping.is_set():
                    break
                progressed = self.sync_conversation(conversation_id) or progressed
            if not progressed:
                break

    def _write_on_pool(self):
        """Hand due conversations to the writers, one batch each at a time, until none is left.

        A conversation goes back to the end of the pool's queue after each batch, so a busy
        conversation does not starve the others, and no writer waits for a round to end. One
        that had nothing to write (another process has its lock) is left for the next pass.
        """
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.writers, thread_name_prefix="outbox-writer")
        running = {}  # future -> conversation id
        idle = set()
        while not self._stopping.is_set():
            busy = set(running.values())
            with self._transaction() as session:
                conversation_ids = queue.due_conversations(session, utcnow())
            for conversation_id in conversation_ids:
                if conversation_id not in busy and conversation_id not in idle:
                    running[self._pool.submit(self._sync_in_context, conversation_id)] = conversation_id
            if not running:
                return

            done, _pending = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                conversation_id = running.pop(future)
                try:
                    progressed = future.result()
                except Exception:  # noqa: BLE001 (the next pass retries; the others go on)
                    log.exception("Writing conversation %s to Jira failed unexpectedly", conversation_id)
                    progressed = False
                if not progressed:
                    idle.add(conversation_id)

    def _sync_in_context(self, conversation_id):
        if self._stopping.is_set():
            return False
        with self.app.app_context():
            try:
                return self.sync_conversation(conversation_id)
            finally:
                self.database.session.remove()

    def sync_conversation(self, conversation_id):
        """Write the due head batch of one conversation; return False when there was none to write."""
        with self._conversation_lock(conversation_id) as acquired:
            if not acquired:
                return False
            prepared = self._prepare(conversation_id)
            if prepared is None:
                return False
            installation, conversation, batch = prepared
            self._write(installation, conversation, batch)
            return True

    def _prepare(self, conversation_id):
        # Re-read under the lock: another process may have written the head meanwhile.
        with self._transaction() as session:
            head = queue.head_of(session, conversation_id)
            if head is None or not queue.is_due(head, utcnow()):
                return None
            conversation = session.get(Conversation, conversation_id)
            installation = session.get(Installation, conversation.installation_id)
            window_secs = float(get_settings(installation.id).get("comment_batch_window_secs") or 0)
            messages = queue.batch_of(session, head, window_secs)
            batch = Batch(issue_key=conversation.issue_key, messages=messages, time_zone=self.time_zone)
            if batch.uncertain_since is not None:
                # Only the look-up of an earlier attempt's comment needs the linked ones.
                batch.linked_comment_ids = set(session.execute(
                    select(Message.jira_comment_id).where(
                        Message.conversation_id == conversation_id, Message.jira_comment_id.is_not(None),
                        Message.sync_state == SyncState.SYNCED,
                    )
                ).scalars())
            # Marked in this commit, so the mark is stored before any call to Jira. A retry's rows
            # already carry the instant of their first attempt.
            if batch.pending_comment_id is None and batch.uncertain_since is None:
                queue.mark_uncertain(session, batch.ids, utcnow())
            # Detached, the rows keep the values read here while later transactions of this
            # session expire and reload everything else.
            for row in (*messages, conversation, installation):
                session.expunge(row)
        return installation, conversation, batch

    def _write(self, installation, conversation, batch):
        ids = batch.ids
        attempt = batch.head.sync_attempts + 1
        log.debug("Writing messages %s of conversation %s to %s (attempt %s)",
                 ids, conversation.id, conversation.issue_key, attempt)

        def on_comment(comment_id):
            echoes.memo_of(self.app).remember(installation.client_key, comment_id)
            with self._transaction() as session:
                queue.record_comment(session, ids, comment_id)

        try:
            with jira_client_for(installation) as jira:
                written = deliver(jira, batch, on_comment=on_comment)
        except JiraError as error:
            self._fail(installation, conversation, ids, error, error.status or error.kind)
            return
        except Exception as error:  # noqa: BLE001 (a bug must not stop the other conversations)
            log.exception("Writing messages %s of conversation %s to %s failed unexpectedly",
                          ids, conversation.id, conversation.issue_key)
            self._fail(installation, conversation, ids, error, type(error).__name__)
            return

        echoes.memo_of(self.app).remember(installation.client_key, written.comment_id)
        with self._transaction() as session:
            queue.mark_synced(session, written.message_ids, written.comment_id)
        log.info("Messages %s of conversation %s are comment %s on %s (attempt %s)",
                 written.message_ids, conversation.id, written.comment_id, conversation.issue_key, attempt)
        queue.publish_sync(installation.id, conversation.id, written.message_ids, SyncState.SYNCED,
                           written.comment_id)

    def _fail(self, installation, conversation, ids, error, status):
        delay_secs = self.backoff_secs
        if isinstance(error, JiraRateLimited) and error.retry_after_secs is not None:
            # Jira sent the time to wait, and a longer backoff would only leave its quota unused.
            delay_secs = lambda _attempts: min(error.retry_after_secs, self.retry_max_secs)  # noqa: E731
        with self._transaction() as session:
            attempts = queue.mark_failed(session, ids, str(error), delay_secs)
        log.warning("Writing messages %s of conversation %s to %s failed on attempt %s (%s); "
                    "next attempt in %.1f s: %s", ids, conversation.id, conversation.issue_key,
                    attempts, status, delay_secs(attempts), error)
        queue.publish_sync(installation.id, conversation.id, ids, SyncState.FAILED)

    def backoff_secs(self, attempts):
        """Seconds to wait after the `attempts`-th failed attempt: doubling, capped."""
        return min(self.retry_max_secs, self.retry_base_secs * 2 ** max(0, attempts - 1))

    @contextmanager
    def _transaction(self):
        with self.database.transaction() as session:
            # Rows change under us in other processes; never trust what the session cached.
            session.expire_all()
            yield session

    @contextmanager
    def _conversation_lock(self, conversation_id):
        """Yield True when this process may write the conversation, holding the right meanwhile."""
        engine = self.database.engine
        if engine.dialect.name != "postgresql":
            yield True
            return
        with engine.connect() as connection:
            acquired = connection.execute(
                text("SELECT pg_try_advisory_lock(:space, :id)"),
                {"space": ADVISORY_LOCK_SPACE, "id": conversation_id},
            ).scalar()
            connection.commit()
            try:
                yield bool(acquired)
            finally:
                if acquired:
                    connection.execute(
                        text("SELECT pg_advisory_unlock(:space, :id)"),
                        {"space": ADVISORY_LOCK_SPACE, "id": conversation_id},
                    )
                    connection.commit()


def init_app(app):
    """Create the process's outbox as `app.extensions["outbox"]`, and start it unless
    OUTBOX_AUTOSTART is false. Call it in each worker process after the fork."""
    outbox = Outbox(app)
    app.extensions["outbox"] = outbox
    if app.config.get("OUTBOX_AUTOSTART", True):
        outbox.start()
    return outbox

