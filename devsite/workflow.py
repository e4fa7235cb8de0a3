"""The workflow of the local site's requests: JSM's service request workflow, as data and rules.

Atlassian pages this follows:
- "Default configurations for Jira Service Management"
  (https://support.atlassian.com/jira-cloud-administration/docs/default-configurations-for-jira-service-management/):
  each new service project gets a generated workflow whose statuses, Waiting for support, Waiting
  for customer, Resolved and Closed among them, have names shown to customers.
- "Manage how work flows in your team-managed service project"
  (https://support.atlassian.com/jira-service-management-cloud/docs/manage-how-work-flows-in-your-team-managed-service-project/):
  the default statuses of service templates include Pending, Waiting for customer, Waiting for
  support and Canceled, each in one of the categories To Do, In Progress and Done.
- Customer notifications
  (https://support.atlassian.com/jira-service-desk-cloud/docs/what-notifications-do-my-customers-and-service-desk-team-receive):
  "Request resolved" is sent when the resolution field is set, and "Request reopened" when it is
  cleared, so entering a done status sets a resolution and leaving it clears the resolution.

Rules the site enforces:
- A new request starts in Waiting for support.
- A transition leaves only the statuses listed as its sources. Its id is the same from each of
  them, as for a Jira common transition, and tests may renumber ids (`Site.renumber_transitions`).
- "Resolve this issue" has a screen whose Resolution field is required. "Cancel request" sets
  the resolution Won't Do itself, as a post function does. Leaving a done status clears the resolution.
- Closed and Canceled are final: no transition leaves them. A customer whose problem comes back
  raises a new request.
- Portal customers (the JSM customer transition API) may use only the transitions into
  CUSTOMER_TARGETS: reply to support, reopen a resolved request, or resolve it.

NOTE: the pages above list statuses, not each transition of the generated workflow. The transition
names and ids here are those of Jira's classic service desk workflow as this project knows them.
"""

from dataclasses import dataclass, replace

INITIAL_STATUS = "Waiting for support"
OPEN_STATUSES = ("Waiting for support", "In Progress", "Waiting for customer", "Pending")
CUSTOMER_TARGETS = ("Waiting for support", "Resolved")


@dataclass(frozen=True)
class Transition:
    """One workflow transition: where it may start, where it leads, and what its screen requires."""

    id: str
    name: str
    sources: tuple
    target: str
    # Fields of the transition's screen that the caller must fill.
    required_fields: tuple = ()
    # A resolution the transition sets by itself (a post function), whatever the caller sends.
    sets_resolution: str = None

    def leaves(self, status):
        return status in self.sources


def service_request_transitions():
    """Return the transitions of a fresh site, in the order the agent's issue view lists them."""
    return [
        Transition("11", "Start progress", ("Waiting for support", "Waiting for customer", "Pending"), "In Progress"),
        Transition("21", "Respond to customer", ("Waiting for support", "In Progress", "Pending"),
                   "Waiting for customer"),
        Transition("31", "Respond to support", ("Waiting for customer",), "Waiting for support"),
        Transition("71", "Pending", ("Waiting for support", "In Progress"), "Pending"),
        Transition("41", "Resolve this issue", OPEN_STATUSES, "Resolved", required_fields=("resolution",)),
        Transition("81", "Cancel request", OPEN_STATUSES, "Canceled", sets_resolution="Won't Do"),
        Transition("61", "Reopen", ("Resolved",), "Waiting for support"),
        Transition("51", "Close", ("Resolved",), "Closed"),
    ]


def renumbered(transitions, new_ids):
    """Return `transitions` with the ids of `new_ids` (old id -> new id) changed.

    Raises ValueError naming the id when an old id is unknown or two transitions would share one.
    """
    known = {transition.id for transition in transitions}
    unknown = sorted(set(new_ids) - known)
    if unknown:
        raise ValueError(f"Transition ids {unknown} do not exist; known ids: {sorted(known)}.")
    result = [replace(t, id=str(new_ids.get(t.id, t.id))) for t in transitions]
    ids = [transition.id for transition in result]
    duplicates = sorted({transition_id for transition_id in ids if ids.count(transition_id) > 1})
    if duplicates:
        raise ValueError(f"Transition ids {duplicates} would be used twice; choose distinct ids.")
    return result
