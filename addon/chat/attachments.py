"""Files in the chat: accept one, show it as a message, and give it back to those who may see it.

`upload` checks the file against the site's limits (addon/chat/attachments_types.py), then stores
the file and the chat message that shows it in one transaction. The comment outbox writes the
message to Jira as a comment that names the file. The attachment worker
(addon/chat/attachments_jira.py) attaches the file itself to the request, as its author.
"""

import hashlib
import logging

from flask import current_app
from sqlalchemy import select

from ..errors import InvalidInput, NotFound, PermissionDenied
from ..models import utcnow
from ..settings import get_settings
from . import fanout
from .actions import (
    RESERVED_CLIENT_ID_PREFIX,
    can_write,
    database,
    find_by_client_id,
    insert_viewer_message,
    lock_conversation,
    wake_outbox,
)
from .attachments_models import AttachmentSyncState, ChatAttachment
from .attachments_types import Limits, check_file, clean_filename, size_text
from .models import Message, Visibility

log = logging.getLogger(__name__)

# The event_type of a chat message that shows a file (its kind stays "message").
ATTACHMENT_EVENT_TYPE = "attachment"
# The text of that message, which becomes its Jira comment. The site's language is French.
COMMENT_TEXT = "Pièce jointe : {filename} ({size})"


def limits_of(installation_id):
    return Limits.from_settings(get_settings(installation_id))


def upload(viewer, conversation_id, filename, declared_type, data, *, visibility=Visibility.PUBLIC,
           client_message_id=None):
    """Store an accepted file and its chat message; return (message, attachment, created).

    Raises FileRejected naming the limit a file breaks. A resend with the same `client_message_id`
    returns the stored message with created=False.
    """
    filename = clean_filename(filename)
    if visibility not in (Visibility.PUBLIC, Visibility.INTERNAL):
        raise InvalidInput(f"Unknown visibility {str(visibility)[:20]!r}; use 'public' or 'internal'.")
    if visibility == Visibility.INTERNAL and not viewer.is_agent:
        raise PermissionDenied("Seuls les agents du support peuvent joindre un fichier à une note interne. "
                               "/ Only support agents can attach a file to an internal note.")
    if client_message_id is not None and (not isinstance(client_message_id, str) or len(client_message_id) > 64
                                          or client_message_id.startswith(RESERVED_CLIENT_ID_PREFIX)):
        raise InvalidInput(f"client_message_id must be a string of at most 64 characters, not starting with "
                           f"{RESERVED_CLIENT_ID_PREFIX!r}.")
    fmt = check_file(filename, declared_type, data, limits_of(viewer.installation_id))

    with database().transaction() as session:
        conversation = lock_conversation(session, conversation_id)
        if not can_write(viewer, conversation):
            raise PermissionDenied(
                "Vous pouvez lire cette discussion, mais seuls les utilisateurs clés d'un contrat actif "
                "de son organisation peuvent y envoyer des fichiers. / You can read this chat, but only key "
                "users of an active subscription of its organization can send files in it.")
        existing = find_by_client_id(session, conversation.id, client_message_id)
        if existing is not None:
            return existing, attachment_of(existing.id), False
        message = insert_viewer_message(
            session, conversation, viewer, client_message_id=client_message_id, visibility=visibility,
            event_type=ATTACHMENT_EVENT_TYPE,
            body=COMMENT_TEXT.format(filename=filename, size=size_text(len(data), "fr")),
        )
        attachment = ChatAttachment(
            conversation_id=conversation.id, message_id=message.id,
            uploader_account_id=viewer.account_id, uploader_role=viewer.role,
            filename=filename, content_type=fmt.content_type, size_bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(), data=data,
            sync_state=AttachmentSyncState.PENDING, next_sync_at=utcnow(),
        )
        session.add(attachment)
        session.flush()
        payload = fanout.message_payload(conversation, message)

    log.info("Attachment %s (%s bytes, %s) stored in conversation %s with message %s",
             attachment.id, attachment.size_bytes, attachment.content_type, conversation_id, message.id)
    fanout.publish(conversation.installation_id, conversation.id, payload)
    wake_outbox()
    wake_attachment_worker()
    return message, attachment, True


def attachment_of(message_id):
    """Load the attachment shown by message `message_id`, without its bytes; None when there is none."""
    statement = select(ChatAttachment).where(ChatAttachment.message_id == message_id)
    return database().session.execute(statement).scalar_one_or_none()


def attachment_view(conversation_id, attachment):
    """Build the JSON form of an attachment inside its message's payload."""
    return {
        "id": attachment.id,
        "filename": attachment.filename,
        "content_type": attachment.content_type,
        "size_bytes": attachment.size_bytes,
        "is_image": attachment.content_type.startswith("image/"),
        "url": f"/api/chats/{conversation_id}/attachments/{attachment.id}",
        "sync_state": attachment.sync_state,
        "jira_attachment_id": attachment.jira_attachment_id,
    }


def view_of_message(message):
    """Build the attachment part of a message's payload (fanout.message_payload), or None."""
    if message.event_type != ATTACHMENT_EVENT_TYPE or message.deleted_at is not None:
        return None
    attachment = attachment_of(message.id)
    return attachment_view(message.conversation_id, attachment) if attachment is not None else None


def access_attachment(viewer, conversation, attachment_id):
    """Load the attachment with its bytes if `viewer`, who may see `conversation`, may see its
    message (internal notes: agents only); else raise NotFound."""
    session = database().session
    row = session.execute(
        select(ChatAttachment, Message)
        .join(Message, Message.id == ChatAttachment.message_id)
        .where(ChatAttachment.id == attachment_id, ChatAttachment.conversation_id == conversation.id)
    ).one_or_none()
    if row is None or row.Message.deleted_at is not None or (
            row.Message.visibility != Visibility.PUBLIC and not viewer.is_agent):
        raise NotFound(f"Le fichier {attachment_id} n'existe pas ou ne vous est pas visible. "
                       f"/ File {attachment_id} does not exist or is not visible to you.")
    return row.ChatAttachment


def update_payload(conversation, attachment, visibility):
    """Build the live frame that sends clients the new Jira state of an attachment."""
    return {
        "type": "attachment",
        "conversation_id": conversation.id,
        "message_id": attachment.message_id,
        "attachment": attachment_view(conversation.id, attachment),
        "visibility": visibility,
    }


def wake_attachment_worker():
    worker = current_app.extensions.get("attachment_worker")
    if worker is not None:
        worker.wake()
