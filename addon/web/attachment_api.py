"""JSON routes of files in the chat under `/api/chats/<id>/attachments`, the limits the chat's script
checks before an upload, and their settings under `/api/admin/attachments`.

An upload is a multipart POST with the field `file`, and optionally `client_message_id` and
`visibility` (agents: "internal" for a note). A download is served with the recognised type,
`X-Content-Type-Options: nosniff`, and `Content-Disposition: attachment` except for images, which
are shown inline (no image type the chat accepts can run a script). Authentication, errors and
`?lang=` work as in addon/web/api.py.
"""

import logging
from urllib.parse import quote

from flask import Blueprint, Response, g, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from ..access.admin_auth import require_admin
from ..atlassian.auth import require_jwt
from ..atlassian.forge.files import fit_reusable
from ..chat import attachments, fanout
from ..chat.access import require_writer
from ..chat.attachments_types import FileTooLarge, size_text, validate_limits
from ..chat.models import Visibility
from ..errors import AddonError, InvalidInput
from ..settings import set_setting
from .api import json_body, load_conversation, render_error

log = logging.getLogger(__name__)

bp = Blueprint("attachment_api", __name__, url_prefix="/api")
bp.register_error_handler(AddonError, render_error)

# Room for the multipart boundaries and the small form fields around the file.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


def _too_large(limits):
    return FileTooLarge(
        f"Le fichier dépasse la taille maximale de {size_text(limits.max_bytes, 'fr')} ; envoyez un fichier "
        f"plus petit ou compressé. / The file exceeds the maximum size of {size_text(limits.max_bytes, 'en')}; "
        f"send a smaller or compressed file.")


@bp.get("/attachments/limits")
@require_jwt("context")
def limits():
    return jsonify({"limits": attachments.limits_of(g.connect.installation.id).to_dict()})


@bp.post("/chats/<int:conversation_id>/attachments")
@require_jwt("context")
@fit_reusable
def upload(conversation_id):
    viewer, conversation = load_conversation(conversation_id)
    require_writer(viewer, conversation)
    site_limits = attachments.limits_of(viewer.installation_id)
    # A body larger than the limit allows is rejected before it is read.
    request.max_content_length = site_limits.max_bytes + MULTIPART_OVERHEAD_BYTES
    try:
        upload_file = request.files.get("file")
        form = request.form
    except RequestEntityTooLarge:
        raise _too_large(site_limits) from None
    if upload_file is None:
        raise InvalidInput("Aucun fichier dans le champ « file » de la requête. "
                           "/ No file in the request's \"file\" field.")
    data = upload_file.read(site_limits.max_bytes + 1)

    message, _attachment, created = attachments.upload(
        viewer, conversation.id, upload_file.filename, upload_file.mimetype, data,
        visibility=form.get("visibility") or Visibility.PUBLIC,
        client_message_id=form.get("client_message_id") or None,
    )
    return jsonify({
        "ack": {"conversation_id": conversation.id, "client_message_id": message.client_message_id,
                "seq": message.seq, "id": message.id},
        "message": fanout.message_payload(conversation, message),
    }), 201 if created else 200


@bp.get("/chats/<int:conversation_id>/attachments/<int:attachment_id>")
@require_jwt("context")
@fit_reusable
def download(conversation_id, attachment_id):
    viewer, conversation = load_conversation(conversation_id)
    attachment = attachments.access_attachment(viewer, conversation, attachment_id)
    inline = attachment.content_type.startswith("image/")
    # RFC 6266: an ASCII fallback name, and the real one percent-encoded in UTF-8.
    fallback = "".join(char if char.isascii() and char.isprintable() and char not in '"\\' else "_"
                       for char in attachment.filename)
    disposition = (f"{'inline' if inline else 'attachment'}; filename=\"{fallback}\"; "
                   f"filename*=UTF-8''{quote(attachment.filename, safe='')}")
    content_type = attachment.content_type
    if content_type.startswith("text/"):
        content_type += "; charset=utf-8"
    return Response(attachment.data, headers={
        "Content-Type": content_type,
        "Content-Disposition": disposition,
        "X-Content-Type-Options": "nosniff",
        # Nothing in a served file may run or load anything, even if a browser opened it as a page.
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, no-store",
    })


@bp.get("/admin/attachments")
@require_jwt("context")
@require_admin
def show_settings():
    return jsonify({"limits": attachments.limits_of(g.connect.installation.id).to_dict()})


@bp.put("/admin/attachments")
@require_jwt("context")
@require_admin
def update_settings():
    body = json_body()
    installation = g.connect.installation
    current = attachments.limits_of(installation.id)
    try:
        max_bytes, kinds = validate_limits(body.get("max_bytes", current.max_bytes),
                                           body.get("kinds", list(current.kinds)))
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    set_setting(installation.id, "attachment_max_bytes", max_bytes)
    set_setting(installation.id, "attachment_types", kinds)
    log.info("Attachment limits changed on client_key %s: %s bytes, kinds %s",
             installation.client_key, max_bytes, kinds)
    return jsonify({"limits": attachments.limits_of(installation.id).to_dict()})
