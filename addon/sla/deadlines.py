"""Deadline arithmetic of SLA clocks: the current instant, the business minutes a clock has
counted, and where its warning and deadline fall on the site's business calendar.

These functions change only the clock row they are given. Callers hold the row's lock and commit.
"""

import logging
from datetime import datetime, timezone

from flask import current_app

from .calendar import CalendarError
from .models import ClockState

log = logging.getLogger(__name__)


def sla_now():
    """Return the current instant (aware, UTC) from the app's injectable clock."""
    now = current_app.extensions.get("sla_now")
    return now() if now is not None else datetime.now(timezone.utc)


def iso_utc(moment):
    """Format an aware instant as UTC ISO 8601 (None gives None)."""
    return moment.astimezone(timezone.utc).isoformat() if moment is not None else None


def parse_utc(text):
    """Parse an ISO 8601 instant into an aware UTC datetime (empty gives None)."""
    return datetime.fromisoformat(text).astimezone(timezone.utc) if text else None


def active_segments(clock):
    """Return the intervals in which the clock counts: (start, end) pairs, end None for the open one."""
    segments = []
    cursor = clock.started_at
    for paused_from, paused_to in clock.pauses or []:
        segments.append((cursor, parse_utc(paused_from)))
        cursor = parse_utc(paused_to)
        if cursor is None:
            return segments
    segments.append((cursor, None))
    return segments


def _instant_after(calendar, segments, minutes):
    """Return the instant at which `minutes` business minutes of `segments` have elapsed, or None.

    None means that the closed segments do not reach `minutes` and no segment is open (a pause).
    """
    consumed = 0.0
    for start, end in segments:
        if end is None:
            return calendar.add_business_minutes(start, minutes - consumed).astimezone(timezone.utc)
        length = calendar.business_minutes_between(start, end)
        if consumed + length >= minutes:
            return calendar.add_business_minutes(start, minutes - consumed).astimezone(timezone.utc)
        consumed += length
    return None


def consumed_minutes(clock, calendar, until):
    """Return the business minutes the clock has counted up to `until`."""
    total = 0.0
    for start, end in active_segments(clock):
        end = until if end is None else min(end, until)
        if end > start:
            total += calendar.business_minutes_between(start, end)
    return total


def schedule(clock, calendar):
    """Recompute the warning and deadline instants of an open clock and its `next_due_at`.

    The deadline is where the business minutes over the active segments reach the window; the
    warning is where they reach `warning_percent` of it. A deadline that lands on a closing time
    is that closing time (the calendar's rule).
    """
    segments = active_segments(clock)
    try:
        clock.deadline_at = _instant_after(calendar, segments, clock.window_minutes)
        clock.warning_at = _instant_after(calendar, segments, clock.window_minutes * clock.warning_percent / 100)
    except CalendarError as error:
        # A calendar without opening hours ahead has no deadline; the chat must still open.
        log.error("SLA clock %s of conversation %s has no deadline: %s", clock.id, clock.conversation_id, error)
        clock.deadline_at = clock.warning_at = None
    update_next_due(clock)


def update_next_due(clock):
    """Set `next_due_at` to the earliest warning or breach instant that has not fired yet.

    A clock that is met or stopped still fires the instants it passed before it ended, so that a
    breach that happened is recorded even when the sweep had not yet run.
    """
    ended_at = clock.met_at or clock.stopped_at
    due = []
    for fired, moment in ((clock.warned, clock.warning_at), (clock.breached, clock.deadline_at)):
        if fired or moment is None:
            continue
        if clock.state not in ClockState.OPEN and (ended_at is None or moment > ended_at):
            continue
        due.append(moment)
    clock.next_due_at = min(due) if due else None

