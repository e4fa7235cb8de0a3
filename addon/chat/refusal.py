"""Why the live chat is closed to a customer, worded for the customer's refusal screen.

`rejection_of` (addon.chat.access) reads only the key-user rows, so a person named on no
subscription is "not a key user" whatever the state of their organisation's contract. The refusal
screen states more: whether one of the person's JSM organisations has an active subscription (so
the person is not among the key users it named), a suspended or expired one, or none. The
organisations come from Jira and are cached briefly. When Jira does not respond, the screen shows
the general rule.
"""

import logging

from sqlalchemy import select

from ..access.keyusers import today
from ..access.models import Subscription, SubscriptionStatus
from ..access.states import display_states
from ..atlassian.jira_client import jira_client_for
from ..atlassian.jira_errors import JiraError
from .access import Rejection, _cache, rejection_of
from .actions import database

log = logging.getLogger(__name__)

# The text the refusal screen shows the customer, per Rejection code. `None` is the general rule,
# shown when the person's organisations could not be read from Jira.
EXPLANATIONS = {
    Rejection.NOT_SUBSCRIBED: (
        "Votre organisation n'a pas de contrat de souscription à la discussion en direct avec le support. "
        "/ Your organization has no subscription to live chat with support."),
    Rejection.NOT_KEY_USER: (
        "Votre organisation a souscrit à la discussion en direct, mais vous ne faites pas partie des "
        "utilisateurs clés qu'elle a désignés. Pour en devenir un, adressez-vous au contact principal "
        "de votre organisation. / Your organization subscribes to live chat, but you are not among the "
        "key users it named. To become one, ask your organization's main contact."),
    Rejection.SUSPENDED: (
        "Le contrat de souscription de votre organisation est suspendu : la discussion en direct reste "
        "fermée jusqu'à sa réactivation. / Your organization's subscription is suspended: live chat "
        "stays closed until it is reactivated."),
    Rejection.EXPIRED: (
        "Le contrat de souscription de votre organisation a expiré : la discussion en direct reste "
        "fermée jusqu'à son renouvellement. / Your organization's subscription has expired: live chat "
        "stays closed until it is renewed."),
    None: (
        "La discussion en direct est réservée aux utilisateurs clés que chaque organisation abonnée a "
        "désignés. / Live chat is for the key users that each subscribing organization named."),
}


def organization_ids_of(installation, account_id):
    """Return the ids of the JSM organisations `account_id` belongs to, from Jira (cached briefly)."""
    def ask_jira():
        with jira_client_for(installation) as jira:
            page = jira.request("GET", "rest/servicedeskapi/organization", params={"accountId": account_id}) or {}
        return sorted(str(organization.get("id")) for organization in page.get("values", []))

    return _cache("organizations").get_or_compute((installation.id, account_id), ask_jira)


def _reason_from_subscriptions(subscriptions):
    """Return the Rejection code that the subscriptions of a person's organisations explain best."""
    day = today()
    states = display_states(subscriptions)
    if any(subscription.is_active_on(day) for subscription in subscriptions):
        return Rejection.NOT_KEY_USER
    if any(subscription.status == SubscriptionStatus.EXPIRED or (subscription.ends_on and subscription.ends_on < day)
           for subscription in subscriptions):
        return Rejection.EXPIRED
    if any(states[subscription.id] == SubscriptionStatus.SUSPENDED for subscription in subscriptions):
        return Rejection.SUSPENDED
    # Never activated, or active from a later day: the organisation has no running subscription yet.
    return Rejection.NOT_SUBSCRIBED


def explain_refusal(installation, account_id):
    """Return (Rejection code, bilingual explanation) of why `account_id` may not chat.

    Return (None, None) when the person may chat. The code is NOT_KEY_USER with the general rule
    when Jira could not list the person's organisations.
    """
    code = rejection_of(installation.id, account_id)
    if code != Rejection.NOT_KEY_USER:
        return code, EXPLANATIONS[code] if code else None

    try:
        organization_ids = organization_ids_of(installation, account_id)
    except JiraError as error:
        log.warning("Reading the organisations of a rejected customer failed for client_key %s, "
                    "so the general rule is shown: %s",
                    installation.client_key, error)
        return Rejection.NOT_KEY_USER, EXPLANATIONS[None]
    subscriptions = list(database().session.execute(
        select(Subscription).where(Subscription.installation_id == installation.id,
                                   Subscription.organization_id.in_(organization_ids))
    ).scalars()) if organization_ids else []
    if not subscriptions:
        return Rejection.NOT_SUBSCRIBED, EXPLANATIONS[Rejection.NOT_SUBSCRIBED]
    code = _reason_from_subscriptions(subscriptions)
    return code, EXPLANATIONS[code]

