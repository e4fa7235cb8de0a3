"""Transitions of a request through its Jira workflow when the key user answers a proposed solution.

Transition ids differ from one site's workflow to the next, so a transition is always found by
its target status in `GET /rest/api/3/issue/{key}/transitions?expand=transitions.fields`, which
also describes the fields its screen requires. The add-on acts as the key user when Jira lets
it, and otherwise as its app user, on the key user's behalf:
- A transition without required fields goes through the JSM customer transition API, as the
  key user, when JSM offers it to them.
- A transition whose screen requires fields (the resolution of "Resolve this issue") goes through
  the platform API, which alone takes field values. Portal-only customers have no project
  permission there, so Jira usually rejects them and the app user makes the transition.
"""

import logging
from dataclasses import dataclass
from urllib.parse import quote

from ..atlassian.jira_errors import ImpersonationRefused, JiraNotFound, JiraPermissionDenied

log = logging.getLogger(__name__)

RESOLVED_STATUS_NAME = "Resolved"
DONE_CATEGORY = "done"
DEFAULT_RESOLUTION = "Done"
# The errors Jira returns when it does not let the add-on act as the key user for this call.
REFUSED_AS_CUSTOMER = (ImpersonationRefused, JiraPermissionDenied, JiraNotFound)


class CustomerActor:
    """The actor of a transition: the key user themselves, or the app user on their behalf."""

    CUSTOMER = "customer"
    APP = "app"


class FieldNotFillable(Exception):
    """The transition's screen requires a field the add-on has no value for."""


@dataclass(frozen=True)
class RequestStatus:
    """The Jira status of a request: its name, id and status category key ("new", "indeterminate", "done")."""

    name: str
    id: str
    category: str

    @property
    def is_done(self):
        return self.category == DONE_CATEGORY


def _path(issue_key, tail=""):
    return f"rest/api/3/issue/{quote(issue_key, safe='')}{tail}"


def current_status(jira, issue_key):
    """Read the request's status with the app user's client."""
    issue = jira.request("GET", _path(issue_key), params={"fields": "status"}) or {}
    status = (issue.get("fields") or {}).get("status") or {}
    category = (status.get("statusCategory") or {}).get("key") or ""
    return RequestStatus(name=status.get("name") or "", id=str(status.get("id") or ""), category=category)


def transitions_of(jira, issue_key):
    """List the transitions Jira offers the app user from the request's status, with their fields."""
    page = jira.request("GET", _path(issue_key, "/transitions"), params={"expand": "transitions.fields"}) or {}
    return [t for t in page.get("transitions") or [] if isinstance(t, dict) and t.get("id")]


def _target(transition):
    return transition.get("to") or {}


def _names_status(status_name_or_id, name, status_id):
    wanted = str(status_name_or_id).strip().casefold()
    return wanted in ((name or "").casefold(), str(status_id or ""))


def is_solution_status(status, settings):
    """Tell whether `status` (a RequestStatus) is the status a validated solution leads to."""
    wanted = settings.get("solution_status") or RESOLVED_STATUS_NAME
    return _names_status(wanted, status.name, status.id)


def solution_transition(transitions, settings):
    """Pick the transition into the solution status, or None when the workflow offers none.

    The status is the `solution_status` setting (a name or an id). Without it, the status named
    "Resolved" is the target, else the first target of status category done.
    """
    wanted = settings.get("solution_status")
    if wanted:
        return next((t for t in transitions if _names_status(wanted, _target(t).get("name"), _target(t).get("id"))),
                    None)
    named = next((t for t in transitions if _names_status(RESOLVED_STATUS_NAME, _target(t).get("name"), None)),
                 None)
    if named is not None:
        return named
    return next((t for t in transitions
                 if (_target(t).get("statusCategory") or {}).get("key") == DONE_CATEGORY), None)


def transition_to(transitions, status_name):
    """Pick the transition whose target status has the name (or id) `status_name`, or None."""
    return next((t for t in transitions if _names_status(status_name, _target(t).get("name"), _target(t).get("id"))),
                None)


def required_field_values(transition, settings):
    """Return the field values the transition's screen requires: {"resolution": {"name": ...}} or {}.

    The resolution is the `solution_resolution` setting when Jira allows it, else "Done", else the
    first allowed value. Raises FieldNotFillable for any other required field.
    """
    values = {}
    for field_id, field in (transition.get("fields") or {}).items():
        if not isinstance(field, dict) or not field.get("required"):
            continue
        if field_id != "resolution":
            raise FieldNotFillable(f"transition {transition.get('id')} requires field {field_id!r} "
                                   f"({field.get('name') or field_id})")
        allowed = [value.get("name") for value in field.get("allowedValues") or [] if value.get("name")]
        if not allowed:
            raise FieldNotFillable(f"transition {transition.get('id')} requires a resolution but allows none")
        by_name = {name.casefold(): name for name in allowed}
        configured = settings.get("solution_resolution")
        if configured and configured.casefold() not in by_name:
            log.warning("Resolution %r of the solution_resolution setting is not allowed by transition %s. "
                        "Allowed: %s", configured, transition.get("id"), allowed)
        name = (by_name.get((configured or "").casefold()) or by_name.get(DEFAULT_RESOLUTION.casefold())
                or allowed[0])
        values["resolution"] = {"name": name}
    return values


def apply_transition(jira, issue_key, transition, fields, account_id):
    """Perform `transition` as the key user `account_id` when Jira allows it, else as the app user.

    Return CustomerActor.CUSTOMER or CustomerActor.APP. Raise JiraError when the app user's
    attempt fails too.
    """
    transition_id = str(transition["id"])
    try:
        with jira.as_user(account_id) as customer:
            if fields:
                customer.transition(issue_key, transition_id, fields)
                return CustomerActor.CUSTOMER
            if _offered_to_customer(customer, issue_key, transition_id):
                customer.request("POST", f"rest/servicedeskapi/request/{quote(issue_key, safe='')}/transition",
                                 json={"id": transition_id})
                return CustomerActor.CUSTOMER
            log.info("Transition %s of %s is not offered to customer %s, so the app user performs it",
                     transition_id, issue_key, account_id)
    except REFUSED_AS_CUSTOMER as refusal:
        log.info("Jira rejected transition %s of %s as %s (%s), so the app user performs it",
                 transition_id, issue_key, account_id, refusal.kind)
    jira.transition(issue_key, transition_id, fields or None)
    return CustomerActor.APP


def _offered_to_customer(customer, issue_key, transition_id):
    page = customer.request("GET", f"rest/servicedeskapi/request/{quote(issue_key, safe='')}/transition") or {}
    return any(str(value.get("id")) == transition_id for value in page.get("values") or [])
