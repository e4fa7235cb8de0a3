"""The words of an SLA breach, in French then English: the internal comment and the notification.

Deadlines are written in the site calendar's time zone, which the text names.
"""

from html import escape

from babel.dates import format_datetime

from .models import ClockKind

# The response a clock waits for, in French and in English.
RESPONSE_WORDS = {
    ClockKind.FIRST_RESPONSE: ("première réponse", "first response"),
    ClockKind.NEXT_RESPONSE: ("réponse suivante", "next response"),
}


def zone_name(zone):
    return getattr(zone, "key", None) or str(zone)


def breach_sentences(clock, event, zone):
    """Return the (French, English) sentences that state the breach of `clock` at `event.due_at`."""
    french_kind, english_kind = RESPONSE_WORDS.get(clock.kind, RESPONSE_WORDS[ClockKind.FIRST_RESPONSE])
    french_deadline = format_datetime(event.due_at, "EEEE d MMMM y 'à' HH:mm", tzinfo=zone, locale="fr_FR")
    english_deadline = format_datetime(event.due_at, "EEEE d MMMM y 'at' HH:mm", tzinfo=zone, locale="en")
    french = (f"Délai de {french_kind} dépassé : un technicien du support devait répondre publiquement à "
              f"cette demande avant le {french_deadline} (fuseau horaire {zone_name(zone)}). "
              f"Contrat : {clock.tier}, priorité : {clock.priority}.")
    english = (f"{english_kind.capitalize()} SLA breached: a support agent had to answer this request "
               f"publicly by {english_deadline} ({zone_name(zone)} time). "
               f"Tier: {clock.tier}, priority: {clock.priority}.")
    return french, english


def breach_comment(clock, event, zone):
    """Return the text of the internal comment that records a breach on the request."""
    french, english = breach_sentences(clock, event, zone)
    return f"{french}\n\n{english}"


def breach_notification(clock, event, zone, issue_key, issue_url):
    """Return (subject, text body, HTML body) of the notification mail about a breach."""
    french_kind, english_kind = RESPONSE_WORDS.get(clock.kind, RESPONSE_WORDS[ClockKind.FIRST_RESPONSE])
    french, english = breach_sentences(clock, event, zone)
    subject = f"[SLA] {issue_key} : délai de {french_kind} dépassé / {english_kind} SLA breached"
    text_body = f"{french}\n\n{english}\n\n{issue_key} : {issue_url}"
    html_body = (f"<p>{escape(french)}</p><p>{escape(english)}</p>"
                 f'<p><a href="{escape(issue_url)}">{escape(issue_key)}</a></p>')
    return subject, text_body, html_body
