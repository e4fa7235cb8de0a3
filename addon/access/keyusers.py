"""The check every chat entry point makes: is this person a key user of an active subscription?"""

from contextlib import contextmanager
from datetime import date

from flask import current_app, g, has_app_context
from sqlalchemy import select

from .models import KeyUser, Subscription, SubscriptionStatus


def today():
    """Return the current day for subscription dates; tests may fix it with SUBSCRIPTION_TODAY (an ISO date)."""
    fixed = current_app.config.get("SUBSCRIPTION_TODAY")
    return date.fromisoformat(fixed) if fixed else date.today()


def key_user_memberships(installation_id, account_id, day=None):
    """Return the subscriptions of which `account_id` is a key user and that are active on `day`.

    Read from the database on every call (no cache), so that removing a key user or suspending a
    subscription takes effect at the next message. Inside `one_answer_per_frame()` the first
    result is reused for the rest of that block.
    """
    memo = g.get("key_user_memo") if has_app_context() else None
    key = (installation_id, account_id, day)
    if memo is not None and key in memo:
        return list(memo[key])
    day = day or today()
    statement = (
        select(Subscription)
        .join(KeyUser, KeyUser.subscription_id == Subscription.id)
        .where(KeyUser.installation_id == installation_id, KeyUser.account_id == account_id,
               Subscription.status == SubscriptionStatus.ACTIVE)
        .order_by(Subscription.organization_name)
    )
    subscriptions = current_app.extensions["database"].session.execute(statement).scalars()
    memberships = [subscription for subscription in subscriptions if subscription.is_active_on(day)]
    if memo is not None:
        memo[key] = memberships
    return list(memberships)


@contextmanager
def one_answer_per_frame():
    """Read a person's key-user memberships once for the whole block (one websocket frame).

    A frame checks the same person several times: its follows, then the conversation it
    addresses, then the action itself. One read per frame keeps "a removal takes effect at the
    next message" and spares the repeated queries.
    """
    g.key_user_memo = {}
    try:
        yield
    finally:
        g.pop("key_user_memo", None)


def is_key_user_of(installation_id, account_id, organization_id, day=None):
    """Tell whether `account_id` is a key user of the active subscription of `organization_id`."""
    return any(subscription.organization_id == organization_id
               for subscription in key_user_memberships(installation_id, account_id, day))
