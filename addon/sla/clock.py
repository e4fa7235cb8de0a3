"""The SLA clocks of conversations: start, meet, pause, resume, stop and recompute.

Rules:
- The first-response clock starts when the chat opens the request, with the window of the
  subscription's tier for the priority the chosen impact maps to.
- A public message by a human agent meets the open clock: one written in the chat by an agent,
  or a public Jira comment by an "atlassian" account other than the request's opener. Customer
  messages, internal notes, events and comments by app users never meet it.
- While the Jira status is one of `waiting_for_customer_statuses`, the clock pauses if the
  policy sets `pause_while_waiting_for_customer`, and it resumes when the status changes again. Resolving or closing the request
  stops an open clock.
- With a next-response window in the policy, a public customer message starts a next-response
  round when no clock is open and the previous one was met or stopped. The next agent reply meets it.

All instants come from `sla_now()`, the time at which the add-on records the change, so that
tests can inject a clock. NOTE: a Jira comment therefore meets the clock when its webhook is
processed, which may be a few seconds after the comment was written.
"""

import logging
from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from ..chat.models import AuthorRole, ConversationState, MessageKind, Visibility
from ..settings import get_settings
from .calendar import CalendarError
from .models import ClockKind, ClockState, SlaClock
from .policy import (
    calendar_from_settings,
    policy_from_settings,
    priority_from_settings,
    waiting_statuses_from_settings,
)

log = logging.getLogger(__name__)

# session.info key of the SLA payloads to publish once the session's transaction commits.
PENDING_PAYLOADS = "sla_pending_payloads"


def sla_now():
    """Return the current instant (aware, UTC) from the app's injectable clock."""
    now = current_app.extensions.get("sla_now")
    return now() if now is not None else datetime.now(timezone.utc)


def _iso(moment):
    return moment.astimezone(timezone.utc).isoformat() if moment is not None else None


def _parse(text):
    return datetime.fromisoformat(text).astimezone(timezone.utc) if text else None


# -- deadlines ----------------------------------------------------------------------------------

def active_segments(clock):
    """Return the intervals in which the clock counts: (start, end) pairs, end None for the open one."""
    segments = []
    cursor = clock.started_at
    for paused_from, paused_to in clock.pauses or []:
        segments.append((cursor, _parse(paused_from)))
        cursor = _parse(paused_to)
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


# -- clock changes ------------------------------------------------------------------------------

def latest_clock(session, conversation_id, lock=True):
    """Return the conversation's most recent clock (locked for update by default), or None."""
    statement = (
        select(SlaClock).where(SlaClock.conversation_id == conversation_id)
        .order_by(SlaClock.id.desc()).limit(1)
        .execution_options(populate_existing=True)
    )
    if lock:
        statement = statement.with_for_update()
    return session.execute(statement).scalar_one_or_none()


def _new_clock(session, conversation, settings, kind, round_number, tier, priority, now):
    policy = policy_from_settings(settings, tier)
    window = policy.window_minutes(kind, priority)
    if window is None:
        return None
    clock = SlaClock(
        conversation_id=conversation.id, installation_id=conversation.installation_id, kind=kind,
        round=round_number, tier=tier, priority=priority, window_minutes=window,
        warning_percent=policy.warning_percent, started_at=now, pauses=[], state=ClockState.RUNNING,
        warned=False, breached=False, version=1, property_version=0,
    )
    schedule(clock, calendar_from_settings(settings))
    session.add(clock)
    session.flush()
    queue_payload(session, conversation, clock)
    log.info("SLA clock %s started: conversation %s (%s), %s round %s, tier %s, priority %s, "
             "%s business minutes, deadline %s", clock.id, conversation.id, conversation.issue_key, kind,
             round_number, tier, priority, window, _iso(clock.deadline_at))
    return clock


def start_first_response(session, conversation, tier, now=None):
    """Start the first-response clock of a new conversation, in the caller's transaction.

    `tier` is the SLA tier of the subscription the chat was started under. Returns the clock.
    """
    settings = get_settings(conversation.installation_id)
    priority = priority_from_settings(settings, conversation.impact)
    return _new_clock(session, conversation, settings, ClockKind.FIRST_RESPONSE, 1, tier or "standard",
                      priority, now or sla_now())


def on_message(session, conversation, message, *, human_agent):
    """Meet or start a clock for a message stored in the caller's transaction.

    `human_agent` is True when a person of the support side wrote it. The caller holds the
    conversation's lock. Messages that cannot change a clock return before any query.
    """
    if message.kind != MessageKind.MESSAGE or message.visibility != Visibility.PUBLIC:
        return None
    agent_answer = human_agent and message.author_role == AuthorRole.AGENT
    customer_message = message.author_role == AuthorRole.CUSTOMER
    if not agent_answer and not customer_message:
        return None
    clock = latest_clock(session, conversation.id)
    if clock is None:
        return None
    now = sla_now()

    if agent_answer:
        if clock.state in ClockState.OPEN:
            _meet(session, conversation, clock, message.author_account_id, now)
        return clock

    if clock.state in ClockState.OPEN or conversation.state != ConversationState.OPEN:
        return clock
    settings = get_settings(conversation.installation_id)
    round_number = clock.round + 1 if clock.kind == ClockKind.NEXT_RESPONSE else 1
    started = _new_clock(session, conversation, settings, ClockKind.NEXT_RESPONSE, round_number,
                         clock.tier, clock.priority, now)
    return started or clock


def _meet(session, conversation, clock, account_id, now):
    _close_pause(clock, now)
    clock.state = ClockState.MET
    clock.met_at = max(now, clock.started_at)
    clock.met_by_account_id = account_id
    update_next_due(clock)
    clock.version += 1
    queue_payload(session, conversation, clock)
    late = clock.deadline_at is not None and clock.met_at > clock.deadline_at
    log.info("SLA clock %s met: conversation %s (%s), reply by %s at %s, deadline %s%s", clock.id,
             conversation.id, conversation.issue_key, account_id, _iso(clock.met_at),
             _iso(clock.deadline_at), " (late)" if late else "")


def _close_pause(clock, now):
    pauses = [list(pair) for pair in clock.pauses or []]
    if pauses and pauses[-1][1] is None:
        pauses[-1][1] = _iso(max(now, _parse(pauses[-1][0])))
        clock.pauses = pauses


def on_status(session, conversation):
    """Pause, resume or stop the open clock after the conversation's Jira status changed.

    Called in the transaction that applied the new `state` and `jira_status`, under its lock.
    """
    clock = latest_clock(session, conversation.id)
    if clock is None or clock.state not in ClockState.OPEN:
        return None
    now = sla_now()
    if conversation.state in (ConversationState.RESOLVED, ConversationState.CLOSED):
        _close_pause(clock, now)
        clock.state = ClockState.STOPPED
        clock.stopped_at = max(now, clock.started_at)
        update_next_due(clock)
        clock.version += 1
        queue_payload(session, conversation, clock)
        log.info("SLA clock %s stopped: conversation %s (%s) is %s", clock.id, conversation.id,
                 conversation.issue_key, conversation.state)
        return clock

    settings = get_settings(conversation.installation_id)
    waiting = (conversation.jira_status or "").casefold() in waiting_statuses_from_settings(settings)
    pauses = policy_from_settings(settings, clock.tier).pause_while_waiting_for_customer
    if waiting and pauses and clock.state == ClockState.RUNNING:
        paused_from = max([now, clock.started_at] + [_parse(to) for _, to in clock.pauses or [] if to])
        clock.pauses = [list(pair) for pair in clock.pauses or []] + [[_iso(paused_from), None]]
        clock.state = ClockState.PAUSED
        action = "paused"
    elif not waiting and clock.state == ClockState.PAUSED:
        _close_pause(clock, now)
        clock.state = ClockState.RUNNING
        action = "resumed"
    else:
        return clock
    schedule(clock, calendar_from_settings(settings))
    clock.version += 1
    queue_payload(session, conversation, clock)
    log.info("SLA clock %s %s: conversation %s (%s) status %r, deadline %s", clock.id, action,
             conversation.id, conversation.issue_key, conversation.jira_status, _iso(clock.deadline_at))
    return clock


def recompute_site(installation_id):
    """Recompute the deadlines of every open clock of the site from its current settings.

    Call it after saving the calendar or the policies. A clock takes its tier's current window
    and warning percentage; a paused clock resumes if its policy no longer pauses. Returns the
    number of clocks recomputed.
    """
    from ..chat.actions import database
    from ..chat.models import Conversation

    now = sla_now()
    with database().transaction() as session:
        settings = get_settings(installation_id)
        calendar = calendar_from_settings(settings)
        open_clocks = (SlaClock.installation_id == installation_id) & SlaClock.state.in_(ClockState.OPEN)
        # The no-op UPDATE takes SQLite's write lock before the rows are read; PostgreSQL locks the rows.
        session.execute(update(SlaClock).where(open_clocks).values(version=SlaClock.version))
        clocks = session.execute(
            select(SlaClock).where(open_clocks).order_by(SlaClock.id).with_for_update()
            .execution_options(populate_existing=True)
        ).scalars().all()
        for clock in clocks:
            policy = policy_from_settings(settings, clock.tier)
            window = policy.window_minutes(clock.kind, clock.priority)
            if window is None:
                log.warning("SLA clock %s: tier %s has no %s window any more; its window of %s minutes is kept",
                            clock.id, clock.tier, clock.kind, clock.window_minutes)
                window = clock.window_minutes
            clock.window_minutes = window
            clock.warning_percent = policy.warning_percent
            if clock.state == ClockState.PAUSED and not policy.pause_while_waiting_for_customer:
                _close_pause(clock, now)
                clock.state = ClockState.RUNNING
            schedule(clock, calendar)
            clock.version += 1
            queue_payload(session, session.get(Conversation, clock.conversation_id), clock)
    log.info("SLA deadlines recomputed for installation %s: %s open clocks", installation_id, len(clocks))
    return len(clocks)


# -- views and live updates ---------------------------------------------------------------------

def agent_view(clock, calendar=None, now=None):
    """Return the SLA state of a clock as the agent panel shows it."""
    view = {
        "kind": clock.kind,
        "round": clock.round,
        "state": clock.state,
        "deadline": _iso(clock.deadline_at),
        "warning_at": _iso(clock.warning_at),
        "warned": clock.warned,
        "breached": clock.breached,
        "paused": clock.state == ClockState.PAUSED,
        "met_at": _iso(clock.met_at),
        "tier": clock.tier,
        "priority": clock.priority,
        "window_minutes": clock.window_minutes,
    }
    if clock.state == ClockState.PAUSED and calendar is not None:
        # A paused clock has no deadline yet; the panel shows the business minutes left instead.
        used = consumed_minutes(clock, calendar, now or sla_now())
        view["remaining_minutes"] = max(0, round(clock.window_minutes - used))
    return view


def _zone_name(calendar):
    zone = calendar.timezone
    return getattr(zone, "key", None) or str(zone)


def customer_view(clock, calendar, now):
    """Return the SLA field shown to the key user: the answer-by instant, or when support opens."""
    answer_by = None
    if clock.state == ClockState.RUNNING and clock.deadline_at is not None and clock.deadline_at > now:
        answer_by = _iso(clock.deadline_at)
    return {
        "answer_by": answer_by,
        "overdue": clock.state == ClockState.RUNNING and clock.breached,
        "support_opens_at": support_opens_at(calendar, now),
        "timezone": _zone_name(calendar),
        "answered": clock.state == ClockState.MET,
    }


def support_opens_at(calendar, now):
    """Return the next opening as UTC ISO 8601 when support is closed at `now`, else None."""
    if calendar.is_open(now):
        return None
    try:
        return _iso(calendar.next_opening(now))
    except CalendarError:
        return None


def sla_view(conversation, viewer):
    """Return the SLA field of a conversation for `viewer` (agent or key user), or None without a clock."""
    from ..chat.actions import database

    session = database().session
    clock = latest_clock(session, conversation.id, lock=False)
    if clock is None:
        return None
    settings = get_settings(conversation.installation_id)
    calendar = calendar_from_settings(settings)
    now = sla_now()
    if viewer.is_agent:
        return agent_view(clock, calendar, now)
    return customer_view(clock, calendar, now)


def answer_by_preview(installation_id, tier, impact, now=None):
    """Return what the start form can tell the key user before the chat opens.

    `answer_by` is the first-response deadline of a chat started at `now`, and `support_opens_at`
    is the next opening when support is closed at `now`.
    """
    settings = get_settings(installation_id)
    calendar = calendar_from_settings(settings)
    now = now or sla_now()
    priority = priority_from_settings(settings, impact)
    window = policy_from_settings(settings, tier).window_minutes(ClockKind.FIRST_RESPONSE, priority)
    try:
        answer_by = _iso(calendar.add_business_minutes(now, window))
    except CalendarError:
        answer_by = None
    return {
        "answer_by": answer_by,
        "support_opens_at": support_opens_at(calendar, now),
        "timezone": _zone_name(calendar),
        "priority": priority,
    }


def sla_payload(conversation, clock):
    """Return the agent-only realtime frame announcing a clock's new state."""
    return {"type": "sla", "conversation_id": conversation.id, "issue_key": conversation.issue_key,
            "sla": agent_view(clock)}


def queue_payload(session, conversation, clock):
    """Queue the clock's frame, to be published once the session's transaction commits."""
    pending = session.info.setdefault(PENDING_PAYLOADS, {})
    pending[(conversation.installation_id, conversation.id)] = sla_payload(conversation, clock)


@event.listens_for(Session, "after_commit")
def _publish_after_commit(session):
    pending = session.info.pop(PENDING_PAYLOADS, None)
    if not pending:
        return
    from ..chat import fanout

    for (installation_id, conversation_id), payload in pending.items():
        try:
            fanout.publish(installation_id, conversation_id, payload)
        except Exception:  # noqa: BLE001  (the data is committed; a lost frame only delays the panel)
            log.exception("Publishing the SLA state of conversation %s failed", conversation_id)


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_rollback(session, _previous_transaction):
    session.info.pop(PENDING_PAYLOADS, None)
