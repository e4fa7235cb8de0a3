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

from sqlalchemy import select, update

from ..chat.models import AuthorRole, ConversationState, MessageKind, Visibility
from ..settings import get_settings
from .deadlines import iso_utc, parse_utc, schedule, sla_now, update_next_due
from .live import latest_clock, queue_payload
from .models import ClockKind, ClockState, SlaClock
from .policy import (
    calendar_from_settings,
    policy_from_settings,
    priority_from_settings,
    waiting_statuses_from_settings,
)

log = logging.getLogger(__name__)


# -- clock changes ------------------------------------------------------------------------------

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
             round_number, tier, priority, window, iso_utc(clock.deadline_at))
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
             conversation.id, conversation.issue_key, account_id, iso_utc(clock.met_at),
             iso_utc(clock.deadline_at), " (late)" if late else "")


def _close_pause(clock, now):
    pauses = [list(pair) for pair in clock.pauses or []]
    if pauses and pauses[-1][1] is None:
        pauses[-1][1] = iso_utc(max(now, parse_utc(pauses[-1][0])))
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
        paused_from = max([now, clock.started_at] + [parse_utc(to) for _, to in clock.pauses or [] if to])
        clock.pauses = [list(pair) for pair in clock.pauses or []] + [[iso_utc(paused_from), None]]
        clock.state = ClockState.PAUSED
        action = "paused"
    elif not waiting and clock.state == ClockState.PAUSED and not _held(session, conversation, now):
        _close_pause(clock, now)
        clock.state = ClockState.RUNNING
        action = "resumed"
    else:
        return clock
    schedule(clock, calendar_from_settings(settings))
    clock.version += 1
    queue_payload(session, conversation, clock)
    log.info("SLA clock %s %s: conversation %s (%s) status %r, deadline %s", clock.id, action,
             conversation.id, conversation.issue_key, conversation.jira_status, iso_utc(clock.deadline_at))
    return clock


def _held(session, conversation, now):
    from ..chat.moves_sla import is_held

    return is_held(session, conversation.id, now)


def hold(session, conversation, now):
    """Pause the open clock until release_hold (an appointment), in the caller's transaction.

    A running clock pauses, and a clock already paused stays paused. Return the open clock, or None
    when there is none.
    """
    clock = latest_clock(session, conversation.id)
    if clock is None or clock.state not in ClockState.OPEN:
        return None
    if clock.state == ClockState.PAUSED:
        return clock
    paused_from = max([now, clock.started_at] + [parse_utc(to) for _, to in clock.pauses or [] if to])
    clock.pauses = [list(pair) for pair in clock.pauses or []] + [[iso_utc(paused_from), None]]
    clock.state = ClockState.PAUSED
    schedule(clock, calendar_from_settings(get_settings(conversation.installation_id)))
    clock.version += 1
    queue_payload(session, conversation, clock)
    log.info("SLA clock %s paused until an appointment: conversation %s (%s)", clock.id, conversation.id,
             conversation.issue_key)
    return clock


def release_hold(session, conversation, now):
    """Resume the clock that hold() paused, unless the Jira status keeps it paused; return the clock or None."""
    clock = latest_clock(session, conversation.id)
    if clock is None or clock.state != ClockState.PAUSED:
        return None
    settings = get_settings(conversation.installation_id)
    waiting = (conversation.jira_status or "").casefold() in waiting_statuses_from_settings(settings)
    if waiting and policy_from_settings(settings, clock.tier).pause_while_waiting_for_customer:
        return clock
    _close_pause(clock, now)
    clock.state = ClockState.RUNNING
    schedule(clock, calendar_from_settings(settings))
    clock.version += 1
    queue_payload(session, conversation, clock)
    log.info("SLA clock %s resumed after an appointment hold: conversation %s (%s), deadline %s", clock.id,
             conversation.id, conversation.issue_key, iso_utc(clock.deadline_at))
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

