"""The job that attaches the public transcript to a chat request once it is resolved.

Each tick does two things:

1. It notices resolutions. A request_resolved event (addon.sync.jira_status) of a conversation that
   is still resolved or closed, with no `transcript_attachments` row for that event, gets one. The
   unique constraint on (conversation_id, resolution_seq) makes the insert the claim, so several
   processes never create two rows. Only conversations updated in the last LOOKBACK_DAYS are read,
   so that a first start does not attach files to every request resolved in the past.
2. It attaches the due rows, as the app user: upload a JSM temporary file to the request's service
   desk, then attach it publicly to the request. The file contains the public entries up to the
   resolution event, in the key user's Jira language. A failure is retried with a doubling delay,
   capped at RETRY_MAX_SECS, and never dropped.

Once per resolution: a row claimed by a process (`claimed_until`) is not taken by another one
before the claim expires. Before the attach call the row gets `uncertain_since`. When the outcome
of that call stays unknown (a timeout, a 5xx), the next attempt lists the request's attachments and
records the file as attached when one with its name is there, instead of attaching it again.
A request reopened and resolved again gets a new resolution event, so a new version of the file
(named after that event's seq).
"""

import logging
import threading
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from ..atlassian.installations import get_active_installation
from ..atlassian.jira_client import jira_client_for
from ..atlassian.jira_errors import JiraError
from ..models import Installation, utcnow
from .actions import database
from .models import Conversation, ConversationState, Message, MessageKind
from .transcript import Audience, language_of, render_transcript, transcript_filename
from .transcript_models import TranscriptAttachment, TranscriptState

log = logging.getLogger(__name__)

RESOLVED_EVENT_TYPE = "request_resolved"
TICK_SECS = 30.0
LOOKBACK_DAYS = 7
RETRY_BASE_SECS = 30.0
RETRY_MAX_SECS = 3600.0
# A process that claimed a row and died leaves it to the others after this delay. It is longer
# than two uploads and an attach call at the client's timeout with its retries.
CLAIM_SECS = 600
ROWS_PER_TICK = 20
CONTENT_TYPE = "text/html"
STOP_TIMEOUT_SECS = 30.0


def notice_resolutions(now=None):
    """Add a pending row for each recent resolution that has none; return how many were added."""
    now = now or utcnow()
    session = database().session
    latest = (
        select(Message.conversation_id, func.max(Message.seq).label("seq"))
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Conversation.state.in_((ConversationState.RESOLVED, ConversationState.CLOSED)),
            Conversation.updated_at >= now - timedelta(days=LOOKBACK_DAYS),
            Message.kind == MessageKind.EVENT,
            Message.event_type == RESOLVED_EVENT_TYPE,
        )
        .group_by(Message.conversation_id)
        .subquery()
    )
    statement = (
        select(latest.c.conversation_id, latest.c.seq)
        .outerjoin(TranscriptAttachment, (TranscriptAttachment.conversation_id == latest.c.conversation_id)
                   & (TranscriptAttachment.resolution_seq == latest.c.seq))
        .where(TranscriptAttachment.id.is_(None))
    )
    found = list(session.execute(statement))
    session.rollback()

    added = 0
    for conversation_id, seq in found:
        conversation = session.get(Conversation, conversation_id)
        try:
            with database().transaction() as writing:
                writing.add(TranscriptAttachment(
                    conversation_id=conversation_id, resolution_seq=seq,
                    filename=transcript_filename(conversation, f"-{seq}"),
                    state=TranscriptState.PENDING, attempts=0, next_attempt_at=now,
                ))
            added += 1
            log.info("Transcript of %s (resolution seq %s) queued for attachment", conversation.issue_key, seq)
        except IntegrityError:
            log.debug("Transcript of conversation %s, seq %s, already queued by another process",
                      conversation_id, seq)
    return added


def due_rows(now):
    statement = (
        select(TranscriptAttachment.id)
        .where(
            ((TranscriptAttachment.state == TranscriptState.PENDING)
             & (TranscriptAttachment.next_attempt_at <= now))
            | ((TranscriptAttachment.state == TranscriptState.SENDING)
               & (TranscriptAttachment.claimed_until < now))
        )
        .order_by(TranscriptAttachment.next_attempt_at)
        .limit(ROWS_PER_TICK)
    )
    ids = list(database().session.execute(statement).scalars())
    database().session.rollback()
    return ids


def claim(row_id, now):
    """Take row `row_id` for this process; return False when another process has it or it is done."""
    with database().transaction() as session:
        result = session.execute(
            update(TranscriptAttachment)
            .where(
                TranscriptAttachment.id == row_id,
                ((TranscriptAttachment.state == TranscriptState.PENDING)
                 & (TranscriptAttachment.next_attempt_at <= now))
                | ((TranscriptAttachment.state == TranscriptState.SENDING)
                   & (TranscriptAttachment.claimed_until < now)),
            )
            .values(state=TranscriptState.SENDING, claimed_until=now + timedelta(seconds=CLAIM_SECS),
                    attempts=TranscriptAttachment.attempts + 1)
        )
        return result.rowcount == 1


def attach_due(now=None):
    """Attach every due transcript this process can claim; return the ids of those attached."""
    now = now or utcnow()
    attached = []
    for row_id in due_rows(now):
        if not claim(row_id, now):
            continue
        if attach_one(row_id):
            attached.append(row_id)
    return attached


def attach_one(row_id):
    """Attach the transcript of claimed row `row_id`; return True when it is on the request."""
    session = database().session
    session.expire_all()
    row = session.get(TranscriptAttachment, row_id)
    conversation = session.get(Conversation, row.conversation_id)
    installation = session.get(Installation, conversation.installation_id)
    context = f"{conversation.issue_key} (conversation {conversation.id}, resolution seq {row.resolution_seq})"
    if get_active_installation(installation.client_key) is None:
        return _retry(row_id, context, "the app is not installed on the site", None)

    try:
        with jira_client_for(installation) as jira:
            if row.uncertain_since is not None and _already_attached(jira, conversation.issue_key, row.filename):
                log.info("Transcript of %s found on the request after an unclear attempt", context)
                return _done(row_id)
            language = row.language or _language(jira, conversation.opened_by_account_id)
            html = render_transcript(conversation, Audience.PUBLIC, language, up_to_seq=row.resolution_seq,
                                     generated_at=row.created_at)
            temporary_ids = jira.attach_temporary_file(conversation.service_desk_id, row.filename,
                                                       html.encode("utf-8"), CONTENT_TYPE)
            _mark_uncertain(row_id, language)
            jira.attach_to_request(conversation.issue_key, temporary_ids, public=True)
    except JiraError as error:
        return _retry(row_id, context, str(error), error)
    except Exception as error:  # noqa: BLE001 (a bug must not stop the other transcripts)
        log.exception("Attaching the transcript of %s failed unexpectedly", context)
        return _retry(row_id, context, type(error).__name__, None)
    log.info("Transcript of %s attached as %s", context, row.filename)
    return _done(row_id)


def _language(jira, account_id):
    try:
        return language_of((jira.get_user(account_id) or {}).get("locale"))
    except JiraError as error:
        log.warning("Language of %s not read, so the transcript is in French: %s", account_id, error)
        return "fr"


def _already_attached(jira, issue_key, filename):
    """Tell whether request `issue_key` has an attachment named `filename` (JSM's list, first pages)."""
    start = 0
    while True:
        page = jira.request("GET", f"rest/servicedeskapi/request/{issue_key}/attachment",
                            params={"start": start, "limit": 100}) or {}
        values = page.get("values") or []
        if any(attachment.get("filename") == filename for attachment in values):
            return True
        if page.get("isLastPage", True) or not values:
            return False
        start += len(values)


def _mark_uncertain(row_id, language):
    with database().transaction() as session:
        row = session.get(TranscriptAttachment, row_id)
        row.uncertain_since = utcnow()
        row.language = language


def _done(row_id):
    with database().transaction() as session:
        row = session.get(TranscriptAttachment, row_id)
        row.state = TranscriptState.ATTACHED
        row.attached_at = utcnow()
        row.claimed_until = None
        row.uncertain_since = None
        row.last_error = None
    return True


def _retry(row_id, context, reason, error):
    with database().transaction() as session:
        row = session.get(TranscriptAttachment, row_id)
        # A rejection that Jira answered (4xx) attached nothing, so the next attempt need not look first.
        if error is not None and error.status is not None and 400 <= error.status < 500:
            row.uncertain_since = None
        base_secs = float(current_app.config.get("TRANSCRIPT_ATTACH_RETRY_BASE_SECS", RETRY_BASE_SECS))
        delay_secs = min(RETRY_MAX_SECS, base_secs * 2 ** max(0, row.attempts - 1))
        row.state = TranscriptState.PENDING
        row.claimed_until = None
        row.next_attempt_at = utcnow() + timedelta(seconds=delay_secs)
        row.last_error = reason[:2000]
        attempts = row.attempts
    log.warning("Attaching the transcript of %s failed on attempt %s; next attempt in %.0f s: %s",
                context, attempts, delay_secs, reason)
    return False


def run_tick(app):
    """Notice new resolutions and attach what is due, inside an app context of `app`."""
    with app.app_context():
        try:
            notice_resolutions()
            attach_due()
        except Exception:  # noqa: BLE001 (the next tick retries)
            log.exception("The transcript attachment job failed")
        finally:
            database().remove_session()


class TranscriptJob:
    """The process's job thread: one tick, then a wait of `tick_secs`, until `stop`."""

    def __init__(self, app, tick_secs):
        self.app = app
        self.tick_secs = tick_secs
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="transcript-attach", daemon=True)

    def start(self):
        self._thread.start()
        log.info("Transcript attachment job started (every %.1f s)", self.tick_secs)

    def stop(self, timeout=STOP_TIMEOUT_SECS):
        self._stopping.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("Transcript attachment job still busy %.0f s after the stop request", timeout)

    def _run(self):
        # The first tick waits one period, so that it never runs before the app's migrations.
        while not self._stopping.wait(self.tick_secs):
            run_tick(self.app)


def init_app(app):
    """Start the job of this process, ticking every TRANSCRIPT_ATTACH_TICK_SECS, as app.extensions["transcript_job"].

    TRANSCRIPT_ATTACH_JOB turns it on or off. It is off by default with ADDON_ENV=test, so that
    only the tests that need it run it (and stop it with `stop`).
    """
    if not app.config.get("TRANSCRIPT_ATTACH_JOB", app.config.get("ADDON_ENV") != "test"):
        return None
    job = TranscriptJob(app, float(app.config.get("TRANSCRIPT_ATTACH_TICK_SECS", TICK_SECS)))
    app.extensions["transcript_job"] = job
    job.start()
    return job


def stop(app):
    """Stop the job of `app`, if it runs, waiting for a tick in progress."""
    job = app.extensions.pop("transcript_job", None)
    if job is not None:
        job.stop()
