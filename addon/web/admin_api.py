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
from ..atlassian.auth import require_jwt
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


def subscription_json(subscription, members=None):
    if subscription is None:
        return None
    names = {member["account_id"]: member for member in members or []}
    key_users = [{
        "account_id": key_user.account_id,
        "display_name": names.get(key_user.account_id, {}).get("display_name"),
        "email": names.get(key_user.account_id, {}).get("email"),
        "added_at": key_user.added_at.isoformat(),
    } for key_user in subscriptions.key_users_of(subscription.id)]
    return {
        "id": subscription.id,
        "organization_id": subscription.organization_id,
        "organization_name": subscription.organization_name,
        "contract_reference": subscription.contract_reference,
        "status": subscription.status,
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
    return jsonify({"subscription": subscription_json(subscription, members)})


@bp.get("/organizations")
@require_jwt("context")
@require_admin
def organizations():
    pairs = subscriptions.list_organizations(g.connect.installation)
    return jsonify({"organizations": [{
        "id": organization["id"], "name": organization["name"],
        "state": subscription.status if subscription is not None else "none",
        "subscription": subscription_json(subscription),
    } for organization, subscription in pairs]})


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
        error["message"] = localize(error["message"], lang)
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
    entries, total = subscriptions.audit_log(g.connect.installation.id, page, per_page)
    return jsonify({"page": page, "total": total, "entries": [{
        "id": entry.id, "actor_account_id": entry.actor_account_id, "action": entry.action,
        "subscription_id": entry.subscription_id, "summary": entry.summary, "details": entry.details,
        "created_at": entry.created_at.isoformat(),
    } for entry in entries]})
