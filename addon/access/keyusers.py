"""The check every chat entry point makes: is this person a key user of an active subscription?"""

from datetime import date

from flask import current_app
from sqlalchemy import select

from .models import KeyUser, Subscription, SubscriptionStatus


def today():
    """Return the current day for subscription dates; tests may fix it with SUBSCRIPTION_TODAY (an ISO date)."""
    fixed = current_app.config.get("SUBSCRIPTION_TODAY")
    return date.fromisoformat(fixed) if fixed else date.today()


def key_user_memberships(installation_id, account_id, day=None):
    """Return the subscriptions of which `account_id` is a key user and that are active on `day`.

    Read from the database on every call (no cache), so that removing a key user or suspending a
    subscription takes effect at the next message.
    """
    day = day or today()
    statement = (
        select(Subscription)
        .join(KeyUser, KeyUser.subscription_id == Subscription.id)
        .where(KeyUser.installation_id == installation_id, KeyUser.account_id == account_id,
               Subscription.status == SubscriptionStatus.ACTIVE)
        .order_by(Subscription.organization_name)
    )
    subscriptions = current_app.extensions["database"].session.execute(statement).scalars()
    return [subscription for subscription in subscriptions if subscription.is_active_on(day)]


def is_key_user_of(installation_id, account_id, organization_id, day=None):
    """Tell whether `account_id` is a key user of the active subscription of `organization_id`."""
    return any(subscription.organization_id == organization_id
               for subscription in key_user_memberships(installation_id, account_id, day))
