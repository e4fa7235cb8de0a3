"""What the SLA of a conversation shows, and the live frames that announce each change of its clock.

The agent panel shows the whole clock (`agent_view`). The key user sees only when a technician
will answer and, outside opening hours, when support opens (`customer_view`). Both views name the
calendar's time zone, in which the screens write their times, and carry the clock's `version`
("<clock id>.<change count>"), by which a client keeps the newest of the states it receives.

Each change of a clock queues two frames, published once its transaction commits: "sla" with the
agent view, which `addon.chat.fanout.may_receive` keeps from customers, and "sla_customer" with
the customer view and nothing else. A long-polling client sends the version it shows, and
`poll_frame` returns its frame when the clock has changed since.
"""

import logging

from sqlalchemy import event, select
from sqlalchemy.orm import Session, object_session

from ..settings import get_settings
from .calendar import CalendarError
from .deadlines import consumed_minutes, iso_utc, sla_now
from .models import ClockKind, ClockState, SlaClock
from .policy import calendar_from_settings, policy_from_settings, priority_from_settings

log = logging.getLogger(__name__)

AGENT_FRAME = "sla"
CUSTOMER_FRAME = "sla_customer"
# session.info keys: the frames to publish once the session's transaction commits, and the
# calendars of the sites whose clocks changed in that transaction.
PENDING_PAYLOADS = "sla_pending_payloads"
SITE_CALENDARS = "sla_site_calendars"


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


# -- views --------------------------------------------------------------------------------------

def clock_version(clock):
    """Return the version of a clock's state: its id and change count, such as "12.3"."""
    return f"{clock.id}.{clock.version}"


def zone_name(calendar):
    """Return the IANA name of the calendar's time zone."""
    zone = calendar.timezone
    return getattr(zone, "key", None) or str(zone)


def agent_view(clock, calendar=None, now=None):
    """Return the SLA state of a clock as the agent panel shows it.

    Without `calendar`, the view has no time zone and no business minutes left for a pause.
    """
    view = {
        "kind": clock.kind,
        "round": clock.round,
        "state": clock.state,
        "deadline": iso_utc(clock.deadline_at),
        "warning_at": iso_utc(clock.warning_at),
        "warned": clock.warned,
        "breached": clock.breached,
        "paused": clock.state == ClockState.PAUSED,
        "met_at": iso_utc(clock.met_at),
        "tier": clock.tier,
        "priority": clock.priority,
        "window_minutes": clock.window_minutes,
        "timezone": zone_name(calendar) if calendar is not None else None,
        "version": clock_version(clock),
    }
    if clock.state == ClockState.PAUSED and calendar is not None:
        # A paused clock has no deadline yet; the panel shows the business minutes left instead.
        now = now or sla_now()
        used = consumed_minutes(clock, calendar, now)
        view["remaining_minutes"] = max(0, round(clock.window_minutes - used))
        view["held_until"] = _appointment_hold(clock, now)
    return view


def _appointment_hold(clock, now):
    """Return the UTC ISO start of the appointment that holds the clock, or None when the pause is
    the Jira status's (waiting for the customer)."""
    from ..chat.moves_sla import held_until

    session = object_session(clock)
    if session is None:
        return None
    return iso_utc(held_until(session, clock.conversation_id, now))


def customer_view(clock, calendar, now):
    """Return the SLA field shown to the key user: the answer-by instant, or when support opens."""
    answer_by = None
    if clock.state == ClockState.RUNNING and clock.deadline_at is not None and clock.deadline_at > now:
        answer_by = iso_utc(clock.deadline_at)
    return {
        "answer_by": answer_by,
        "overdue": clock.state == ClockState.RUNNING and clock.breached,
        "support_opens_at": support_opens_at(calendar, now),
        "timezone": zone_name(calendar),
        "answered": clock.state == ClockState.MET,
        "version": clock_version(clock),
    }


def support_opens_at(calendar, now):
    """Return the next opening as UTC ISO 8601 when support is closed at `now`, else None."""
    if calendar.is_open(now):
        return None
    try:
        return iso_utc(calendar.next_opening(now))
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
        answer_by = iso_utc(calendar.add_business_minutes(now, window))
    except CalendarError:
        answer_by = None
    return {
        "answer_by": answer_by,
        "support_opens_at": support_opens_at(calendar, now),
        "timezone": zone_name(calendar),
        "priority": priority,
    }


# -- live frames --------------------------------------------------------------------------------

def sla_payload(conversation, clock, calendar=None, now=None):
    """Return the agent-only realtime frame announcing a clock's new state."""
    return {"type": AGENT_FRAME, "conversation_id": conversation.id, "issue_key": conversation.issue_key,
            "sla": agent_view(clock, calendar, now)}


def customer_payload(conversation, clock, calendar, now):
    """Return the realtime frame that gives key users a clock's new state: the customer view alone."""
    return {"type": CUSTOMER_FRAME, "conversation_id": conversation.id, "issue_key": conversation.issue_key,
            "sla": customer_view(clock, calendar, now)}


def poll_frame(conversation, viewer, known_version):
    """Return the SLA frame for `viewer` when the conversation's clock is no longer at `known_version`.

    Returns None when the version is the same or the conversation has no clock. The long-poll
    route calls this, because frames published between two polls reach no one.
    """
    from ..chat.actions import database

    clock = latest_clock(database().session, conversation.id, lock=False)
    if clock is None or clock_version(clock) == known_version:
        return None
    calendar = calendar_from_settings(get_settings(conversation.installation_id))
    now = sla_now()
    if viewer.is_agent:
        return sla_payload(conversation, clock, calendar, now)
    return customer_payload(conversation, clock, calendar, now)


def queue_payload(session, conversation, clock):
    """Queue the clock's two frames, to be published once the session's transaction commits.

    Call it after the clock's last change in the transaction (and after a flush for a new clock,
    which needs its id). A later call for the same conversation replaces the frames.
    """
    installation_id = conversation.installation_id
    calendars = session.info.setdefault(SITE_CALENDARS, {})
    if installation_id not in calendars:
        calendars[installation_id] = calendar_from_settings(get_settings(installation_id))
    calendar = calendars[installation_id]
    now = sla_now()
    pending = session.info.setdefault(PENDING_PAYLOADS, {})
    pending[(installation_id, conversation.id)] = (
        sla_payload(conversation, clock, calendar, now),
        customer_payload(conversation, clock, calendar, now),
    )


@event.listens_for(Session, "after_commit")
def _publish_after_commit(session):
    session.info.pop(SITE_CALENDARS, None)
    pending = session.info.pop(PENDING_PAYLOADS, None)
    if not pending:
        return
    from ..chat import fanout

    for (installation_id, conversation_id), payloads in pending.items():
        try:
            for payload in payloads:
                fanout.publish(installation_id, conversation_id, payload)
        except Exception:  # noqa: BLE001  (the data is committed; a lost frame only delays the screens)
            log.exception("Publishing the SLA state of conversation %s failed", conversation_id)


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_rollback(session, _previous_transaction):
    session.info.pop(SITE_CALENDARS, None)
    session.info.pop(PENDING_PAYLOADS, None)
