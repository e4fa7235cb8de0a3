"""Escalation actions of an SLA event, run on the action pool after the event's row is committed.

A warning updates the `supportchat.sla` issue property and alerts the agent panel. A breach runs
the actions that the tier's policy (`Escalation`) turns on: the panel alert, an internal comment on
the request, a Jira notify to named agents and groups, and a raised priority. The issue property is
always written, and it shows `breached` only when the policy keeps `breached_property` on.

Each action that succeeds is appended to `sla_events.actions_done` and committed at once, and a
retry skips the names already there, so a retry after a partial failure repeats nothing done.
An error that may pass (Jira 5xx or 429 after the client's own retries, a timeout) leaves its
action pending: the others still run, then `EscalationIncomplete` makes a later sweep retry
it. A 4xx other than 429 is taken as permanent (an unknown group, a deleted issue), so the
action is recorded as done, the error kept in `last_error`, and it is not retried.
`actions_done_at` is set once every action is done.

The comment and the notify are not idempotent in Jira. The comment carries the
`supportchat.sla.escalation` comment property naming the event, written in the same call, and
is looked up before posting, so a comment whose success was never recorded is not posted twice.
NOTE: a notify that Jira accepted but whose response was lost (or whose success could not be
committed) is sent again by the retry, because Jira keeps no trace of it to look up.
"""

import logging
import re
from urllib.parse import quote

from sqlalchemy import select, update

from ..atlassian.jira_client import jira_client_for
from ..atlassian.jira_errors import JiraError
from ..chat import fanout
from ..chat.models import Conversation
from ..models import Installation
from ..sync.comment_text import to_adf_literal
from ..sync.outbox_write import INTERNAL_PROPERTY_KEY
from . import escalation_text
from .deadlines import sla_now
from .issue_property import calendar_zone, new_session, write_sla_property
from .live import sla_payload
from .models import EventKind, SlaClock, SlaEvent
from .policy import calendar_for, policy_for

log = logging.getLogger(__name__)

PROPERTY = "property"
PANEL_ALERT = "panel_alert"
INTERNAL_COMMENT = "internal_comment"
NOTIFY = "notify"
RAISE_PRIORITY = "raise_priority"

ESCALATION_PROPERTY_KEY = "supportchat.sla.escalation"
# Jira's default priorities, highest first. `raise_priority` leaves a priority of another scheme
# alone, because its rank is unknown here.
JIRA_DEFAULT_PRIORITIES = ("Highest", "High", "Medium", "Low", "Lowest")
COMMENT_LOOKUP_PAGE_SIZE = 100
LAST_ERROR_MAX_CHARS = 2000
# Jira Cloud group ids are UUIDs. Any other value in notify_groups is taken as a group name.
_GROUP_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


class EscalationIncomplete(Exception):
    """Some actions of an SLA event failed with an error that may pass, so a later sweep retries them."""


class Context:
    """The data the actions of one event use: the event, its clock, conversation, site and policy."""

    def __init__(self, event, clock, conversation, installation):
        self.event = event
        self.clock = clock
        self.conversation = conversation
        self.installation = installation
        self.policy = policy_for(installation.id, clock.tier)
        self.calendar = calendar_for(installation.id)
        self.zone = calendar_zone(installation.id)

    @property
    def issue_key(self):
        return self.conversation.issue_key

    def describe(self):
        return (f"SLA {self.event.kind} event {self.event.id} of {self.issue_key} "
                f"(clock {self.clock.id}, client_key {self.installation.client_key})")


def planned_actions(kind, escalation):
    """Return the names of the actions an event of `kind` runs under the policy's `escalation`, in order."""
    actions = [PROPERTY]
    if escalation.panel_alert:
        actions.append(PANEL_ALERT)
    if kind != EventKind.BREACH:
        return actions
    if escalation.internal_comment:
        actions.append(INTERNAL_COMMENT)
    if escalation.notify_account_ids or escalation.notify_groups:
        actions.append(NOTIFY)
    if escalation.raise_priority_to:
        actions.append(RAISE_PRIORITY)
    return actions


def run_actions(event_id, keep_claim=None):
    """Run the escalation actions of SLA event `event_id` that are not done yet.

    `keep_claim`, when given, is called before each action: it renews the attempt's claim, or
    raises to stop the attempt when another process took it over. Raises EscalationIncomplete
    when an action failed with an error that may pass. The actions done meanwhile are recorded,
    and a later sweep retries the rest.
    """
    context = _load(event_id)
    if context is None:
        return
    if not context.installation.is_active:
        log.info("%s: the app is no longer installed on the site, so no action runs", context.describe())
        _finish(event_id)
        return

    failures = []
    with jira_client_for(context.installation) as jira:
        for name in planned_actions(context.event.kind, context.policy.escalation):
            if name in _actions_done(event_id):
                continue
            if keep_claim is not None:
                keep_claim()
            try:
                ACTIONS[name](jira, context)
            except JiraError as error:
                if _is_permanent(error):
                    log.warning("%s: action %s failed for good and is skipped: %s", context.describe(), name, error)
                    _record_done(event_id, name, f"{name} skipped: {error}")
                else:
                    log.info("%s: action %s failed and will be retried: %s", context.describe(), name, error)
                    failures.append(f"{name}: {error}")
                continue
            _record_done(event_id, name)
            log.info("%s: action %s done", context.describe(), name)

    if failures:
        raise EscalationIncomplete(f"{len(failures)} action(s) of SLA event {event_id} failed: "
                                   + "; ".join(failures))
    _finish(event_id)


def _is_permanent(error):
    """Return whether a Jira error counts as permanent: a 4xx status other than 429."""
    return error.status is not None and 400 <= error.status < 500 and error.status != 429


# -- the event's bookkeeping ----------------------------------------------------------------------

def _load(event_id):
    """Return the Context of an event whose actions are not all done, or None."""
    with new_session() as session:
        event = session.get(SlaEvent, event_id)
        if event is None or event.actions_done_at is not None:
            return None
        clock = session.get(SlaClock, event.clock_id)
        conversation = session.get(Conversation, clock.conversation_id)
        installation = session.get(Installation, conversation.installation_id)
        return Context(event, clock, conversation, installation)


def _lock_event(session, event_id):
    # The no-op UPDATE takes SQLite's write lock before the row is read, and on PostgreSQL it locks the row.
    session.execute(update(SlaEvent).where(SlaEvent.id == event_id).values(attempts=SlaEvent.attempts))
    return session.execute(
        select(SlaEvent).where(SlaEvent.id == event_id).with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def _actions_done(event_id):
    """Read the event's done actions again, since a concurrent attempt may have added some."""
    with new_session() as session:
        done = session.execute(select(SlaEvent.actions_done).where(SlaEvent.id == event_id)).scalar_one_or_none()
    return set(done or [])


def _record_done(event_id, name, error=None):
    """Append `name` to the event's done actions and commit, storing `error` as its last error."""
    with new_session() as session, session.begin():
        event = _lock_event(session, event_id)
        if event is None:
            return
        if name not in (event.actions_done or []):
            event.actions_done = [*(event.actions_done or []), name]
        if error:
            event.last_error = error[:LAST_ERROR_MAX_CHARS]


def _finish(event_id):
    with new_session() as session, session.begin():
        event = _lock_event(session, event_id)
        if event is not None and event.actions_done_at is None:
            event.actions_done_at = sla_now()
            event.next_attempt_at = None


# -- the actions ----------------------------------------------------------------------------------

def write_property(jira, context):
    """Write the `supportchat.sla` issue property (the clock's state, `breached` per the policy)."""
    write_sla_property(context.clock.id)


def alert_panel(jira, context):
    """Publish an agent-only frame that alerts the open agent panels to the warning or breach."""
    with new_session() as session:
        clock = session.get(SlaClock, context.clock.id)
        payload = sla_payload(context.conversation, clock, context.calendar, sla_now())
    payload["alert"] = context.event.kind
    payload["due_at"] = context.event.due_at.isoformat()
    # "internal" keeps the frame from customers even where the fan-out does not know its type.
    payload["visibility"] = "internal"
    fanout.publish(context.conversation.installation_id, context.conversation.id, payload)


def post_internal_comment(jira, context):
    """Add an internal comment naming the missed deadline, unless an earlier attempt already did.

    The platform comment API takes the JSM internal flag (`sd.public.comment`) and our marker
    property in the same call, so the comment and its marker exist together or not at all.
    """
    if _find_escalation_comment(jira, context) is not None:
        log.info("%s: internal comment already posted by an earlier attempt", context.describe())
        return
    text = escalation_text.breach_comment(context.clock, context.event, context.zone)
    properties = {
        INTERNAL_PROPERTY_KEY: {"internal": True},
        ESCALATION_PROPERTY_KEY: {"eventId": context.event.id, "kind": context.event.kind},
    }
    jira.add_comment_v3(context.issue_key, to_adf_literal(text), properties, idempotent=False)


def _find_escalation_comment(jira, context):
    """Return the id of the issue's comment that carries this event's marker property, or None."""
    path = f"rest/api/3/issue/{quote(context.issue_key, safe='')}/comment"
    start = 0
    while True:
        params = {"expand": "properties", "orderBy": "-created", "startAt": start,
                  "maxResults": COMMENT_LOOKUP_PAGE_SIZE}
        page = jira.request("GET", path, params=params) or {}
        comments = page.get("comments") or []
        for comment in comments:
            if _marks_event(comment, context.event.id):
                return str(comment.get("id"))
        start += len(comments)
        if not comments or start >= int(page.get("total") or 0):
            return None


def _marks_event(comment, event_id):
    for item in comment.get("properties") or []:
        if not isinstance(item, dict) or item.get("key") != ESCALATION_PROPERTY_KEY:
            continue
        value = item.get("value")
        if isinstance(value, dict) and value.get("eventId") == event_id:
            return True
    return False


def send_notify(jira, context):
    """Send a Jira notify that emails the agents and groups named by the policy about the breach."""
    escalation = context.policy.escalation
    to = {}
    if escalation.notify_account_ids:
        to["users"] = [{"accountId": account_id} for account_id in escalation.notify_account_ids]
    if escalation.notify_groups:
        to["groups"] = [{"groupId": group} if _GROUP_ID.match(group) else {"name": group}
                        for group in escalation.notify_groups]
    site_url = (context.installation.display_url or context.installation.base_url).rstrip("/")
    issue_url = f"{site_url}/browse/{quote(context.issue_key, safe='')}"
    subject, text_body, html_body = escalation_text.breach_notification(
        context.clock, context.event, context.zone, context.issue_key, issue_url)
    jira.notify(context.issue_key, subject, text_body, html_body, to)


def raise_priority(jira, context):
    """Raise the request's priority to the policy's, unless it is already as high or its rank is unknown."""
    target = context.policy.escalation.raise_priority_to
    issue = jira.get_issue(context.issue_key, fields="priority") or {}
    current = ((issue.get("fields") or {}).get("priority") or {}).get("name")
    if current == target:
        return
    if target not in JIRA_DEFAULT_PRIORITIES or (current is not None and current not in JIRA_DEFAULT_PRIORITIES):
        log.warning("%s: priority %r not raised to %r, because only Jira's default priorities %s can be "
                    "compared", context.describe(), current, target, ", ".join(JIRA_DEFAULT_PRIORITIES))
        return
    if current is not None and JIRA_DEFAULT_PRIORITIES.index(current) <= JIRA_DEFAULT_PRIORITIES.index(target):
        return
    jira.set_priority(context.issue_key, target)
    log.info("%s: priority raised from %s to %s", context.describe(), current, target)


ACTIONS = {
    PROPERTY: write_property,
    PANEL_ALERT: alert_panel,
    INTERNAL_COMMENT: post_internal_comment,
    NOTIFY: send_notify,
    RAISE_PRIORITY: raise_priority,
}
