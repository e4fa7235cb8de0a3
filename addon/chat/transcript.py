"""The printable HTML transcript of a conversation, in the reader's language.

Two versions exist. The agent version contains every entry, with internal notes and internal events
marked as such. The public version, for key users and for the file attached to the request when it
is resolved, contains only public entries. Jinja autoescaping escapes everything a person typed.
The stylesheet is inlined, so an attached transcript still prints well when opened from Jira.
"""

from dataclasses import dataclass
from pathlib import Path

from flask import current_app, render_template
from flask_babel import force_locale, gettext
from sqlalchemy import select

from ..access.models import Subscription
from ..models import utcnow
from ..sla.issue_property import calendar_zone
from .actions import database
from .models import AuthorRole, Message, MessageKind, Visibility

LANGUAGES = ("fr", "en")
# Events of the key user's chat that its log hides (static/chat/messages.js), so their transcript does too.
HIDDEN_PUBLIC_EVENTS = ("satisfaction_asked",)
# The names of the Jira statuses that the chat translates, by lower-case name, to their French msgid.
STATUS_NAMES = {
    "open": "Ouvert",
    "waiting for support": "En attente du support",
    "waiting for customer": "En attente du client",
    "in progress": "En cours",
    "pending": "En attente",
    "escalated": "Escaladé",
    "work in progress": "Travail en cours",
    "canceled": "Annulé",
    "cancelled": "Annulé",
}


class Audience:
    """The audience of a transcript: the support team, or the customer side (public entries only)."""

    AGENT = "agent"
    PUBLIC = "public"


@dataclass(frozen=True)
class Entry:
    """One line of the transcript, ready for the template."""

    seq: int
    time: str
    author: str
    text: str
    is_event: bool
    internal: bool
    deleted: bool


def language_of(value):
    """Return "fr" or "en" from a `lang` parameter or a locale; French when unknown."""
    language = str(value or "").replace("-", "_").split("_")[0].lower()
    return language if language in LANGUAGES else "fr"


def event_text(message):
    """Return the text of an event in the current locale; events the chat does not name keep their body."""
    texts = {
        "request_resolved": gettext("Demande résolue"),
        "request_closed": gettext("Demande clôturée"),
        "request_reopened": gettext("Demande rouverte"),
        "solution_proposed": gettext("Solution proposée par le support"),
        "solution_validated": gettext("Solution validée"),
        "solution_persists": gettext("Le problème persiste"),
        "satisfaction_asked": gettext("Question de satisfaction posée à l'utilisateur clé"),
    }
    if message.event_type in texts:
        return texts[message.event_type]
    if message.event_type == "status_changed":
        name = STATUS_NAMES.get((message.body or "").strip().lower())
        return gettext("Statut : {status}").replace("{status}", gettext(name) if name else message.body or "")
    return message.body or message.event_type or ""


def author_label(message):
    if message.kind == MessageKind.EVENT and not message.author_name:
        return "Support Chat"
    if message.author_name:
        return message.author_name
    if message.author_role == AuthorRole.AGENT:
        return gettext("Support")
    if message.author_role == AuthorRole.SYSTEM:
        return "Support Chat"
    return gettext("Utilisateur clé")


def transcript_messages(conversation, audience, up_to_seq=None):
    """Return the conversation's entries that `audience` may read, in `seq` order."""
    statement = select(Message).where(Message.conversation_id == conversation.id).order_by(Message.seq)
    if up_to_seq is not None:
        statement = statement.where(Message.seq <= up_to_seq)
    if audience != Audience.AGENT:
        statement = statement.where(Message.visibility == Visibility.PUBLIC)
    rows = database().session.execute(statement).scalars()
    if audience == Audience.AGENT:
        return list(rows)
    return [row for row in rows if not (row.kind == MessageKind.EVENT and row.event_type in HIDDEN_PUBLIC_EVENTS)]


def organization_name(conversation):
    """Return the organisation's name from its subscription, else its JSM id, else None."""
    if not conversation.organization_id:
        return None
    name = database().session.execute(
        select(Subscription.organization_name).where(
            Subscription.installation_id == conversation.installation_id,
            Subscription.organization_id == conversation.organization_id,
        ).order_by(Subscription.id.desc()).limit(1)
    ).scalar_one_or_none()
    return name or conversation.organization_id


def participants(messages):
    """Return the people who wrote messages, as (name, role) pairs in order of first message."""
    seen = {}
    for message in messages:
        if message.kind != MessageKind.MESSAGE:
            continue
        key = message.author_account_id or message.author_name or message.author_role
        if key not in seen:
            seen[key] = (author_label(message), message.author_role)
    return list(seen.values())


def format_time(moment, zone):
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def stylesheet():
    """Return the transcript's CSS (static/transcript.css), which the page inlines."""
    path = Path(current_app.static_folder) / "transcript.css"
    return path.read_text(encoding="utf-8")


def render_transcript(conversation, audience, language, up_to_seq=None, generated_at=None):
    """Render the transcript of `conversation` for `audience` in `language` ("fr" or "en"); return HTML text.

    `up_to_seq` stops the transcript at that entry, so that the file attached for one resolution
    contains the same entries whenever the attempt that writes it runs.
    """
    language = language_of(language)
    zone = calendar_zone(conversation.installation_id)
    messages = transcript_messages(conversation, audience, up_to_seq)
    with force_locale(language):
        entries = [
            Entry(
                seq=message.seq,
                time=format_time(message.created_at, zone),
                author=author_label(message),
                text=event_text(message) if message.kind == MessageKind.EVENT else message.body,
                is_event=message.kind == MessageKind.EVENT,
                internal=message.visibility == Visibility.INTERNAL,
                deleted=message.deleted_at is not None,
            )
            for message in messages
        ]
        roles = {
            AuthorRole.AGENT: gettext("Support"),
            AuthorRole.CUSTOMER: gettext("Utilisateur clé"),
            AuthorRole.SYSTEM: "Support Chat",
        }
        return render_template(
            "transcript.html",
            lang=language,
            conversation=conversation,
            organization=organization_name(conversation),
            participants=[(name, roles.get(role, role)) for name, role in participants(messages)],
            entries=entries,
            agent_version=audience == Audience.AGENT,
            time_zone=getattr(zone, "key", str(zone)),
            generated_at=format_time(generated_at or utcnow(), zone),
            css=stylesheet(),
        )


def transcript_filename(conversation, suffix=""):
    """Return the file name of a transcript, e.g. "transcript-SUP-12.html" (ASCII only)."""
    key = "".join(character for character in conversation.issue_key if character.isalnum() or character == "-")
    return f"transcript-{key or conversation.id}{suffix}.html"
