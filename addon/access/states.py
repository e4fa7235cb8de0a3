"""The state the admin screens show for a subscription, derived from its stored status and its audit log.

A subscription is saved with the stored status "suspended" and waits for support to activate it.
Showing that as "suspended" misleads, because nobody suspended it. So the screens show
NEVER_ACTIVATED while the subscription is suspended, has no activation request and no presentation
date, and no audit entry of it set a status. The stored status values stay active, suspended and
expired; nothing here writes.
"""

from flask import current_app
from sqlalchemy import select

from .models import AuditEntry, SubscriptionStatus


class DisplayState:
    """States of the admin screens: the stored statuses, plus these two."""

    NONE = "none"  # the organisation has no subscription
    NEVER_ACTIVATED = "never_activated"


# Audit actions that set a status whatever their details contain.
STATUS_ACTIONS = {"subscription_activated", "subscription_suspended", "subscription_expired"}


def sets_status(action, details):
    """Tell whether the audit entry (`action`, `details`) records a status chosen for the subscription."""
    if action in STATUS_ACTIONS:
        return True
    details = details or {}
    # A save with an explicit status (CSV import, API) records it among its changes.
    if "status" in (details.get("changes") or {}):
        return True
    # A renewal records {"from", "to"}; renewing an expired subscription makes it active.
    status = details.get("status")
    return isinstance(status, dict) and status.get("from") != status.get("to")


def _may_be_new(subscription):
    return (subscription.status == SubscriptionStatus.SUSPENDED and not subscription.activation_issue_key
            and subscription.presented_on is None)


def display_states(subscriptions, session=None):
    """Return {subscription id: display state} for `subscriptions`, reading their audit entries once."""
    candidates = {subscription.id for subscription in subscriptions if _may_be_new(subscription)}
    decided = set()
    if candidates:
        session = session or current_app.extensions["database"].session
        rows = session.execute(select(AuditEntry.subscription_id, AuditEntry.action, AuditEntry.details)
                               .where(AuditEntry.subscription_id.in_(sorted(candidates))))
        decided = {subscription_id for subscription_id, action, details in rows if sets_status(action, details)}
    return {
        subscription.id: DisplayState.NEVER_ACTIVATED
        if subscription.id in candidates and subscription.id not in decided else subscription.status
        for subscription in subscriptions
    }


def display_state(subscription, session=None):
    """Return the display state of one subscription, or DisplayState.NONE for None."""
    if subscription is None:
        return DisplayState.NONE
    return display_states([subscription], session)[subscription.id]
