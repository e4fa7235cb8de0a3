"""The attachment worker: one thread per process puts the chat's files on their Jira requests.

For each stored file (addon/chat/attachments_models.py) it uploads a JSM temporary file to the
request's service desk and attaches it to the request, both as the file's author (the key user or
the agent, through impersonation), so that Jira names them as the attachment's author. When Jira
refuses to let the add-on act as the author, the app user attaches the file and the chat message's
comment still names the author. A failed attempt is retried with the comment outbox's backoff
(OUTBOX_RETRY_BASE_SECS doubling up to OUTBOX_RETRY_MAX_SECS) and the file is never dropped.

Before the call that attaches the file, the row gets `sync_uncertain_since`; after an unknown
outcome (timeout, dropped connection) the next attempt first looks on the request for an
attachment of the same name, size and author created since then.

A worker claims a row by moving it to "sending" with a lease in one conditional UPDATE, so several
processes may run workers against one database; a claim whose process died expires with its lease.
"""

import logging
from datetime import timedelta
from urllib.parse import quote

from sqlalchemy import or_, select, update
from sqlalchemy.orm import undefer

from ..atlassian.jira_client import jira_client_for
from ..atlassian.jira_errors import ImpersonationRefused, JiraError
from ..models import Installation, utcnow
from ..sync.outbox_queue import aware, parse_jira_time
from ..worker import PassWorker
from . import fanout
from .attachments import update_payload
from .attachments_models import AttachmentSyncState, ChatAttachment
from .models import Conversation, Message, Visibility

log = logging.getLogger(__name__)

LEASE_SECS = 300
MAX_ERROR_CHARS = 500
LOOKUP_PAGE_SIZE = 50
# Attachment times come from Jira's clock. NOTE: an estimate of the skew between Jira and us.
CLOCK_SKEW_SECS = 120


class AttachmentWorker(PassWorker):
    """The process's attachment worker. Call `wake()` after storing a file and `stop()` to end it."""

    name = "attachments"

    def run_once(self):
        """Send every due file; return the seconds until the next one is due (at most poll_secs)."""
        while not self._stopping.is_set():
            attachment_id = self._claim()
            if attachment_id is None:
                break
            self.send(attachment_id)

        with self.database.transaction() as session:
            now = utcnow()
            due_at = session.execute(
                select(ChatAttachment.next_sync_at)
                .where(ChatAttachment.sync_state.in_(AttachmentSyncState.WAITING),
                       ChatAttachment.next_sync_at > now)
                .order_by(ChatAttachment.next_sync_at).limit(1)
            ).scalar_one_or_none()
        if due_at is None:
            return self.poll_secs
        return min(self.poll_secs, max(0.0, (aware(due_at) - now).total_seconds()))

    def _claim(self):
        """Take the longest-waiting due file of an active installation; return its id or None."""
        for _ in range(5):
            with self.database.transaction() as session:
                now = utcnow()
                due = (or_(ChatAttachment.next_sync_at.is_(None), ChatAttachment.next_sync_at <= now),
                       ChatAttachment.sync_state.in_(AttachmentSyncState.WAITING))
                attachment_id = session.execute(
                    select(ChatAttachment.id)
                    .join(Conversation, Conversation.id == ChatAttachment.conversation_id)
                    .join(Installation, Installation.id == Conversation.installation_id)
                    .where(*due, Installation.status == "installed", Installation.enabled.is_(True))
                    .order_by(ChatAttachment.next_sync_at, ChatAttachment.id).limit(1)
                ).scalar_one_or_none()
                if attachment_id is None:
                    return None
                claimed = session.execute(
                    update(ChatAttachment).where(ChatAttachment.id == attachment_id, *due)
                    .values(sync_state=AttachmentSyncState.SENDING,
                            next_sync_at=now + timedelta(seconds=LEASE_SECS))
                ).rowcount
            if claimed:
                return attachment_id
        return None

    def send(self, attachment_id):
        """Put one claimed file on its request; record the outcome and tell the chat."""
        with self.database.transaction() as session:
            attachment = session.execute(
                select(ChatAttachment).options(undefer(ChatAttachment.data))
                .where(ChatAttachment.id == attachment_id)
            ).scalar_one()
            conversation = session.get(Conversation, attachment.conversation_id)
            installation = session.get(Installation, conversation.installation_id)
            visibility = session.get(Message, attachment.message_id).visibility
            for row in (attachment, conversation, installation):
                session.expunge(row)

        try:
            with jira_client_for(installation) as jira:
                jira_id, author = self._deliver(jira, conversation, attachment, visibility)
        except JiraError as error:
            self._fail(conversation, attachment, visibility, error, error.status or error.kind)
            return
        except Exception as error:  # noqa: BLE001 (a bug must not stop the other files)
            log.exception("Sending attachment %s of conversation %s to %s failed unexpectedly",
                          attachment.id, conversation.id, conversation.issue_key)
            self._fail(conversation, attachment, visibility, error, type(error).__name__)
            return

        with self.database.transaction() as session:
            row = session.get(ChatAttachment, attachment.id)
            row.sync_state = AttachmentSyncState.SYNCED
            row.jira_attachment_id = jira_id
            row.jira_author_account_id = author
            row.sync_error = None
            row.next_sync_at = None
            row.sync_uncertain_since = None
            session.flush()
            frame = update_payload(conversation, row, visibility)
        log.info("Attachment %s of conversation %s is Jira attachment %s on %s, by %s",
                 attachment.id, conversation.id, jira_id, conversation.issue_key, author)
        fanout.publish(installation.id, conversation.id, frame)

    def _deliver(self, jira, conversation, attachment, visibility):
        """Attach the file unless an earlier attempt did; return (Jira attachment id, author accountId)."""
        if attachment.sync_uncertain_since is not None:
            with self.database.transaction() as session:
                linked = set(session.execute(
                    select(ChatAttachment.jira_attachment_id)
                    .where(ChatAttachment.conversation_id == conversation.id,
                           ChatAttachment.jira_attachment_id.is_not(None))
                ).scalars())
            found = find_attached(jira, conversation.issue_key, attachment, linked)
            if found is not None:
                return found
        public = visibility == Visibility.PUBLIC
        try:
            with jira.as_user(attachment.uploader_account_id) as author_jira:
                return self._attach(author_jira, conversation, attachment, public), attachment.uploader_account_id
        except ImpersonationRefused as refusal:
            log.info("Jira rejected impersonation of %s for attachment %s on %s (HTTP %s); attaching as the app user",
                     attachment.uploader_account_id, attachment.id, conversation.issue_key, refusal.status)
        return self._attach(jira, conversation, attachment, public), None

    def _attach(self, jira, conversation, attachment, public):
        temporary_ids = jira.attach_temporary_file(conversation.service_desk_id, attachment.filename,
                                                   attachment.data, attachment.content_type)
        with self.database.transaction() as session:
            row = session.get(ChatAttachment, attachment.id)
            if row.sync_uncertain_since is None:
                row.sync_uncertain_since = utcnow()
        result = jira.attach_to_request(conversation.issue_key, temporary_ids, public=public)
        values = ((result or {}).get("attachments") or {}).get("values") or []
        if not values:
            raise RuntimeError(f"Jira returned no attachment in its response for {conversation.issue_key}")
        return attachment_id_of(values[0])

    def _fail(self, conversation, attachment, visibility, error, status):
        with self.database.transaction() as session:
            row = session.get(ChatAttachment, attachment.id)
            row.sync_attempts += 1
            row.sync_state = AttachmentSyncState.FAILED
            row.sync_error = str(error)[:MAX_ERROR_CHARS]
            wait_secs = self.backoff_secs(row.sync_attempts)
            row.next_sync_at = utcnow() + timedelta(seconds=wait_secs)
            attempts = row.sync_attempts
            session.flush()
            frame = update_payload(conversation, row, visibility)
        log.warning("Sending attachment %s of conversation %s to %s failed on attempt %s (%s); "
                    "next attempt in %.1f s: %s", attachment.id, conversation.id, conversation.issue_key,
                    attempts, status, wait_secs, error)
        fanout.publish(conversation.installation_id, conversation.id, frame)

    def backoff_secs(self, attempts):
        return min(self.retry_max_secs, self.retry_base_secs * 2 ** max(0, attempts - 1))


def attachment_id_of(dto):
    """Extract the id of a JSM AttachmentDTO, which carries it only in its links (…/attachment/{id})."""
    links = dto.get("_links") or {}
    for name in ("jiraRest", "content", "self"):
        tail = str(links.get(name) or "").rstrip("/").rsplit("/", 1)[-1]
        if tail.isdigit():
            return tail
    raise RuntimeError("Jira returned an attachment without a recognisable id in its links")


def find_attached(jira, issue_key, attachment, linked_ids=()):
    """Look on the request for the attachment of an earlier attempt; return (id, author) or None.

    An attachment is ours when it has the file's name and size and Jira created it after the first
    uncertain attempt. It must also be tied to no other file of the chat (`linked_ids`). Its author
    is the uploader, or the app user after a refused impersonation.
    """
    cutoff = aware(attachment.sync_uncertain_since) - timedelta(seconds=CLOCK_SKEW_SECS)
    app_account_id = None
    path = f"rest/servicedeskapi/request/{quote(issue_key, safe='')}/attachment"
    start = 0
    while True:
        # Through the generic call, which a Forge tenant's client offers too.
        page = jira.request("GET", path, params={"start": start, "limit": LOOKUP_PAGE_SIZE}) or {}
        values = page.get("values") or []
        for dto in values:
            created = parse_jira_time((dto.get("created") or {}).get("iso8601"))
            author = (dto.get("author") or {}).get("accountId")
            if (dto.get("filename") != attachment.filename or dto.get("size") != attachment.size_bytes
                    or created is None or created < cutoff or attachment_id_of(dto) in linked_ids):
                continue
            if author == attachment.uploader_account_id:
                return attachment_id_of(dto), author
            if app_account_id is None:
                app_account_id = (jira.request("GET", "rest/api/3/myself") or {}).get("accountId") or ""
            if author == app_account_id:
                return attachment_id_of(dto), None
        start += len(values)
        if not values or page.get("isLastPage", True):
            return None


def init_app(app):
    """Create the process's worker as `app.extensions["attachment_worker"]`; start it unless
    OUTBOX_AUTOSTART is false (the attachment worker follows the comment outbox)."""
    worker = AttachmentWorker(app)
    app.extensions["attachment_worker"] = worker
    if app.config.get("OUTBOX_AUTOSTART", True):
        worker.start()
    return worker
