"""The self-service settings of a site for support leads: the FAQ/TUTO catalogue, its import, the
synonyms, the start form's extra fields, the out-of-scope guard, the knowledge-base copy and the
statistics of proposed articles.

Routes under /api/admin/faq, called by static/admin/faq-settings.js with a context token, for
project or Jira administrators only. Every change leaves an audit entry. Errors are JSON
`{"error": {"code", "message", "field"}}`, `field` naming the invalid value when known, with the
message in the language of `?lang=fr|en`.
"""

import logging

from flask import Blueprint, g, jsonify, request

from ..access.admin_auth import require_admin
from ..access.subscriptions import audit
from ..atlassian.auth import require_jwt
from ..atlassian.forge.files import fit_reusable
from ..atlassian.jira_client import jira_client_for
from ..atlassian.jira_errors import JiraError
from ..chat.actions import database
from ..chat.start import _desk_and_type
from ..errors import AddonError, InvalidInput
from ..faq import catalogue, knowledge_base, service
from ..faq.analysis import parse_synonyms
from ..faq.catalogue import article_json, bump_version
from ..faq.scope import clean_guard, guard_settings
from ..faq.statement import DESCRIPTION_TARGET, FieldError, clean_form_fields
from ..settings import get_settings, put_setting
from .api import json_body, localize

log = logging.getLogger(__name__)

bp = Blueprint("faq_admin_api", __name__, url_prefix="/api/admin/faq")

IMPORT_MAX_BYTES = 5 * 1024 * 1024
SYNONYMS_MAX_CHARS = 20_000
EXPORT_FILE_NAME = "faq-catalogue.json"
# The settings this page edits, and the audit action of each.
SETTING_ACTIONS = {
    "faq_synonyms": "faq_synonyms_changed",
    "start_form_fields": "start_form_fields_changed",
    "knowledge_base_sync": "knowledge_base_sync_changed",
    "self_service_opens_resolved_request": "self_service_setting_changed",
    "scope_guard": "scope_guard_changed",
}
# Settings whose change alters the search index.
INDEX_SETTINGS = ("faq_synonyms", "knowledge_base_sync")


class JiraUnavailable(AddonError):
    code = "jira_unavailable"
    status = 503


@bp.errorhandler(AddonError)
def render_error(error):
    body = error.to_dict()
    body["error"]["message"] = localize(error.message, request.args.get("lang"))
    return jsonify(body), error.status


def actor():
    return g.connect.account_id


def settings_json(settings):
    return {
        "faq_synonyms": settings.get("faq_synonyms") or "",
        "start_form_fields": settings.get("start_form_fields") or [],
        "knowledge_base_sync": bool(settings.get("knowledge_base_sync", True)),
        "self_service_opens_resolved_request": bool(settings.get("self_service_opens_resolved_request")),
        "scope_guard": guard_settings(settings),
    }


@bp.get("")
@require_jwt("context")
@require_admin
def show():
    installation_id = g.connect.installation.id
    return jsonify({
        "articles": [article_json(article) for article in catalogue.list_articles(installation_id)],
        "settings": settings_json(get_settings(installation_id)),
        "knowledge_base": knowledge_base.status_json(installation_id),
    })


# -- articles ----------------------------------------------------------------------------------

@bp.post("/articles")
@require_jwt("context")
@require_admin
def create_article():
    article = catalogue.create_article(g.connect.installation.id, actor(), json_body())
    return jsonify({"article": article_json(article)}), 201


@bp.put("/articles/<ref>")
@require_jwt("context")
@require_admin
def update_article(ref):
    article = catalogue.update_article(g.connect.installation.id, actor(), ref, json_body())
    return jsonify({"article": article_json(article)})


@bp.delete("/articles/<ref>")
@require_jwt("context")
@require_admin
def delete_article(ref):
    catalogue.delete_article(g.connect.installation.id, actor(), ref)
    return "", 204


@bp.post("/import")
@require_jwt("context")
@fit_reusable
@require_admin
def import_articles():
    """Import a JSON or CSV file of articles (multipart field `file`, or the body); all or nothing."""
    upload = request.files.get("file")
    if upload is not None:
        content, filename = upload.read(IMPORT_MAX_BYTES + 1), upload.filename or ""
    else:
        content, filename = request.get_data(cache=False)[:IMPORT_MAX_BYTES + 1], request.args.get("filename", "")
    if not content:
        raise InvalidInput("Joignez un fichier JSON ou CSV (champ « file ») ou envoyez-le comme corps. "
                           "/ Attach a JSON or CSV file (field “file”) or send it as the body.")
    if len(content) > IMPORT_MAX_BYTES:
        raise InvalidInput(f"Le fichier dépasse {IMPORT_MAX_BYTES // 1024} Kio ; découpez-le. "
                           f"/ The file is larger than {IMPORT_MAX_BYTES // 1024} KiB; split it.")
    dry_run = request.args.get("dry_run") in ("1", "true")
    report = catalogue.import_articles(g.connect.installation.id, actor(), content, filename, dry_run=dry_run)
    lang = request.args.get("lang")
    for error in report["errors"]:
        error["message"] = localize(error["message"], lang)
    return jsonify({"report": report}), 200 if not report["errors"] else 422


@bp.get("/export")
@require_jwt("context")
@require_admin
def export_articles():
    articles = [{key: value for key, value in article_json(article).items() if key != "updated_at"}
                for article in catalogue.list_articles(g.connect.installation.id)]
    response = jsonify(articles)
    response.headers["Content-Disposition"] = f'attachment; filename="{EXPORT_FILE_NAME}"'
    return response


# -- settings ----------------------------------------------------------------------------------

def request_fields(installation):
    """Return the fields of the chat's request type other than summary and description: [{id, name, jira_type}]."""
    settings = get_settings(installation.id)
    with jira_client_for(installation) as jira:
        desk_id, type_id = _desk_and_type(jira, settings)
        page = jira.service_desk.get(
            f"rest/servicedeskapi/servicedesk/{desk_id}/requesttype/{type_id}/field") or {}
    fields = []
    for field in page.get("requestTypeFields") or []:
        field_id = field.get("fieldId")
        if field_id and field_id not in ("summary", "description"):
            schema = field.get("jiraSchema") or {}
            fields.append({"id": field_id, "name": field.get("name") or field_id,
                           "jira_type": schema.get("type") or "string"})
    return fields


@bp.get("/request-fields")
@require_jwt("context")
@require_admin
def list_request_fields():
    installation = g.connect.installation
    try:
        return jsonify({"request_fields": request_fields(installation)})
    except JiraError as error:
        log.warning("Listing request fields failed for client_key %s: %s", installation.client_key, error)
        raise JiraUnavailable("Jira n'a pas pu lister les champs du type de demande ; réessayez. "
                              "/ Jira could not list the request type's fields; try again.") from None


def _mapped_fields(installation, fields):
    """Check each field mapped to a request field against the request type, and note its Jira type."""
    if not any(field["target"] != DESCRIPTION_TARGET for field in fields):
        return fields
    try:
        known = {field["id"]: field for field in request_fields(installation)}
    except JiraError as error:
        log.warning("Checking request fields failed for client_key %s: %s", installation.client_key, error)
        raise JiraUnavailable("Jira n'a pas pu vérifier les champs du type de demande ; réessayez. "
                              "/ Jira could not check the request type's fields; try again.") from None
    for index, field in enumerate(fields):
        if field["target"] == DESCRIPTION_TARGET:
            continue
        if field["target"] not in known:
            raise FieldError(f"Le champ {field['target']} n'est pas sur le formulaire du type de demande de la "
                             f"discussion ; choisissez un champ proposé ou « description ». / Field "
                             f"{field['target']} is not on the chat request type's form; choose a field offered "
                             f"or “description”.", f"start_form_fields[{index}].target")
        field["jira_type"] = known[field["target"]]["jira_type"]
    return fields


def validated_settings(body, installation):
    unknown = sorted(set(body) - set(SETTING_ACTIONS))
    if unknown:
        allowed = ", ".join(SETTING_ACTIONS)
        raise InvalidInput(f"Réglages inconnus : {', '.join(unknown)} ; réglages permis : {allowed}. "
                           f"/ Unknown settings: {', '.join(unknown)}; allowed settings: {allowed}.")
    changes = {}
    if "faq_synonyms" in body:
        text = body["faq_synonyms"] or ""
        if not isinstance(text, str) or len(text) > SYNONYMS_MAX_CHARS:
            raise FieldError(f"Les synonymes tiennent en {SYNONYMS_MAX_CHARS} caractères de texte au plus. "
                             f"/ The synonyms fit in at most {SYNONYMS_MAX_CHARS} characters of text.", "faq_synonyms")
        try:
            parse_synonyms(text)
        except ValueError as error:
            raise FieldError(f"Synonymes invalides : {error} / Invalid synonyms: {error}", "faq_synonyms") from None
        changes["faq_synonyms"] = text.strip()
    if "start_form_fields" in body:
        changes["start_form_fields"] = _mapped_fields(installation, clean_form_fields(body["start_form_fields"]))
    for name in ("knowledge_base_sync", "self_service_opens_resolved_request"):
        if name in body:
            if not isinstance(body[name], bool):
                raise FieldError(f"{name} vaut true ou false. / {name} is true or false.", name)
            changes[name] = body[name]
    if "scope_guard" in body:
        changes["scope_guard"] = clean_guard(body["scope_guard"])
    return changes


@bp.put("/settings")
@require_jwt("context")
@require_admin
def update_settings():
    installation = g.connect.installation
    body = json_body()
    changes = validated_settings(body, installation)
    current = get_settings(installation.id)
    changed = {name: value for name, value in changes.items() if value != current.get(name)}

    with database().transaction() as session:
        for name, value in changed.items():
            put_setting(session, installation.id, name, value)
            audit(session, installation.id, actor(), SETTING_ACTIONS[name], f"Changed the setting {name}",
                  setting=name, changed=[name])
        if any(name in changed for name in INDEX_SETTINGS):
            bump_version(session, installation.id)
    if changed:
        log.info("Self-service settings %s changed on client_key %s by %s", sorted(changed),
                 installation.client_key, actor())
    return jsonify({"settings": settings_json(get_settings(installation.id))})


# -- knowledge base and statistics ---------------------------------------------------------------

@bp.post("/knowledge-base/sync")
@require_jwt("context")
@require_admin
def sync_knowledge_base():
    installation = g.connect.installation
    result = knowledge_base.sync_site(installation)
    status = 200 if result.error is None else 502
    return jsonify({"result": result.as_dict(), "knowledge_base": knowledge_base.status_json(installation.id)}), status


@bp.get("/stats")
@require_jwt("context")
@require_admin
def statistics():
    return jsonify(service.statistics(g.connect.installation.id))

