"""Changes of subscriptions and key users, each recorded in the audit log.

Every change writes its AuditEntry in the transaction that makes the change, so the log contains
exactly what was committed. Jira is called before the transaction opens (organisations, members),
never while it holds row locks. The subscription row is locked (SELECT ... FOR UPDATE on
PostgreSQL; SQLite has one writer anyway) while key users are counted, so the seat limit holds
under concurrent additions.

Errors are InvalidInput, NotFound or DuplicateKeyUser, whose sentences read "français / English".
"""

import importlib
import logging
from datetime import date

from flask import current_app
from sqlalchemy import func, select, update

from ..atlassian.jira_client import jira_client_for
from ..errors import AddonError, InvalidInput, NotFound
from ..jobs import stop_at_exit
from ..settings import get_settings
from .keyusers import today
from .models import AuditEntry, KeyUser, Subscription, SubscriptionStatus

log = logging.getLogger(__name__)

CONTRACT_REFERENCE_MAX_CHARS = 80
SLA_TIER_MAX_CHARS = 40
AUDIT_PAGE_MAX = 200
SEARCH_RESULTS_MAX = 20
# Fields of a subscription that `save_subscription` accepts; the others have their own action.
EDITABLE_FIELDS = ("contract_reference", "starts_on", "ends_on", "sla_tier", "product_areas",
                   "main_contact_account_id", "presented_on", "seat_limit")


class DuplicateKeyUser(AddonError):
    code = "duplicate_key_user"
    status = 409


def database():
    return current_app.extensions["database"]


def audit(session, installation_id, actor, action, summary, subscription=None, **details):
    """Add an AuditEntry to `session`; the caller's transaction commits it with the change."""
    if subscription is not None:
        # The screens word each entry in the viewer's language from the action and these details.
        details.setdefault("organization_name", subscription.organization_name)
    session.add(AuditEntry(
        installation_id=installation_id, actor_account_id=actor, action=action, summary=summary,
        subscription_id=subscription.id if subscription is not None else None, details=details,
    ))


# Jira lookups (before any transaction).

def desk_id_of(jira, installation_id):
    desk_id = get_settings(installation_id).get("service_desk_id")
    if desk_id:
        return str(desk_id)
    desks = jira.service_desk.get_service_desks() or []
    if not desks:
        raise NotFound("Aucun service desk n'existe sur ce site. / This site has no service desk.")
    return str(desks[0]["id"])


def desk_organizations(installation):
    """Return the organisations of the chat's service desk as [{"id", "name"}]."""
    with jira_client_for(installation) as jira:
        organizations = jira.get_organizations(desk_id_of(jira, installation.id))
    return [{"id": str(org["id"]), "name": org.get("name") or str(org["id"])} for org in organizations]


def organization_of(installation, organization_id):
    for organization in desk_organizations(installation):
        if organization["id"] == str(organization_id):
            return organization
    raise NotFound(
        f"L'organisation {organization_id} n'existe pas dans le service desk ; choisissez-en une de la liste. "
        f"/ Organization {organization_id} is not in the service desk; pick one from the list."
    )


def organization_members(installation, organization_id):
    """Return the organisation's customers as [{"account_id", "display_name", "email"}]."""
    with jira_client_for(installation) as jira:
        users = jira.get_organization_users(organization_id)
    return [{"account_id": user["accountId"], "display_name": user.get("displayName") or user["accountId"],
             "email": user.get("emailAddress")} for user in users]


def search_customers(installation, organization_id, query):
    """Return the organisation's customers whose name or e-mail contains `query` (case-insensitive)."""
    needle = (query or "").strip().casefold()
    members = organization_members(installation, organization_id)
    found = [member for member in members
             if not needle or needle in member["display_name"].casefold()
             or needle in (member["email"] or "").casefold()]
    return found[:SEARCH_RESULTS_MAX]


# Reads.

def find_subscription(session, installation_id, organization_id, lock=False):
    statement = select(Subscription).where(Subscription.installation_id == installation_id,
                                           Subscription.organization_id == str(organization_id))
    if lock:
        statement = statement.with_for_update()
    return session.execute(statement).scalar_one_or_none()


def get_subscription(installation_id, organization_id, session=None, lock=False):
    subscription = find_subscription(session or database().session, installation_id, organization_id, lock)
    if subscription is None:
        raise NotFound(
            f"L'organisation {organization_id} n'a pas de souscription ; enregistrez d'abord son contrat. "
            f"/ Organization {organization_id} has no subscription; save its contract first."
        )
    return subscription


def key_users_of(subscription_id, session=None):
    statement = select(KeyUser).where(KeyUser.subscription_id == subscription_id).order_by(KeyUser.added_at)
    return list((session or database().session).execute(statement).scalars())


def list_organizations(installation):
    """Return the desk's organisations, each with its subscription (or None), by name."""
    subscriptions = {
        row.organization_id: row for row in database().session.execute(
            select(Subscription).where(Subscription.installation_id == installation.id)).scalars()
    }
    organizations = desk_organizations(installation)
    return sorted(([organization, subscriptions.get(organization["id"])] for organization in organizations),
                  key=lambda pair: pair[0]["name"].casefold())


def audit_log(installation_id, page=1, per_page=50):
    """Return (entries of page `page`, latest first; total count)."""
    per_page = max(1, min(int(per_page), AUDIT_PAGE_MAX))
    page = max(1, int(page))
    session = database().session
    total = session.execute(select(func.count(AuditEntry.id))
                            .where(AuditEntry.installation_id == installation_id)).scalar_one()
    entries = session.execute(
        select(AuditEntry).where(AuditEntry.installation_id == installation_id)
        .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
        .offset((page - 1) * per_page).limit(per_page)
    ).scalars()
    return list(entries), total


# Validation of the editable fields.

def parse_day(value, name):
    if value is None or value == "" or isinstance(value, date):
        return value or None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(f"{name} « {value} » n'est pas une date AAAA-MM-JJ ; corrigez-la. "
                           f"/ {name} “{value}” is not a YYYY-MM-DD date; correct it.") from None


def clean_fields(installation_id, fields):
    """Return the editable fields of `fields`, checked and converted; raise InvalidInput."""
    unknown = set(fields) - set(EDITABLE_FIELDS) - {"status", "organization_id"}
    if unknown:
        names = ", ".join(sorted(unknown))
        raise InvalidInput(f"Champs inconnus : {names} ; retirez-les. / Unknown fields: {names}; remove them.")
    cleaned = {}
    if "contract_reference" in fields:
        reference = str(fields["contract_reference"] or "").strip()
        if not reference or len(reference) > CONTRACT_REFERENCE_MAX_CHARS:
            raise InvalidInput(
                f"La référence du contrat doit faire 1 à {CONTRACT_REFERENCE_MAX_CHARS} caractères. "
                f"/ The contract reference must be 1 to {CONTRACT_REFERENCE_MAX_CHARS} characters long.")
        cleaned["contract_reference"] = reference
    for name in ("starts_on", "ends_on", "presented_on"):
        if name in fields:
            cleaned[name] = parse_day(fields[name], name)
    if "starts_on" in cleaned and cleaned["starts_on"] is None:
        raise InvalidInput("La date de début (starts_on) est obligatoire. / The start date (starts_on) is required.")
    if "sla_tier" in fields:
        tier = str(fields["sla_tier"] or "").strip()
        if not tier or len(tier) > SLA_TIER_MAX_CHARS:
            raise InvalidInput(f"Le niveau de SLA doit faire 1 à {SLA_TIER_MAX_CHARS} caractères. "
                               f"/ The SLA tier must be 1 to {SLA_TIER_MAX_CHARS} characters long.")
        cleaned["sla_tier"] = tier
    if "product_areas" in fields:
        cleaned["product_areas"] = clean_product_areas(installation_id, fields["product_areas"])
    if "main_contact_account_id" in fields:
        cleaned["main_contact_account_id"] = str(fields["main_contact_account_id"] or "").strip() or None
    if "seat_limit" in fields:
        cleaned["seat_limit"] = clean_seat_limit(fields["seat_limit"])
    return cleaned


def clean_product_areas(installation_id, areas):
    if areas is None:
        return []
    if not isinstance(areas, list) or not all(isinstance(area, str) for area in areas):
        raise InvalidInput("Les domaines couverts doivent être une liste de textes. "
                           "/ The product areas covered must be a list of strings.")
    known = get_settings(installation_id).get("product_areas") or []
    unknown = [area for area in areas if area not in known]
    if unknown:
        names = ", ".join(unknown)
        raise InvalidInput(f"Domaines inconnus : {names} ; choisissez parmi {', '.join(known)}. "
                           f"/ Unknown product areas: {names}; choose among {', '.join(known)}.")
    return list(dict.fromkeys(areas))


def clean_seat_limit(value):
    if value is None or value == "":
        return None
    try:
        limit = int(value)
    except (TypeError, ValueError):
        limit = 0
    if limit < 1:
        raise InvalidInput(f"La limite de places « {value} » doit être un entier d'au moins 1, ou vide. "
                           f"/ The seat limit “{value}” must be a whole number of at least 1, or empty.")
    return limit


def check_dates(starts_on, ends_on):
    if ends_on is not None and starts_on is not None and ends_on < starts_on:
        raise InvalidInput(f"La date de fin {ends_on} précède la date de début {starts_on} ; corrigez l'une des deux. "
                           f"/ The end date {ends_on} is before the start date {starts_on}; correct one of them.")


def check_member(members, account_id, organization_name):
    if account_id not in {member["account_id"] for member in members}:
        raise InvalidInput(
            f"Le compte {account_id} n'est pas membre de l'organisation {organization_name} dans Jira ; "
            "ajoutez-le d'abord à l'organisation. "
            f"/ Account {account_id} is not a member of organization {organization_name} in Jira; "
            "add it to the organization first.")


def check_seats(subscription, count):
    if subscription.seat_limit is not None and count > subscription.seat_limit:
        raise InvalidInput(
            f"La souscription de {subscription.organization_name} est limitée à {subscription.seat_limit} "
            "utilisateurs clés ; retirez-en un ou augmentez la limite. "
            f"/ The subscription of {subscription.organization_name} is limited to {subscription.seat_limit} "
            "key users; remove one or raise the limit.")


# Changes. Each `do_*` works inside the caller's transaction (the CSV import runs many in one);
# each public function fetches from Jira first, then runs one transaction.

def _snapshot(subscription, names):
    return {name: _jsonable(getattr(subscription, name)) for name in names}


def _jsonable(value):
    return value.isoformat() if isinstance(value, date) else value


def do_save(session, installation_id, actor, organization, cleaned, status=None):
    """Create or update the subscription of `organization`; return (subscription, created)."""
    subscription = find_subscription(session, installation_id, organization["id"], lock=True)
    created = subscription is None
    if created:
        missing = [name for name in ("contract_reference", "starts_on") if cleaned.get(name) is None]
        if missing:
            names = ", ".join(missing)
            raise InvalidInput(f"Champs obligatoires manquants : {names}. / Missing required fields: {names}.")
        subscription = Subscription(installation_id=installation_id, organization_id=organization["id"],
                                    organization_name=organization["name"], status=SubscriptionStatus.SUSPENDED,
                                    sla_tier="standard", product_areas=[])
        session.add(subscription)
    before = _snapshot(subscription, cleaned) if not created else {}
    subscription.organization_name = organization["name"]
    for name, value in cleaned.items():
        setattr(subscription, name, value)
    check_dates(subscription.starts_on, subscription.ends_on)
    if subscription.seat_limit is not None and not created:
        check_seats(subscription, len(key_users_of(subscription.id, session)))
    if status is not None:
        if status not in SubscriptionStatus.ALL:
            raise InvalidInput(f"Statut inconnu « {status} » ; utilisez {', '.join(SubscriptionStatus.ALL)}. "
                               f"/ Unknown status “{status}”; use {', '.join(SubscriptionStatus.ALL)}.")
        before.setdefault("status", subscription.status)
        subscription.status = status
    session.flush()

    after = _snapshot(subscription, list(cleaned) + (["status"] if status else []))
    changes = {name: {"from": before.get(name), "to": value} for name, value in after.items()
               if created or before.get(name) != value}
    action = "subscription_created" if created else "subscription_updated"
    audit(session, installation_id, actor, action,
          f"{'Created' if created else 'Updated'} the subscription of {organization['name']}",
          subscription, organization_id=organization["id"], changes=changes)
    return subscription, created


def save_subscription(installation, actor, organization_id, fields):
    """Create or update the subscription of `organization_id` from the editable `fields`."""
    cleaned = clean_fields(installation.id, fields)
    organization = organization_of(installation, organization_id)
    if cleaned.get("main_contact_account_id"):
        check_member(organization_members(installation, organization["id"]),
                     cleaned["main_contact_account_id"], organization["name"])
    status = fields.get("status") or None
    with database().transaction() as session:
        subscription, created = do_save(session, installation.id, actor, organization, cleaned,
                                        status if status != SubscriptionStatus.ACTIVE else None)
    if status == SubscriptionStatus.ACTIVE:
        subscription = activate(installation, actor, organization["id"])
    elif (subscription.status == SubscriptionStatus.ACTIVE and not subscription.activation_issue_key
          and cleaned.get("main_contact_account_id")):
        # An active subscription whose presentation failed for want of a main contact gets it now.
        present(installation, actor, subscription)
        subscription = get_subscription(installation.id, organization["id"])
    return subscription, created


def _set_status(installation_id, actor, organization_id, status, action, **changes):
    with database().transaction() as session:
        subscription = get_subscription(installation_id, organization_id, session, lock=True)
        before = subscription.status
        for name, value in changes.items():
            setattr(subscription, name, value)
        ended = subscription.ends_on is not None and subscription.ends_on < today()
        if status == SubscriptionStatus.ACTIVE and ended:
            raise InvalidInput(
                f"La souscription de {subscription.organization_name} a pris fin le {subscription.ends_on} ; "
                "renouvelez-la avec une nouvelle date de fin. "
                f"/ The subscription of {subscription.organization_name} ended on {subscription.ends_on}; "
                "renew it with a new end date.")
        subscription.status = status
        audit(session, installation_id, actor, action,
              f"{action.replace('subscription_', '').capitalize()} the subscription of {subscription.organization_name}",
              subscription, organization_id=subscription.organization_id, status={"from": before, "to": status},
              **{name: _jsonable(value) for name, value in changes.items()})
    return subscription


def activate(installation, actor, organization_id):
    """Activate the subscription, then present the chat to the subscriber once (the activation request)."""
    subscription = _set_status(installation.id, actor, organization_id, SubscriptionStatus.ACTIVE,
                               "subscription_activated")
    if subscription.activation_issue_key is None:
        present(installation, actor, subscription)
    return get_subscription(installation.id, organization_id)


def suspend(installation, actor, organization_id):
    subscription = _set_status(installation.id, actor, organization_id, SubscriptionStatus.SUSPENDED,
                               "subscription_suspended")
    notify_access_changed(installation.id, organization_id=subscription.organization_id)
    return subscription


def renew(installation, actor, organization_id, ends_on):
    """Set a new end date; an expired subscription becomes active again, the others keep their status."""
    ends_on = parse_day(ends_on, "ends_on")
    if ends_on is None or ends_on < today():
        raise InvalidInput(f"La nouvelle date de fin « {ends_on} » doit être aujourd'hui ou plus tard. "
                           f"/ The new end date “{ends_on}” must be today or later.")
    current = get_subscription(installation.id, organization_id)
    check_dates(current.starts_on, ends_on)
    status = SubscriptionStatus.ACTIVE if current.status == SubscriptionStatus.EXPIRED else current.status
    subscription = _set_status(installation.id, actor, organization_id, status, "subscription_renewed",
                               ends_on=ends_on)
    return subscription


def present(installation, actor, subscription):
    """Open the activation request through addon.access.presentation when that module exists.

    Return (issue key, None) on success, else (None, the reason as "français / English"). A
    failure is logged and audited with its reason, and the subscription keeps its status.
    """
    try:
        presentation = importlib.import_module("addon.access.presentation")
    except ModuleNotFoundError:
        log.info("No presentation module; subscription %s activated without an activation request",
                 subscription.id)
        return None, None
    try:
        issue_key = presentation.present_subscription(subscription, actor_account_id=actor)
    except Exception as error:  # noqa: BLE001  (any failure is recorded; the activation stands)
        reason = getattr(error, "message", None)
        if isinstance(error, AddonError):
            log.warning("Presenting subscription %s of client_key %s failed: %s", subscription.id,
                        installation.client_key, reason)
        else:
            log.exception("Presenting subscription %s of client_key %s failed", subscription.id,
                          installation.client_key)
            reason = ("Erreur inattendue du module ; réessayez, puis consultez les journaux du serveur. "
                      "/ Unexpected error of the app; try again, then read the server logs.")
        with database().transaction() as session:
            audit(session, installation.id, actor, "presentation_failed",
                  f"The activation request of {subscription.organization_name} could not be opened",
                  subscription, error=str(reason)[:300])
        return None, reason
    with database().transaction() as session:
        row = get_subscription(installation.id, subscription.organization_id, session, lock=True)
        row.activation_issue_key = issue_key
        row.presented_on = today()
        audit(session, installation.id, actor, "subscription_presented",
              f"Opened the activation request {issue_key} for {row.organization_name}", row, issue_key=issue_key)
    return issue_key, None


def present_again(installation, actor, organization_id):
    """Open the activation request of an active subscription that has none; raise PresentationFailed."""
    subscription = get_subscription(installation.id, organization_id)
    if subscription.status != SubscriptionStatus.ACTIVE:
        raise InvalidInput(
            f"La souscription de {subscription.organization_name} n'est pas active ; activez-la pour la présenter. "
            f"/ The subscription of {subscription.organization_name} is not active; activate it to present it.")
    if subscription.activation_issue_key:
        raise InvalidInput(
            f"La discussion a déjà été présentée à {subscription.organization_name} "
            f"(demande {subscription.activation_issue_key}). / The chat was already presented to "
            f"{subscription.organization_name} (request {subscription.activation_issue_key}).")
    _, error = present(installation, actor, subscription)
    if error:
        from .presentation import PresentationFailed  # imported here like in `present`
        raise PresentationFailed(error)
    return get_subscription(installation.id, organization_id)


def do_add_key_user(session, installation_id, actor, subscription, account_id):
    existing = session.execute(select(KeyUser).where(KeyUser.subscription_id == subscription.id,
                                                     KeyUser.account_id == account_id)).scalar_one_or_none()
    if existing is not None:
        raise DuplicateKeyUser(
            f"Le compte {account_id} est déjà utilisateur clé de {subscription.organization_name}. "
            f"/ Account {account_id} is already a key user of {subscription.organization_name}.")
    check_seats(subscription, len(key_users_of(subscription.id, session)) + 1)
    session.add(KeyUser(installation_id=installation_id, subscription_id=subscription.id, account_id=account_id,
                        organization_id=subscription.organization_id, added_by_account_id=actor))
    audit(session, installation_id, actor, "key_user_added",
          f"Added key user {account_id} to {subscription.organization_name}", subscription, account_id=account_id)


def add_key_user(installation, actor, organization_id, account_id):
    account_id = str(account_id or "").strip()
    if not account_id:
        raise InvalidInput("Choisissez la personne à ajouter (account_id). / Pick the person to add (account_id).")
    subscription = get_subscription(installation.id, organization_id)
    check_member(organization_members(installation, subscription.organization_id), account_id,
                 subscription.organization_name)
    with database().transaction() as session:
        subscription = get_subscription(installation.id, organization_id, session, lock=True)
        do_add_key_user(session, installation.id, actor, subscription, account_id)
    return subscription


def remove_key_user(installation, actor, organization_id, account_id):
    with database().transaction() as session:
        subscription = get_subscription(installation.id, organization_id, session, lock=True)
        key_user = session.execute(select(KeyUser).where(KeyUser.subscription_id == subscription.id,
                                                         KeyUser.account_id == account_id)).scalar_one_or_none()
        if key_user is None:
            raise NotFound(f"Le compte {account_id} n'est pas utilisateur clé de {subscription.organization_name}. "
                           f"/ Account {account_id} is not a key user of {subscription.organization_name}.")
        session.delete(key_user)
        audit(session, installation.id, actor, "key_user_removed",
              f"Removed key user {account_id} from {subscription.organization_name}", subscription,
              account_id=account_id)
    notify_access_changed(installation.id, account_ids=[account_id], organization_id=subscription.organization_id)


def expire_due(day=None):
    """Mark active subscriptions whose end date is before `day` as expired; return how many.

    Each row changes in an UPDATE guarded by its status, and its audit entry is written only when
    that UPDATE changed the row, so several processes running this at once expire and log each
    subscription once.
    """
    day = day or today()
    session = database().session
    due = session.execute(select(Subscription.id).where(Subscription.status == SubscriptionStatus.ACTIVE,
                                                        Subscription.ends_on < day)).scalars().all()
    session.rollback()
    expired = 0
    for subscription_id in due:
        with database().transaction() as session:
            result = session.execute(update(Subscription).where(
                Subscription.id == subscription_id, Subscription.status == SubscriptionStatus.ACTIVE,
                Subscription.ends_on < day).values(status=SubscriptionStatus.EXPIRED))
            if result.rowcount != 1:
                continue
            subscription = session.get(Subscription, subscription_id)
            audit(session, subscription.installation_id, None, "subscription_expired",
                  f"The subscription of {subscription.organization_name} expired after {subscription.ends_on}",
                  subscription, ends_on=subscription.ends_on.isoformat())
        expired += 1
        notify_access_changed(subscription.installation_id, organization_id=subscription.organization_id)
    if expired:
        log.info("Expired %s subscriptions whose end date is before %s", expired, day)
    return expired


def notify_access_changed(installation_id, account_ids=None, organization_id=None):
    """Tell the chat that access changed, through addon.chat.access when it offers the hook."""
    hook = getattr(importlib.import_module("addon.chat.access"), "notify_access_changed", None)
    if hook is None:
        log.debug("addon.chat.access has no notify_access_changed; open chats re-check access on their own")
        return
    try:
        hook(installation_id, account_ids=account_ids, organization_id=organization_id)
    except Exception:  # noqa: BLE001  (the change is committed; a failed notice must not undo the answer)
        log.exception("Notifying the chat of an access change failed for installation %s", installation_id)


# The expiry job.

EXPIRY_INTERVAL_SECS = 3600


def init_app(app):
    """Schedule `expire_due` hourly and once at start-up, in a BackgroundScheduler of this process.

    Every process of the add-on may run this job; that is harmless because expiry is an idempotent
    guarded UPDATE (see expire_due). Tests and one-off commands may set SUBSCRIPTION_EXPIRY_JOB=False.
    """
    if not app.config.get("SUBSCRIPTION_EXPIRY_JOB", True):
        return None
    from datetime import datetime, timezone

    from apscheduler.schedulers.background import BackgroundScheduler

    def run():
        with app.app_context():
            try:
                expire_due()
            except Exception:  # noqa: BLE001  (the next hourly run retries)
                log.exception("The subscription expiry job failed")

    scheduler = BackgroundScheduler(timezone=timezone.utc)
    scheduler.add_job(run, "interval", seconds=EXPIRY_INTERVAL_SECS, id="expire_subscriptions",
                      next_run_time=datetime.now(timezone.utc), coalesce=True, max_instances=1)
    scheduler.start()
    stop_at_exit(scheduler)
    app.extensions["subscription_scheduler"] = scheduler
    return scheduler
