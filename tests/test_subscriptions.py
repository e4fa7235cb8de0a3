"""Service functions of addon.access.subscriptions against the local Jira site: every change and
its audit entry, the seat limit, the organisation membership check and expiry by date."""

from datetime import date

import pytest
from sqlalchemy import select

from addon.access import states, subscriptions
from addon.access.models import AuditEntry, KeyUser, Subscription
from addon.errors import InvalidInput, NotFound

from .test_admin_api import ADMIN, CONTRACT, DURAND, LEFEVRE, admin_site  # noqa: F401  (fixture)


@pytest.fixture
def site(admin_site):
    with admin_site.context():
        yield admin_site


def actions(site):
    session = site.server.app.extensions["database"].session
    session.rollback()
    return [entry.action for entry in session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars()]


def save(site, organization_id=DURAND, **fields):
    return subscriptions.save_subscription(site.installation(), ADMIN, organization_id, dict(CONTRACT, **fields))


def test_list_organizations_states(site):
    save(site)
    pairs = subscriptions.list_organizations(site.installation())
    assert [(org["name"], sub.status if sub else None) for org, sub in pairs] == [
        ("Fromagerie Durand", "suspended"), ("Menuiserie Lefèvre", None)]


def test_save_creates_audited(site):
    subscription, created = save(site)
    assert created
    assert subscription.contract_reference == "CT-2026-001"
    assert actions(site) == ["subscription_created"]


def test_save_update_records_changes(site):
    save(site)
    subscription, created = save(site, sla_tier="standard")
    assert not created
    session = site.server.app.extensions["database"].session
    entry = session.execute(select(AuditEntry).order_by(AuditEntry.id.desc())).scalars().first()
    assert entry.action == "subscription_updated"
    assert entry.details["changes"] == {"sla_tier": {"from": "premium", "to": "standard"}}
    assert entry.actor_account_id == ADMIN


def test_save_unknown_product_area(site):
    with pytest.raises(InvalidInput, match="Inconnu|inconnus"):
        save(site, product_areas=["Jardinage"])


def test_save_main_contact_not_member(site):
    with pytest.raises(InvalidInput, match="cust-chloe"):
        save(site, main_contact_account_id="cust-chloe")


def test_save_end_before_start(site):
    with pytest.raises(InvalidInput, match="précède"):
        save(site, ends_on="2025-12-31")
    assert actions(site) == []


def test_save_bad_date(site):
    with pytest.raises(InvalidInput, match="2026-13-01"):
        save(site, starts_on="2026-13-01")


def test_activate_presents_once(site):
    save(site)
    subscription = subscriptions.activate(site.installation(), ADMIN, DURAND)
    assert subscription.status == "active"
    assert subscription.activation_issue_key.startswith("SUP-")
    assert subscription.presented_on == date(2026, 6, 15)
    subscriptions.suspend(site.installation(), ADMIN, DURAND)
    again = subscriptions.activate(site.installation(), ADMIN, DURAND)
    assert again.activation_issue_key == subscription.activation_issue_key
    assert actions(site).count("subscription_presented") == 1


def test_activate_presentation_failure_audited(site):
    save(site, main_contact_account_id=None)
    subscription = subscriptions.activate(site.installation(), ADMIN, DURAND)
    assert subscription.status == "active"
    assert subscription.activation_issue_key is None
    assert actions(site)[-1] == "presentation_failed"


def test_activate_ended_needs_renewal(site):
    save(site, ends_on="2026-03-31")
    with pytest.raises(InvalidInput, match="renouvelez"):
        subscriptions.activate(site.installation(), ADMIN, DURAND)


def test_activate_missing_subscription(site):
    with pytest.raises(NotFound):
        subscriptions.activate(site.installation(), ADMIN, LEFEVRE)


def test_suspend_audited(site):
    save(site)
    subscription = subscriptions.suspend(site.installation(), ADMIN, DURAND)
    assert subscription.status == "suspended"
    assert actions(site)[-1] == "subscription_suspended"


def test_renew_reactivates_expired(site):
    save(site, ends_on="2026-03-31", status="expired")
    subscription = subscriptions.renew(site.installation(), ADMIN, DURAND, "2027-03-31")
    assert subscription.status == "active"
    assert subscription.ends_on == date(2027, 3, 31)


def test_renew_keeps_suspended(site):
    save(site)
    subscription = subscriptions.renew(site.installation(), ADMIN, DURAND, "2027-03-31")
    assert subscription.status == "suspended"


def test_renew_past_date(site):
    save(site)
    with pytest.raises(InvalidInput, match="2026-01-01"):
        subscriptions.renew(site.installation(), ADMIN, DURAND, "2026-01-01")


def test_add_key_user_audited(site):
    save(site)
    subscriptions.add_key_user(site.installation(), ADMIN, DURAND, "cust-bruno")
    session = site.server.app.extensions["database"].session
    key_user = session.execute(select(KeyUser)).scalar_one()
    assert key_user.account_id == "cust-bruno"
    assert key_user.added_by_account_id == ADMIN
    assert actions(site)[-1] == "key_user_added"


def test_add_key_user_not_member(site):
    save(site)
    with pytest.raises(InvalidInput, match="Menuiserie|Fromagerie"):
        subscriptions.add_key_user(site.installation(), ADMIN, DURAND, "cust-damien")


def test_add_key_user_duplicate(site):
    save(site)
    subscriptions.add_key_user(site.installation(), ADMIN, DURAND, "cust-bruno")
    with pytest.raises(subscriptions.DuplicateKeyUser, match="déjà"):
        subscriptions.add_key_user(site.installation(), ADMIN, DURAND, "cust-bruno")


def test_add_key_user_seat_limit(site):
    save(site, seat_limit=1)
    subscriptions.add_key_user(site.installation(), ADMIN, DURAND, "cust-alice")
    with pytest.raises(InvalidInput, match="limitée à 1"):
        subscriptions.add_key_user(site.installation(), ADMIN, DURAND, "cust-bruno")
    assert actions(site).count("key_user_added") == 1


def test_seat_limit_below_key_users(site):
    save(site)
    subscriptions.add_key_user(site.installation(), ADMIN, DURAND, "cust-alice")
    subscriptions.add_key_user(site.installation(), ADMIN, DURAND, "cust-bruno")
    with pytest.raises(InvalidInput, match="limitée à 1"):
        save(site, seat_limit=1)


def test_remove_key_user_audited(site):
    save(site)
    subscriptions.add_key_user(site.installation(), ADMIN, DURAND, "cust-bruno")
    subscriptions.remove_key_user(site.installation(), ADMIN, DURAND, "cust-bruno")
    session = site.server.app.extensions["database"].session
    assert session.execute(select(KeyUser)).scalars().all() == []
    assert actions(site)[-1] == "key_user_removed"


def test_remove_key_user_unknown(site):
    save(site)
    with pytest.raises(NotFound, match="cust-bruno"):
        subscriptions.remove_key_user(site.installation(), ADMIN, DURAND, "cust-bruno")


def test_search_customers_name(site):
    found = subscriptions.search_customers(site.installation(), DURAND, "leroy")
    assert [customer["account_id"] for customer in found] == ["cust-bruno"]


def test_expire_due_by_date(site):
    save(site, ends_on="2026-06-20", status="active")
    save(site, LEFEVRE, ends_on="2026-06-21", status="active", main_contact_account_id="cust-chloe")
    site.server.app.config["SUBSCRIPTION_TODAY"] = "2026-06-21"
    assert subscriptions.expire_due() == 1
    session = site.server.app.extensions["database"].session
    statuses = dict(session.execute(select(Subscription.organization_id, Subscription.status)).all())
    assert statuses == {DURAND: "expired", LEFEVRE: "active"}
    assert actions(site).count("subscription_expired") == 1


def test_expire_due_idempotent(site):
    save(site, ends_on="2026-06-20", status="active")
    site.server.app.config["SUBSCRIPTION_TODAY"] = "2026-06-21"
    subscriptions.expire_due()
    assert subscriptions.expire_due() == 0
    assert actions(site).count("subscription_expired") == 1


def test_expire_due_follows_today(site):
    save(site, ends_on="2026-06-30", status="active")
    site.server.app.config["SUBSCRIPTION_TODAY"] = "2026-07-01"
    assert subscriptions.expire_due() == 1


def test_init_app_schedules_one_job(site):
    app = site.server.app
    app.config["SUBSCRIPTION_EXPIRY_JOB"] = True
    scheduler = subscriptions.init_app(app)
    try:
        jobs = scheduler.get_jobs()
        assert [job.id for job in jobs] == ["expire_subscriptions"]
        assert jobs[0].max_instances == 1
        assert jobs[0].coalesce
    finally:
        scheduler.shutdown(wait=True)


@pytest.mark.parametrize(("action", "details", "expected"), [
    ("subscription_created", {"changes": {"contract_reference": {"from": None, "to": "CT-1"}}}, False),
    ("subscription_created", {"changes": {"status": {"from": None, "to": "suspended"}}}, True),
    ("subscription_activated", {"status": {"from": "suspended", "to": "active"}}, True),
    ("subscription_suspended", {"status": {"from": "suspended", "to": "suspended"}}, True),
    ("subscription_renewed", {"status": {"from": "suspended", "to": "suspended"}}, False),
    ("subscription_renewed", {"status": {"from": "expired", "to": "active"}}, True),
    ("key_user_added", {"account_id": "cust-bruno"}, False),
    ("subscription_updated", None, False),
])
def test_sets_status_cases(action, details, expected):
    assert states.sets_status(action, details) is expected


def test_display_states_each_subscription(site):
    save(site)
    save(site, LEFEVRE, main_contact_account_id="cust-chloe")
    subscriptions.activate(site.installation(), ADMIN, LEFEVRE)
    subscriptions.suspend(site.installation(), ADMIN, LEFEVRE)
    session = site.server.app.extensions["database"].session
    rows = session.execute(select(Subscription).order_by(Subscription.organization_id)).scalars().all()
    shown = states.display_states(rows)
    assert [shown[row.id] for row in rows] == ["never_activated", "suspended"]
    assert [row.status for row in rows] == ["suspended", "suspended"]


def test_display_state_none():
    assert states.display_state(None) == "none"
