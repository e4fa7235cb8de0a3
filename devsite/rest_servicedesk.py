"""JSM REST (servicedeskapi): service desks, request types and fields, organisations, customers,
knowledge base, temporary attachments. Requests themselves are in rest_requests.py."""

import re
import time

from flask import Blueprint, jsonify, request
from markupsafe import escape

from . import seed
from .records import User
from .representations import jsm_page, jsm_user_json, rest_url
from .rest_auth import caller, error_response, require_agent
from .state import NotFound, site

bp = Blueprint("rest_servicedesk", __name__)

SD = "/rest/servicedeskapi"
HIGHLIGHT_START, HIGHLIGHT_END = "@@@hl@@@", "@@@endhl@@@"


def paging():
    return int(request.args.get("start", 0)), int(request.args.get("limit", 50))


def _desk(desk_id):
    desk = site.service_desks.get(str(desk_id))
    if desk is None:
        raise NotFound(f"Service desk {desk_id!r} does not exist or you do not have access to it.")
    return desk


def desk_json(desk):
    return {"id": desk.id, "projectId": desk.project_id, "projectName": desk.project_name,
            "projectKey": desk.project_key, "_links": {"self": rest_url(f"{SD}/servicedesk/{desk.id}")}}


def org_json(org):
    return {"id": org.id, "name": org.name, "_links": {"self": rest_url(f"{SD}/organization/{org.id}")}}


@bp.get(f"{SD}/servicedesk")
def list_desks():
    start, limit = paging()
    return jsonify(jsm_page([desk_json(d) for d in site.service_desks.values()], start, limit, f"{SD}/servicedesk"))


@bp.get(f"{SD}/servicedesk/<desk_id>")
def get_desk(desk_id):
    return jsonify(desk_json(_desk(desk_id)))


def request_type_json(request_type):
    return {"id": request_type.id, "name": request_type.name, "description": request_type.description,
            "helpText": request_type.help_text, "issueTypeId": request_type.issue_type_id,
            "serviceDeskId": request_type.service_desk_id, "groupIds": [],
            "_links": {"self": rest_url(f"{SD}/servicedesk/{request_type.service_desk_id}/requesttype/{request_type.id}")}}


@bp.get(f"{SD}/servicedesk/<desk_id>/requesttype")
def list_request_types(desk_id):
    desk = _desk(desk_id)
    start, limit = paging()
    values = [request_type_json(t) for t in site.request_types.values() if t.service_desk_id == desk.id]
    return jsonify(jsm_page(values, start, limit, f"{SD}/servicedesk/{desk.id}/requesttype"))


@bp.get(f"{SD}/servicedesk/<desk_id>/requesttype/<type_id>")
def get_request_type(desk_id, type_id):
    desk = _desk(desk_id)
    request_type = site.request_types.get(type_id)
    if request_type is None or request_type.service_desk_id != desk.id:
        return error_response(404, f"Request type {type_id!r} does not exist on service desk {desk.id}.")
    return jsonify(request_type_json(request_type))


@bp.get(f"{SD}/servicedesk/<desk_id>/requesttype/<type_id>/field")
def request_type_fields(desk_id, type_id):
    desk = _desk(desk_id)
    request_type = site.request_types.get(type_id)
    if request_type is None or request_type.service_desk_id != desk.id:
        return error_response(404, f"Request type {type_id!r} does not exist on service desk {desk.id}.")

    def field(field_id, name, required, schema_type="string", custom=False, values=()):
        schema = {"type": schema_type, "system": None if custom else field_id, "custom": None, "customId": None}
        if custom:
            schema.update(custom=f"com.atlassian.jira.plugin.system.customfieldtypes:{'select' if values else 'textfield'}",
                          customId=int(field_id.rsplit("_", 1)[1]))
        return {"fieldId": field_id, "name": name, "description": "", "required": required,
                "defaultValues": [], "validValues": [{"value": value, "label": value, "children": []} for value in values],
                "jiraSchema": schema, "visible": True}

    fields = [field("summary", "Résumé", True), field("description", "Description", False)]
    fields += [field(custom["fieldId"], custom["name"], False, custom["type"], True, custom["values"])
               for custom in seed.REQUEST_TYPE_CUSTOM_FIELDS.get(request_type.id, [])]
    return jsonify({"requestTypeFields": fields,
                    "canRaiseOnBehalfOf": site.is_agent(caller()),
                    "canAddRequestParticipants": True})


@bp.get(f"{SD}/servicedesk/<desk_id>/organization")
def desk_organizations(desk_id):
    require_agent()
    desk = _desk(desk_id)
    start, limit = paging()
    values = [org_json(o) for o in site.organizations.values()]
    return jsonify(jsm_page(values, start, limit, f"{SD}/servicedesk/{desk.id}/organization"))


@bp.get(f"{SD}/servicedesk/<desk_id>/customer")
def desk_customers(desk_id):
    require_agent()
    desk = _desk(desk_id)
    query = request.args.get("query", "").casefold()
    start, limit = paging()
    values = [jsm_user_json(u.account_id) for u in site.users.values()
              if u.account_type == "customer"
              and (not query or query in u.display_name.casefold() or query in u.email.casefold())]
    return jsonify(jsm_page(values, start, limit, f"{SD}/servicedesk/{desk.id}/customer"))


@bp.get(f"{SD}/organization")
def list_organizations():
    start, limit = paging()
    account_id = request.args.get("accountId")
    if site.is_agent(caller()):
        orgs = site.organizations_of(account_id) if account_id else list(site.organizations.values())
    else:
        orgs = site.organizations_of(caller())
    return jsonify(jsm_page([org_json(o) for o in orgs], start, limit, f"{SD}/organization"))


def _organization(org_id):
    org = site.organizations.get(str(org_id))
    if org is None or not (site.is_agent(caller()) or caller() in org.members):
        raise NotFound(f"Organization {org_id!r} does not exist or you do not have access to it.")
    return org


@bp.get(f"{SD}/organization/<org_id>")
def get_organization(org_id):
    return jsonify(org_json(_organization(org_id)))


@bp.get(f"{SD}/organization/<org_id>/user")
def organization_users(org_id):
    require_agent()
    org = _organization(org_id)
    start, limit = paging()
    return jsonify(jsm_page([jsm_user_json(a) for a in org.members], start, limit, f"{SD}/organization/{org.id}/user"))


@bp.post(f"{SD}/organization/<org_id>/user")
def add_organization_users(org_id):
    """Add customers to an organisation, as JSM's "Add users to organization": body
    `{"accountIds": [...]}`, 204 on success, 400 naming an unknown account."""
    require_agent("Only agents and apps can add users to an organization.")
    org = _organization(org_id)
    account_ids = (request.get_json(silent=True) or {}).get("accountIds")
    if not isinstance(account_ids, list) or not all(isinstance(a, str) for a in account_ids):
        return error_response(400, "accountIds must be a list of account ids.")
    with site.lock:
        unknown = [a for a in account_ids if a not in site.users]
        if unknown:
            return error_response(400, f"No user has accountId {unknown[0]!r}.")
        org.members.extend(a for a in account_ids if a not in org.members)
    return "", 204


@bp.post(f"{SD}/customer")
def create_customer():
    require_agent("Only agents and apps can create customers.")
    body = request.get_json(silent=True) or {}
    email = (body.get("email") or "").strip()
    display_name = (body.get("displayName") or body.get("fullName") or "").strip()
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        return error_response(400, f"The email address {email!r} is not valid.")
    with site.lock:
        if any(u.email.lower() == email.lower() for u in site.users.values()):
            return error_response(400, f"A user with the email address {email} already exists.")
        account_id = "cust-" + site.new_id()
        site.users[account_id] = User(account_id, display_name or email, email, "customer")
    return jsonify(jsm_user_json(account_id)), 201


# -- knowledge base ------------------------------------------------------------------------
# GET .../knowledgebase/article searches the articles of the linked Confluence space, as JSM Cloud
# documents it: `query` and `highlight` are required, `start` and `limit` page the results, and each
# result has a title, an excerpt of the page that matches the query, its Confluence source
# (pageId, spaceKey) and the iframe URL that renders it. Control routes in control.py change the
# articles.

EXCERPT_CHARS = 160


def _words(text):
    return {w for w in re.findall(r"\w+", text.casefold()) if len(w) > 2}


def _highlight(text, words):
    def mark(match):
        word = match.group(0)
        return f"{HIGHLIGHT_START}{word}{HIGHLIGHT_END}" if word.casefold() in words else word
    return re.sub(r"\w+", mark, text)


def _excerpt(body, words):
    """Return the sentence of `body` with the most query words (the first on a tie), cut to EXCERPT_CHARS."""
    sentences = [part.strip() for part in re.split(r"(?<=[.;!?])\s+", body) if part.strip()] or [body]
    best = max(sentences, key=lambda sentence: len(words & _words(sentence)))
    return best if len(best) <= EXCERPT_CHARS else best[:EXCERPT_CHARS].rsplit(" ", 1)[0] + "…"


def _articles(path):
    query = request.args.get("query")
    if not query:
        return error_response(400, "The query parameter is required.")
    highlight = request.args.get("highlight")
    if highlight is None:
        return error_response(400, "The highlight parameter is required.")
    highlight = highlight.lower() == "true"
    words = _words(query)
    with site.lock:
        articles = sorted(site.kb_articles.items())
    ranked = []
    for page_id, article in articles:
        score = len(words & _words(article["title"])) * 2 + len(words & _words(article["body"]))
        if score:
            ranked.append((-score, page_id, article))
    values = []
    for _, page_id, article in sorted(ranked, key=lambda entry: entry[:2]):
        title, excerpt = article["title"], _excerpt(article["body"], words)
        values.append({
            "title": _highlight(title, words) if highlight else title,
            "excerpt": _highlight(excerpt, words) if highlight else excerpt,
            "source": {"type": "confluence", "pageId": page_id, "spaceKey": article["space_key"]},
            "content": {"iframeSrc": rest_url(f"{SD}/knowledgebase/article/view/{page_id}")},
        })
    start, limit = paging()
    return jsonify(jsm_page(values, start, limit, path))


@bp.get(f"{SD}/knowledgebase/article")
def search_articles():
    return _articles(f"{SD}/knowledgebase/article")


@bp.get(f"{SD}/servicedesk/<desk_id>/knowledgebase/article")
def search_desk_articles(desk_id):
    desk = _desk(desk_id)
    return _articles(f"{SD}/servicedesk/{desk.id}/knowledgebase/article")


@bp.get(f"{SD}/knowledgebase/article/view/<page_id>")
def view_article(page_id):
    with site.lock:
        article = site.kb_articles.get(page_id)
    if article is None:
        return error_response(404, f"Article {page_id!r} does not exist.")
    title, body = escape(article["title"]), escape(article["body"])
    return f"<!doctype html><meta charset=utf-8><title>{title}</title><h1>{title}</h1><p>{body}</p>"


# -- temporary attachments -----------------------------------------------------------------

@bp.post(f"{SD}/servicedesk/<desk_id>/attachTemporaryFile")
def attach_temporary_file(desk_id):
    desk = _desk(desk_id)
    if request.headers.get("X-Atlassian-Token") != "no-check":
        return error_response(403, "XSRF check failed: send the header X-Atlassian-Token: no-check.")
    files = request.files.getlist("file")
    if not files:
        return error_response(400, "No file in the multipart field 'file'.")
    created = []
    for upload in files:
        data = upload.read()
        temporary_id = "temp" + site.new_id()
        with site.lock:
            # The bytes wait here until the request attachment call; "created" lets that call refuse
            # a temporary file older than TEMPORARY_ATTACHMENT_TTL_SECS.
            site.temporary_attachments[temporary_id] = {
                "filename": upload.filename, "content_type": upload.mimetype, "size": len(data),
                "desk_id": desk.id, "uploader": caller(), "data": data, "created": time.monotonic()}
        created.append({"temporaryAttachmentId": temporary_id, "fileName": upload.filename})
    return jsonify({"temporaryAttachments": created}), 201
