"""The `supportchat.sla` issue property: the SLA state of a request, indexed for JQL.

Its value is `{"state", "breached", "warned", "deadline", "warningAt", "tier", "priority", "kind",
"round"}` for the conversation's latest clock. The descriptor's `jiraEntityProperties` module
indexes it, so that agents can build queues such as `chatSlaBreached = true` or
`chatSlaDeadline < now()`. Instants are ISO 8601 in the site calendar's time zone, with the offset.

Every change to a clock increments `sla_clocks.version`. `write_sla_property` stores the property,
then records the version it wrote in `property_version`, so `version > property_version` marks a
property that Jira does not show yet, and `sync_pending_properties` catches those up.
"""

import logging
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from ..atlassian.jira_client import jira_client_for
from ..atlassian.jira_errors import JiraError
from ..chat.actions import database
from ..chat.models import Conversation
from ..models import Installation
from .models import SlaClock
from .policy import calendar_for, policy_for

log = logging.getLogger(__name__)

SLA_PROPERTY_KEY = "supportchat.sla"
# A write that keeps finding a newer clock version gives up after this many rounds. The clock
# stays marked (version > property_version), so a later sync writes it again.
MAX_WRITE_ROUNDS = 3
SYNC_BATCH = 50


def calendar_zone(installation_id):
    """Return the tzinfo of the site's business calendar."""
    zone = calendar_for(installation_id).timezone
    return ZoneInfo(zone) if isinstance(zone, str) else zone


def local_iso(moment, zone):
    """Format an aware instant as ISO 8601 in `zone`, to the second, with its offset (None gives None)."""
    if moment is None:
        return None
    return moment.astimezone(zone).isoformat(timespec="seconds")


def property_value(clock, zone):
    """Build the property value that shows `clock`.

    `breached` is true only when the clock breached and its policy keeps `breached_property` on.
    """
    policy = policy_for(clock.installation_id, clock.tier)
    return {
        "state": clock.state,
        "breached": bool(clock.breached and policy.escalation.breached_property),
        "warned": bool(clock.warned),
        "deadline": local_iso(clock.deadline_at, zone),
        "warningAt": local_iso(clock.warning_at, zone),
        "tier": clock.tier,
        "priority": clock.priority,
        "kind": clock.kind,
        "round": clock.round,
    }


def latest_clock(session, conversation_id):
    """Return the conversation's newest clock (the one the property shows), or None."""
    statement = (
        select(SlaClock).where(SlaClock.conversation_id == conversation_id)
        .order_by(SlaClock.id.desc()).limit(1)
    )
    return session.execute(statement).scalar_one_or_none()


def write_sla_property(clock):
    """Store the `supportchat.sla` property of the clock's request and mark its version written.

    `clock` is an SlaClock or its id. The property shows the conversation's latest clock, which
    may be newer than `clock`. If the clock changes while the property is being written, the
    newer state is written too, so that a slower writer never leaves an older state in Jira.
    Call it after the clock's change is committed: it reads and writes in sessions of its own.
    Returns True when the property matches the latest clock version, False when there was nothing
    to write (no clock, or the app is no longer installed). Raises JiraError when Jira fails.
    """
    clock_id = clock if isinstance(clock, int) else clock.id
    with new_session() as session:
        found = session.get(SlaClock, clock_id)
        if found is None:
            return False
        conversation = session.get(Conversation, found.conversation_id)
        installation = session.get(Installation, conversation.installation_id)
    if installation is None or not installation.is_active:
        log.info("SLA property of conversation %s not written: the app is no longer installed there",
                 conversation.id)
        _give_up(conversation.id)
        return False
    zone = calendar_zone(installation.id)

    with jira_client_for(installation) as jira:
        for _round in range(MAX_WRITE_ROUNDS):
            with new_session() as session:
                current = latest_clock(session, conversation.id)
                version = current.version
                value = property_value(current, zone)
            jira.set_issue_property(conversation.issue_key, SLA_PROPERTY_KEY, value)
            if _mark_written(conversation.id, current.id, version):
                log.info("SLA property of %s written (clock %s version %s, state %s, breached %s)",
                         conversation.issue_key, current.id, version, value["state"], value["breached"])
                return True
    log.warning("SLA property of %s kept changing while written; a later sync writes it again",
                conversation.issue_key)
    return False


def new_session():
    """Return a session of its own, apart from the thread's scoped session and its transaction."""
    return database().session.session_factory()


def _give_up(conversation_id):
    """Mark every clock of the conversation written, so that no sync tries its property again."""
    with new_session() as session, session.begin():
        session.execute(
            update(SlaClock)
            .where(SlaClock.conversation_id == conversation_id, SlaClock.property_version < SlaClock.version)
            .values(property_version=SlaClock.version)
            .execution_options(synchronize_session=False)
        )


def _give_up_clock(clock_id):
    with new_session() as session:
        conversation_id = session.execute(
            select(SlaClock.conversation_id).where(SlaClock.id == clock_id)).scalar_one_or_none()
    if conversation_id is not None:
        _give_up(conversation_id)


def _mark_written(conversation_id, clock_id, version):
    """Record that the property shows `version` of the clock; return False if the clock changed since.

    Older clocks of the conversation are marked written as well, because the property no longer
    shows them.
    """
    with new_session() as session, session.begin():
        session.execute(
            update(SlaClock)
            .where(SlaClock.id == clock_id, SlaClock.version == version, SlaClock.property_version < version)
            .values(property_version=version)
            .execution_options(synchronize_session=False)
        )
        session.execute(
            update(SlaClock)
            .where(SlaClock.conversation_id == conversation_id, SlaClock.id < clock_id,
                   SlaClock.property_version < SlaClock.version)
            .values(property_version=SlaClock.version)
            .execution_options(synchronize_session=False)
        )
        # Another writer may have recorded this version first; only a newer version means "write again".
        current = session.execute(select(SlaClock.version).where(SlaClock.id == clock_id)).scalar_one_or_none()
        return current == version


def sync_pending_properties(installation_id=None, limit=SYNC_BATCH):
    """Write the property of up to `limit` clocks whose latest version Jira does not show yet.

    Returns the number of properties written. A Jira failure on one request is logged and the
    others still run. After a 4xx other than 429 (a deleted issue, a lost permission) the request is
    given up, and after any other failure it stays pending for the next call.
    NOTE: no index serves `property_version < version`, so the query reads every clock row; call
    it every few seconds rather than on each half-second sweep.
    """
    statement = (
        select(SlaClock.id, SlaClock.conversation_id).where(SlaClock.property_version < SlaClock.version)
        .order_by(SlaClock.updated_at).limit(limit)
    )
    if installation_id is not None:
        statement = statement.where(SlaClock.installation_id == installation_id)
    with new_session() as session:
        pending = session.execute(statement).all()

    written = 0
    conversations_done = set()
    for clock_id, conversation_id in pending:
        # One write shows the conversation's latest clock, whichever of its clocks is pending.
        if conversation_id in conversations_done:
            continue
        conversations_done.add(conversation_id)
        try:
            written += bool(write_sla_property(clock_id))
        except JiraError as error:
            if error.status is not None and 400 <= error.status < 500 and error.status != 429:
                # A deleted issue or a lost permission fails the same way at every sync.
                log.warning("SLA property of clock %s not written, and not retried: %s", clock_id, error)
                _give_up_clock(clock_id)
            else:
                log.warning("SLA property of clock %s not written, retried at the next sync: %s", clock_id, error)
    return written
