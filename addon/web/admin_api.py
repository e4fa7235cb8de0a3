"""The JSON API of the subscription screens, under `/api/admin`, for support leads only.

Every route needs `Authorization: JWT <context token>` (AP.context.getToken()) of a project admin
of the service project or a Jira admin (addon.access.admin_auth). Routes parse and call
addon.access.subscriptions; errors are JSON (`{"error": {"code", "message"}}`) with the message in
the language of `?lang=fr|en`.
"""

import logging

from flask import Blueprint, g, jsonify, request

from ..access import csv_import, subscriptions
from ..access.admin_auth import require_admin
from ..access.keyusers import today
from ..access.people import display_names
from ..access.states import DisplayState, display_state, display_states
from ..atlassian.auth import require_jwt
from ..atlassian.forge.files import fit_reusable
from ..atlassian.jira_errors import JiraError
from ..errors import AddonError, InvalidInput, NotFound
from .api import json_body, localize

log = logging.getLogger(__name__)

bp = Blueprint("admin_api", __name__, url_prefix="/api/admin")

CSV_MAX_BYTES = 2 * 1024 * 1024


class JiraUnavailable(AddonError):
    code = "jira_unavailable"
    status = 502


@bp.errorhandler(AddonError)
def render_error(error):
    body = error.to_dict()
    body["error"]["message"] = localize(error.message, request.args.get("lang"))
    return jsonify(body), error.status


@bp.errorhandler(JiraError)
def render_jira_error(error):
    log.warning("Jira call of the admin API failed for %s %s: %s", request.method, request.path, error)
    if error.kind == "not_found":
        return render_error(NotFound("Jira ne trouve pas cet élément (organisation ou personne) ; rechargez la page. "
                                     "/ Jira cannot find this item (organization or person); reload the page."))
    return render_error(JiraUnavailable("Jira n'a pas répondu correctement ; réessayez dans un instant. "
                                        "/ Jira did not answer properly; try again in a moment."))


def actor():
    return g.connect.account_id


def subscription_json(subscription, members=None, state=None, names=None):
    """Return the subscription as JSON.

    `members` (the organisation's customers) and `names` ({accountId: display name}) name its key
    users and who added them. `state` is its display state (addon.access.states), computed here
    when not given.
    """
    if subscription is None:
        return None
    member_names = {member["account_id"]: member for member in members or []}
    names = names or {}
    key_users = []
    for key_user in subscriptions.key_users_of(subscription.id):
        member = member_names.get(key_user.account_id, {})
        key_users.append({
            "account_id": key_user.account_id,
            "display_name": member.get("display_name") or names.get(key_user.account_id),
            "email": member.get("email"),
            "added_at": key_user.added_at.isoformat(),
            "added_by_account_id": key_user.added_by_account_id,
            "added_by_display_name": names.get(key_user.added_by_account_id),
        })
    return {
        "id": subscription.id,
        "organization_id": subscription.organization_id,
        "organization_name": subscription.organization_name,
        "contract_reference": subscription.contract_reference,
        "status": subscription.status,
        # What the screens show: the status, or "never_activated" for one not yet activated.
        "state": state or display_state(subscription),
        "active_today": subscription.is_active_on(today()),
        "starts_on": _day(subscription.starts_on),
        "ends_on": _day(subscription.ends_on),
        "sla_tier": subscription.sla_tier,
        "product_areas": subscription.product_areas or [],
        "main_contact_account_id": subscription.main_contact_account_id,
        "presented_on": _day(subscription.presented_on),
        "activation_issue_key": subscription.activation_issue_key,
        "seat_limit": subscription.seat_limit,
        "key_users": key_users,
    }


def _day(value):
    return value.isoformat() if value else None


def full_subscription(organization_id):
    installation = g.connect.installation
    subscription = subscriptions.get_subscription(installation.id, organization_id)
    members = subscriptions.organization_members(installation, organization_id)
    member_ids = {member["account_id"] for member in members}
    # Jira names the people the organisation's member list does not: who added each key user,
    # and key users who left the organisation.
    people = set()
    for key_user in subscriptions.key_users_of(subscription.id):
        people.add(key_user.added_by_account_id)
        if key_user.account_id not in member_ids:
            people.add(key_user.account_id)
    names = display_names(installation, sorted(person for person in people if person))
    return jsonify({"subscription": subscription_json(subscription, members, names=names)})


@bp.get("/organizations")
@require_jwt("context")
@require_admin
def organizations():
    pairs = subscriptions.list_organizations(g.connect.installation)
    states = display_states([subscription for _, subscription in pairs if subscription is not None])
    listed = []
    for organization, subscription in pairs:
        state = states[subscription.id] if subscription is not None else DisplayState.NONE
        listed.append({"id": organization["id"], "name": organization["name"], "state": state,
                       "subscription": subscription_json(subscription, state=state)})
    return jsonify({"organizations": listed})


@bp.get("/organizations/<organization_id>/subscription")
@require_jwt("context")
@require_admin
def show_subscription(organization_id):
    return full_subscription(organization_id)


@bp.put("/organizations/<organization_id>/subscription")
@require_jwt("context")
@require_admin
def put_subscription(organization_id):
    _, created = subscriptions.save_subscription(g.connect.installation, actor(), organization_id, json_body())
    response = full_subscription(organization_id)
    return response, 201 if created else 200


@bp.post("/organizations/<organization_id>/subscription/activate")
@require_jwt("context")
@require_admin
def activate(organization_id):
    subscriptions.activate(g.connect.installation, actor(), organization_id)
    return full_subscription(organization_id)


@bp.post("/organizations/<organization_id>/subscription/present")
@require_jwt("context")
@require_admin
def present(organization_id):
    """Open the activation request of an active subscription that has none (a failed presentation)."""
    subscriptions.present_again(g.connect.installation, actor(), organization_id)
    return full_subscription(organization_id)


@bp.post("/organizations/<organization_id>/subscription/suspend")
@require_jwt("context")
@require_admin
def suspend(organization_id):
    subscriptions.suspend(g.connect.installation, actor(), organization_id)
    return full_subscription(organization_id)


@bp.post("/organizations/<organization_id>/subscription/renew")
@require_jwt("context")
@require_admin
def renew(organization_id):
    subscriptions.renew(g.connect.installation, actor(), organization_id, json_body().get("ends_on"))
    return full_subscription(organization_id)


@bp.post("/organizations/<organization_id>/key-users")
@require_jwt("context")
@require_admin
def add_key_user(organization_id):
    subscriptions.add_key_user(g.connect.installation, actor(), organization_id, json_body().get("account_id"))
    return full_subscription(organization_id), 201


@bp.delete("/organizations/<organization_id>/key-users/<account_id>")
@require_jwt("context")
@require_admin
def remove_key_user(organization_id, account_id):
    subscriptions.remove_key_user(g.connect.installation, actor(), organization_id, account_id)
    return full_subscription(organization_id)


@bp.get("/organizations/<organization_id>/customers")
@require_jwt("context")
@require_admin
def search_customers(organization_id):
    found = subscriptions.search_customers(g.connect.installation, organization_id, request.args.get("query"))
    return jsonify({"customers": found})


@bp.post("/import")
@require_jwt("context")
@fit_reusable
@require_admin
def import_csv():
    upload = request.files.get("file")
    content = upload.read(CSV_MAX_BYTES + 1) if upload is not None else request.get_data(cache=False)
    if not content:
        raise InvalidInput("Joignez un fichier CSV (champ « file ») ou envoyez-le comme corps. "
                           "/ Attach a CSV file (field “file”) or send it as the body.")
    if len(content) > CSV_MAX_BYTES:
        raise InvalidInput(f"Le fichier dépasse {CSV_MAX_BYTES // 1024} Kio ; découpez-le. "
                           f"/ The file is larger than {CSV_MAX_BYTES // 1024} KiB; split it.")
    dry_run = request.args.get("dry_run") in ("1", "true")
    report = csv_import.import_csv(g.connect.installation, actor(), content, dry_run=dry_run)
    lang = request.args.get("lang")
    for error in report["errors"]:
        error["messages"] = [localize(message, lang) for message in error["messages"]]
        error["message"] = " ".join(error["messages"])
    for activation in report["activations"]:
        if activation["error"]:
            activation["error"] = localize(activation["error"], lang)
    return jsonify({"report": report}), 200 if not report["errors"] else 422


@bp.get("/audit")
@require_jwt("context")
@require_admin
def audit_log():
    try:
        page = max(1, int(request.args.get("page", 1)))
        per_page = int(request.args.get("per_page", 50))
    except ValueError:
        raise InvalidInput("page et per_page doivent être des entiers. / page and per_page must be whole numbers.") from None
    installation = g.connect.installation
    entries, total = subscriptions.audit_log(installation.id, page, per_page)
    # The people each entry names: who acted, and the key user added or removed.
    names = display_names(installation, [person for entry in entries
                                         for person in (entry.actor_account_id, _subject_of(entry))])
    return jsonify({"page": page, "total": total, "entries": [{
        "id": entry.id, "action": entry.action,
        "actor_account_id": entry.actor_account_id,
        "actor_display_name": names.get(entry.actor_account_id),
        "account_display_name": names.get(_subject_of(entry)),
        "subscription_id": entry.subscription_id, "summary": entry.summary, "details": _localized(entry.details),
        "created_at": entry.created_at.isoformat(),
    } for entry in entries]})


def _localized(details):
    """Return the audit `details` with a failure's bilingual reason in the language of `?lang`."""
    if not isinstance(details, dict) or not isinstance(details.get("error"), str):
        return details
    return dict(details, error=localize(details["error"], request.args.get("lang")))


def _subject_of(entry):
    """Return the accountId an audit entry is about (a key user added or removed), or None."""
    account_id = (entry.details or {}).get("account_id")
    return account_id if isinstance(account_id, str) else None
