"""Self-service routes of the start form, for key users, and the agents' out-of-scope flag.

Every route needs `Authorization: JWT <context token>`. The start-form routes serve key users of
an active subscription only, as the chat's own routes do, and read the articles of the token's
site only. Statements travel in POST bodies so that they stay out of access logs. Errors are
JSON `{"error": {"code", "message", ...}}` in the language of `?lang=fr|en`.
"""

import logging

from flask import Blueprint, g, jsonify, request
from flask_babel import get_locale

from ..access.keyusers import key_user_memberships
from ..atlassian.auth import require_jwt
from ..chat.access import Rejection, rejection_error, rejection_of, require_agent
from ..chat.models import Impact
from ..errors import AddonError, AuthenticationError, InvalidInput, PermissionDenied
from ..faq import intake, service
from ..faq.scope import first_message_of, flag_by_agent, flag_json, flag_of, guard_view, scope_of
from ..faq.statement import VAGUE_HINT, is_vague
from ..settings import get_settings
from ..sla.live import answer_by_preview
from .api import json_body, load_conversation, localize

log = logging.getLogger(__name__)

bp = Blueprint("faq_api", __name__, url_prefix="/api")

TEXT_MAX_CHARS = 10_000


@bp.errorhandler(AddonError)
def render_error(error):
    body = error.to_dict()
    body["error"]["message"] = localize(error.message, request.args.get("lang"))
    return jsonify(body), error.status


def page_lang():
    lang = (request.args.get("lang") or "").lower()[:2]
    return lang if lang in ("fr", "en") else str(get_locale() or "fr")[:2]


def key_user_subscription(organization_id=None):
    """Return the active subscription the caller is a key user of, that the form is for.

    A key user of several organisations names one with `organization_id`. Without it, the first
    is used for statistics only (the chat start itself requires a choice).
    """
    connect = g.connect
    if not connect.account_id:
        raise AuthenticationError("Le jeton ne nomme aucun utilisateur ; connectez-vous au portail. "
                                  "/ The token names no user; sign in to the portal.")
    installation_id = connect.installation.id
    memberships = key_user_memberships(installation_id, connect.account_id)
    if not memberships:
        raise rejection_error(rejection_of(installation_id, connect.account_id) or Rejection.NOT_KEY_USER)
    if organization_id not in (None, ""):
        for subscription in memberships:
            if subscription.organization_id == str(organization_id):
                return subscription
        raise PermissionDenied(
            "Vous n'êtes pas utilisateur clé d'un contrat actif de cette organisation ; choisissez une "
            "organisation proposée. / You are not a key user of an active subscription of this "
            "organization; choose one of the organizations offered.")
    return memberships[0]


def text_field(body, name):
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > TEXT_MAX_CHARS:
        raise InvalidInput(f"{name} : texte de {TEXT_MAX_CHARS} caractères au plus attendu. "
                           f"/ {name}: text of at most {TEXT_MAX_CHARS} characters is expected.")
    return value


def statement_of(body):
    return {"summary": text_field(body, "summary"), "message": text_field(body, "message"),
            "product_area": body.get("product_area") if isinstance(body.get("product_area"), str) else None}


# -- the start form ------------------------------------------------------------------------------

@bp.post("/faq/suggest")
@require_jwt("context")
def suggest():
    """Return the articles for the statement typed so far, its scope and whether it is too vague."""
    body = json_body()
    subscription = key_user_subscription(body.get("organization_id"))
    installation_id = g.connect.installation.id
    statement = statement_of(body)
    text = f"{statement['summary']}\n{statement['message']}"

    suggestions = service.suggest(installation_id, text) if text.strip() else []
    if body.get("session_id") is not None and suggestions:
        service.record_impressions(installation_id, service.clean_session_id(body["session_id"]),
                                   g.connect.account_id, subscription.organization_id,
                                   [article["id"] for article in suggestions])
    scope = scope_of(statement["summary"], statement["message"]) if text.strip() else "support"
    vague = is_vague(statement["summary"], statement["message"])
    return jsonify({
        "suggestions": suggestions,
        "scope": scope,
        "guard": guard_view(get_settings(installation_id), scope, page_lang()),
        "vague": vague,
        "hint": localize(VAGUE_HINT, page_lang()) if vague else None,
    })


@bp.post("/faq/solved")
@require_jwt("context")
def solved():
    """Record that an article solved the key user's problem; open a resolved request when the site settings request one."""
    body = json_body()
    subscription = key_user_subscription(body.get("organization_id"))
    installation = g.connect.installation
    session_id = service.clean_session_id(body.get("session_id"))
    article = service.known_article(installation.id, body.get("article_id"))
    statement = statement_of(body)

    existing = service.resolution_of(installation.id, session_id, g.connect.account_id)
    if existing is None:
        settings = get_settings(installation.id)
        issue_key = None
        if settings.get("self_service_opens_resolved_request"):
            issue_key = intake.open_resolved_request(installation, settings, g.connect.account_id,
                                                     subscription.organization_id, statement, article)
        existing = service.store_resolution(installation.id, session_id, article, g.connect.account_id,
                                            subscription.organization_id, statement, issue_key)
    return jsonify({"resolution": {"article_id": existing.article_id, "issue_key": existing.issue_key}}), 201


@bp.post("/faq/rate")
@require_jwt("context")
def rate():
    body = json_body()
    subscription = key_user_subscription(body.get("organization_id"))
    installation_id = g.connect.installation.id
    session_id = service.clean_session_id(body.get("session_id"))
    service.rate(installation_id, session_id, body.get("article_id"), body.get("helpful"),
                 g.connect.account_id, subscription.organization_id)
    return jsonify({"rating": {"article_id": body.get("article_id"), "helpful": body.get("helpful")}})


@bp.get("/start-form/answer-by")
@require_jwt("context")
def answer_by():
    """Return when a technician will respond to a chat started now, or when support opens."""
    subscription = key_user_subscription(request.args.get("organization_id"))
    impact = request.args.get("impact") or Impact.QUESTION
    if impact not in Impact.ALL:
        raise InvalidInput(f"Impact inconnu {impact[:20]!r} : choisissez {', '.join(Impact.ALL)}. "
                           f"/ Unknown impact {impact[:20]!r}: choose {', '.join(Impact.ALL)}.")
    return jsonify({"sla": answer_by_preview(g.connect.installation.id, subscription.sla_tier, impact)})


# -- the agent's flag --------------------------------------------------------------------------

@bp.get("/chats/<int:conversation_id>/out-of-scope")
@require_jwt("context")
def show_flag(conversation_id):
    viewer, conversation = load_conversation(conversation_id)
    require_agent(viewer)
    return jsonify({"out_of_scope": flag_json(flag_of(conversation.id))})


@bp.post("/chats/<int:conversation_id>/out-of-scope")
@require_jwt("context")
def flag(conversation_id):
    viewer, conversation = load_conversation(conversation_id)
    require_agent(viewer)
    flag_row, created = flag_by_agent(viewer, conversation, first_message_of(conversation.id))
    return jsonify({"out_of_scope": flag_json(flag_row)}), 201 if created else 200
