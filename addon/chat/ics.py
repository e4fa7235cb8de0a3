"""iCalendar (RFC 5545) invitations for appointments: one VEVENT in a VCALENDAR.

With the organizer's e-mail address, the file is an iTIP request (RFC 5546: METHOD:REQUEST, which
requires an ORGANIZER) that names the key user as attendee. Without it, the file is a plain event
with no METHOD, ORGANIZER nor ATTENDEE, which calendars import as it is.

Times are written in UTC ("Z" form), so no VTIMEZONE is needed. Text values are escaped
(backslash, semicolon, comma, newline; RFC 5545 section 3.3.11), and content lines are folded so
that none exceeds 75 octets without its CRLF, never inside a UTF-8 character (section 3.1).
"""

from dataclasses import dataclass
from datetime import datetime, timezone

PRODUCT_ID = "-//Support Chat for Jira Service Management//Appointments//FR"
LINE_MAX_OCTETS = 75
CRLF = "\r\n"


@dataclass(frozen=True)
class Person:
    """An organizer or attendee: a name and an e-mail address, either possibly unknown."""

    name: str | None
    email: str | None


@dataclass(frozen=True)
class Invitation:
    uid: str
    start: datetime  # aware
    end: datetime  # aware
    summary: str
    description: str
    stamp: datetime  # aware; when the invitation was created (DTSTAMP)
    organizer: Person | None = None
    attendee: Person | None = None
    url: str | None = None
    language: str = "fr"


def escape_text(value):
    """Escape a TEXT value: backslash first, then semicolon, comma and line breaks."""
    text = (value or "").replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return text.replace("\r\n", "\\n").replace("\r", "\\n").replace("\n", "\\n")


def _parameter(value):
    # A parameter value may not contain a double quote; quoting allows ":", ";" and ",".
    cleaned = " ".join((value or "").replace('"', "'").split())
    return f'"{cleaned}"' if any(char in cleaned for char in ":;,") else cleaned


def utc_stamp(moment):
    """Format an aware datetime as an RFC 5545 UTC DATE-TIME, e.g. 20261208T130000Z."""
    if moment.tzinfo is None:
        raise ValueError(f"datetime {moment.isoformat()} has no time zone")
    return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def fold(line):
    """Fold one content line into chunks of at most 75 octets, continuation lines starting with a space."""
    chunks = []
    current = b""
    limit = LINE_MAX_OCTETS
    for char in line:
        encoded = char.encode("utf-8")
        if len(current) + len(encoded) > limit:
            chunks.append(current.decode("utf-8"))
            current = b""
            limit = LINE_MAX_OCTETS - 1  # the leading space counts
        current += encoded
    chunks.append(current.decode("utf-8"))
    return (CRLF + " ").join(chunks)


def _person_line(name, person, extra=""):
    if person is None or not person.email:
        return None
    cn = f";CN={_parameter(person.name)}" if person.name else ""
    return f"{name}{cn}{extra}:mailto:{person.email}"


def render(invitation):
    """Return the invitation as the text of an .ics file (CRLF line endings, folded lines)."""
    language = f";LANGUAGE={invitation.language}" if invitation.language else ""
    organizer = _person_line("ORGANIZER", invitation.organizer)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODUCT_ID}", "CALSCALE:GREGORIAN"]
    if organizer:
        lines.append("METHOD:REQUEST")
    lines += [
        "BEGIN:VEVENT",
        f"UID:{invitation.uid}",
        f"DTSTAMP:{utc_stamp(invitation.stamp)}",
        f"DTSTART:{utc_stamp(invitation.start)}",
        f"DTEND:{utc_stamp(invitation.end)}",
        f"SUMMARY{language}:{escape_text(invitation.summary)}",
        f"DESCRIPTION{language}:{escape_text(invitation.description)}",
        "STATUS:CONFIRMED",
        "SEQUENCE:0",
    ]
    if organizer:
        lines.append(organizer)
        attendee = _person_line("ATTENDEE", invitation.attendee,
                                ";ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE")
        if attendee:
            lines.append(attendee)
    if invitation.url:
        lines.append(f"URL:{invitation.url}")
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return CRLF.join(fold(line) for line in lines) + CRLF
