"""The transcript route of the chat API: `GET /api/chats/<id>/transcript` returns a printable HTML page.

The route is on the API blueprint (addon.web.api), so it has the same authorization as the chat:
a context JWT, then the permission-checked load of the conversation. Agents get the support version
with internal notes; `?audience=public` shows them what the key user gets. Everyone else gets the
public version. `?lang=fr|en` picks the language. With `?download=1` the response is a download
(Content-Disposition: attachment) instead of a page.
"""

from flask import make_response, request

from ..atlassian.auth import require_jwt
from ..atlassian.forge.files import fit_reusable
from ..chat.transcript import Audience, language_of, render_transcript, transcript_filename
from ..errors import InvalidInput
from .api import bp, load_conversation

PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"


@bp.get("/chats/<int:conversation_id>/transcript")
@require_jwt("context")
@fit_reusable
def transcript(conversation_id):
    viewer, conversation = load_conversation(conversation_id)
    requested = request.args.get("audience")
    if requested not in (None, "", Audience.AGENT, Audience.PUBLIC):
        raise InvalidInput(f"Audience inconnue {requested[:20]!r} : utilisez 'agent' ou 'public'. "
                           f"/ Unknown audience {requested[:20]!r}: use 'agent' or 'public'.")
    audience = Audience.AGENT if viewer.is_agent and requested != Audience.PUBLIC else Audience.PUBLIC

    html = render_transcript(conversation, audience, language_of(request.args.get("lang")))

    response = make_response(html)
    response.mimetype = "text/html"
    disposition = "attachment" if request.args.get("download") in ("1", "true") else "inline"
    response.headers["Content-Disposition"] = f'{disposition}; filename="{transcript_filename(conversation)}"'
    # The page contains personal messages: no shared cache may keep it.
    response.headers["Cache-Control"] = "private, no-store"
    # The page has no script and only inline styles. Escaping keeps typed text inert, and this policy
    # would block a script that got through anyway.
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    return response
