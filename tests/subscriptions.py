"""Subscriptions and key users written straight into the add-on's database, for tests that need a
customer allowed (or no longer allowed) to chat."""

from datetime import date

from sqlalchemy import select

from addon.access.models import KeyUser, Subscription, SubscriptionStatus
from addon.atlassian.installations import get_installation
from addon.chat.access import notify_access_changed

# The seed organisations of the local Jira site.
ORGANIZATION_NAMES = {"1": "Fromagerie Durand", "2": "Menuiserie Lefèvre"}
# The key users most tests need: the customers who open chats in the seed data.
DEFAULT_KEY_USERS = (("cust-alice", "1"), ("cust-chloe", "2"))


def _subscription(session, installation_id, organization_id):
    return session.execute(select(Subscription).where(
        Subscription.installation_id == installation_id, Subscription.organization_id == organization_id,
    )).scalar_one_or_none()


def grant(app, client_key, account_id, organization_id="1", **fields):
    """Make `account_id` a key user of organisation `organization_id`'s subscription, active by default.

    `fields` set columns of the subscription (status, ends_on, product_areas, …) when it is created.
    """
    with app.app_context():
        installation_id = get_installation(client_key).id
        with app.extensions["database"].transaction() as session:
            subscription = _subscription(session, installation_id, organization_id)
            if subscription is None:
                values = {"status": SubscriptionStatus.ACTIVE, "starts_on": date(2020, 1, 1),
                          "contract_reference": f"CT-{organization_id}",
                          "organization_name": ORGANIZATION_NAMES.get(organization_id, organization_id)}
                values.update(fields)
                subscription = Subscription(installation_id=installation_id, organization_id=organization_id,
                                            **values)
                session.add(subscription)
                session.flush()
            session.add(KeyUser(installation_id=installation_id, subscription_id=subscription.id,
                                account_id=account_id, organization_id=organization_id))


def grant_defaults(app, client_key):
    """Make cust-alice (organisation 1) and cust-chloe (organisation 2) key users of active subscriptions."""
    for account_id, organization_id in DEFAULT_KEY_USERS:
        grant(app, client_key, account_id, organization_id)


def change_subscription(app, client_key, organization_id, notify=True, **fields):
    """Change columns of an organisation's subscription (status, ends_on, …), then tell the hubs
    as the admin service does."""
    with app.app_context():
        installation_id = get_installation(client_key).id
        with app.extensions["database"].transaction() as session:
            subscription = _subscription(session, installation_id, organization_id)
            for name, value in fields.items():
                setattr(subscription, name, value)
        if notify:
            notify_access_changed(installation_id, organization_id=organization_id)


def revoke(app, client_key, account_id, organization_id="1", notify=True):
    """Remove a key user, then tell the hubs as the admin service does."""
    with app.app_context():
        installation_id = get_installation(client_key).id
        with app.extensions["database"].transaction() as session:
            subscription = _subscription(session, installation_id, organization_id)
            key_user = session.execute(select(KeyUser).where(
                KeyUser.subscription_id == subscription.id, KeyUser.account_id == account_id,
            )).scalar_one()
            session.delete(key_user)
        if notify:
            notify_access_changed(installation_id, account_ids=[account_id], organization_id=organization_id)
