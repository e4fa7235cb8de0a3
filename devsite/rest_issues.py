"""Jira platform REST on issues: issue, attachment metadata, comments (v2 string bodies, v3 ADF),
transitions, issue and comment properties.

Portal customers hold no Browse Projects permission, so every route here returns 404 to them,
as Jira does for an issue one may not see.
"""

from flask import Blueprint, jsonify, request

from . import seed
from .representations import adf_to_text, attachment_json, comment_json, is_adf, issue_json, status_json
from .rest_auth import caller, error_response
from .state import NotFound, site

bp = Blueprint("rest_issues", __name__)

API = "/rest/api/<any('2','3'):version>"
MAX_PROPERTY_BYTES = 32768


def _issue(key):
    issue = site.issue(key)
    if "BROWSE_PROJECTS" not in site.permissions(caller(), issue.project_key):
        raise NotFound("Issue does not exist or you do not have permission to see it.")
    return issue


def _comment(issue, comment_id):
    comment = issue.comment(comment_id)
    if comment is None:
        raise NotFound(f"Can not find a comment for the id: {comment_id}.")
    return comment


def _body_text(body, version):
    """The comment body as plain text, or None when it is invalid for this API version."""
    if version == "3":
        return adf_to_text(body) if is_adf(body) else None
    return body if isinstance(body, str) else None


def _property_list(raw):
    properties = {}
    for item in raw or []:
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            properties[item["key"]] = item.get("value")
    return properties


# -- issue ---------------------------------------------------------------------------------

@bp.get(f"{API}/issue/<key>")
def get_issue(version, key):
    issue = _issue(key)
    property_keys = [k for k in request.args.get("properties", "").split(",") if k]
    if property_keys == ["*all"]:
        property_keys = list(issue.properties)
    with site.lock:
        body = issue_json(issue, int(version), property_keys)
    wanted = [f for f in request.args.get("fields", "").split(",") if f and f not in ("*all", "*navigable")]
    if wanted:
        body["fields"] = {name: value for name, value in body["fields"].items() if name in wanted}
    return jsonify(body)


@bp.get(f"{API}/attachment/<attachment_id>")
def get_attachment(version, attachment_id):
    """Return an attachment's metadata, the `self` URL of each item of the issue field `attachment`."""
    with site.lock:
        found = next(((issue, attachment) for issue in site.issues.values() for attachment in issue.attachments
                      if attachment["id"] == attachment_id), None)
    if found is None or "BROWSE_PROJECTS" not in site.permissions(caller(), found[0].project_key):
        raise NotFound(f"Attachment {attachment_id!r} does not exist or you do not have permission to see it.")
    return jsonify(attachment_json(found[1], int(version)))


@bp.put(f"{API}/issue/<key>")
def edit_issue(version, key):
    issue = _issue(key)
    body = request.get_json(silent=True) or {}
    fields = body.get("fields", {})
    labels = fields.get("labels")
    for operation in body.get("update", {}).get("labels", []):
        labels = list(labels if labels is not None else issue.labels)
        if "add" in operation and operation["add"] not in labels:
            labels.append(operation["add"])
        if "remove" in operation and operation["remove"] in labels:
            labels.remove(operation["remove"])
        if "set" in operation:
            labels = list(operation["set"])
    unknown = set(fields) - {"labels", "priority"}
    if unknown:
        return error_response(400, f"Field(s) {sorted(unknown)} cannot be set on this local site.")
    priority = None
    if "priority" in fields:
        priority = _priority_name(fields["priority"])
        if priority is None:
            return jsonify({"errorMessages": [], "errors": {"priority": (
                f"The priority {fields['priority']!r} does not exist; give the name or id of one of "
                f"{', '.join(seed.PRIORITIES)}.")}}), 400
    site.update_issue(issue.key, caller(), labels=labels, priority=priority)
    return "", 204


@bp.put(f"{API}/issue/<key>/assignee")
def assign_issue(version, key):
    """Jira's assign route: `accountId` names the assignee, null unassigns. Only users who hold the
    Assignable User permission (JSM agents) may be assigned; the caller needs Assign Issues."""
    issue = _issue(key)
    if "ASSIGN_ISSUES" not in site.permissions(caller(), issue.project_key):
        return error_response(403, "You do not have permission to assign issues.")
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or "accountId" not in body:
        return error_response(400, "The request body must name the assignee as accountId (null to unassign).")
    account_id = body["accountId"]
    if account_id is not None:
        if account_id not in site.users:
            return error_response(404, f"The user with accountId {account_id!r} does not exist.")
        if "SERVICEDESK_AGENT" not in site.permissions(account_id, issue.project_key):
            return jsonify({"errorMessages": [], "errors": {
                "assignee": f"User '{account_id}' cannot be assigned issues."}}), 400
    site.assign_issue(issue.key, caller(), account_id)
    return "", 204


def _priority_name(value):
    """Return the name of the priority that `value` ({"name": ...} or {"id": ...}) names, or None."""
    if not isinstance(value, dict):
        return None
    if value.get("name") in seed.PRIORITIES:
        return value["name"]
    return next((name for name, priority_id in seed.PRIORITIES.items() if priority_id == str(value.get("id"))), None)


# -- comments ------------------------------------------------------------------------------

@bp.get(f"{API}/issue/<key>/comment")
def list_comments(version, key):
    issue = _issue(key)
    start = int(request.args.get("startAt", 0))
    limit = int(request.args.get("maxResults", 5000))
    expand = "properties" in request.args.get("expand", "")
    with site.lock:
        comments = list(issue.comments)
        if request.args.get("orderBy", "created").startswith("-"):
            comments.reverse()
        values = [comment_json(issue, c, int(version), expand) for c in comments[start:start + limit]]
    return jsonify({"self": request.url, "startAt": start, "maxResults": limit,
                    "total": len(comments), "comments": values})


@bp.post(f"{API}/issue/<key>/comment")
def add_comment(version, key):
    issue = _issue(key)
    if "ADD_COMMENTS" not in site.permissions(caller(), issue.project_key):
        return error_response(403, "You do not have the permission to comment on this issue.")
    body = request.get_json(silent=True) or {}
    text = _body_text(body.get("body"), version)
    if text is None or not text.strip():
        return error_response(400, "Comment body is not valid!") if version == "3" else \
            error_response(400, "Comment body can not be empty!")
    comment = site.add_comment(issue.key, caller(), text, True, _property_list(body.get("properties")), via="rest")
    return jsonify(comment_json(issue, comment, int(version), expand_properties=True)), 201


@bp.get(f"{API}/issue/<key>/comment/<comment_id>")
def get_comment(version, key, comment_id):
    issue = _issue(key)
    comment = _comment(issue, comment_id)
    return jsonify(comment_json(issue, comment, int(version), "properties" in request.args.get("expand", "")))


@bp.put(f"{API}/issue/<key>/comment/<comment_id>")
def update_comment(version, key, comment_id):
    issue = _issue(key)
    comment = _comment(issue, comment_id)
    if comment.author != caller() and "EDIT_ALL_COMMENTS" not in site.permissions(caller(), issue.project_key):
        return error_response(403, "You do not have the permission to edit this comment.")
    body = request.get_json(silent=True) or {}
    text = _body_text(body.get("body"), version)
    if text is None or not text.strip():
        return error_response(400, "Comment body is not valid!")
    comment = site.update_comment(issue.key, comment.id, caller(), text, _property_list(body.get("properties")))
    return jsonify(comment_json(issue, comment, int(version)))


@bp.delete(f"{API}/issue/<key>/comment/<comment_id>")
def delete_comment(version, key, comment_id):
    issue = _issue(key)
    comment = _comment(issue, comment_id)
    if comment.author != caller() and "DELETE_ALL_COMMENTS" not in site.permissions(caller(), issue.project_key):
        return error_response(403, "You do not have the permission to delete this comment.")
    site.delete_comment(issue.key, comment.id, caller())
    return "", 204


# -- transitions ---------------------------------------------------------------------------

def _transition_json(transition, expand_fields):
    body = {"id": transition.id, "name": transition.name, "to": status_json(transition.target),
            "hasScreen": bool(transition.required_fields), "isGlobal": False, "isInitial": False,
            "isAvailable": True, "isConditional": False}
    if expand_fields:
        body["fields"] = {}
        if "resolution" in transition.required_fields:
            body["fields"]["resolution"] = {
                "required": True, "name": "Resolution", "key": "resolution",
                "schema": {"type": "resolution", "system": "resolution"},
                "operations": ["set"],
                "allowedValues": [{"id": i, "name": n} for n, i in seed.RESOLUTIONS.items()],
            }
    return body


@bp.get(f"{API}/issue/<key>/transitions")
def list_transitions(version, key):
    issue = _issue(key)
    expand_fields = "transitions.fields" in request.args.get("expand", "")
    return jsonify({"expand": "transitions", "transitions": [
        _transition_json(transition, expand_fields) for transition in site.workflow_transitions(issue)
    ]})


@bp.post(f"{API}/issue/<key>/transitions")
def do_transition(version, key):
    issue = _issue(key)
    if "TRANSITION_ISSUES" not in site.permissions(caller(), issue.project_key):
        return error_response(403, "You do not have the permission to transition this issue.")
    body = request.get_json(silent=True) or {}
    transition_id = str((body.get("transition") or {}).get("id", ""))
    transition = next((t for t in site.workflow_transitions(issue) if t.id == transition_id), None)
    if transition is None:
        return error_response(400, f"Transition id '{transition_id}' is not valid for this issue.")
    resolution = (body.get("fields") or {}).get("resolution") or {}
    resolution = resolution.get("name") or next(
        (n for n, i in seed.RESOLUTIONS.items() if i == str(resolution.get("id"))), None)
    if "resolution" in transition.required_fields and not resolution:
        return jsonify({"errorMessages": [], "errors": {"resolution": "Resolution is required."}}), 400
    comment = ((body.get("update") or {}).get("comment") or [{}])[0].get("add", {}).get("body")
    site.apply_transition(issue, caller(), transition, resolution)
    if comment:
        text = _body_text(comment, version)
        if text:
            site.add_comment(issue.key, caller(), text, True, via="rest")
    return "", 204


# -- properties ----------------------------------------------------------------------------

def _property_value():
    if len(request.get_data()) > MAX_PROPERTY_BYTES:
        return None, error_response(400, f"The property value exceeds {MAX_PROPERTY_BYTES} bytes.")
    value = request.get_json(silent=True)
    if value is None and request.get_data().strip() != b"null":
        return None, error_response(400, "The property value must be valid JSON.")
    return value, None


@bp.get(f"{API}/issue/<key>/properties")
def list_issue_properties(version, key):
    issue = _issue(key)
    return jsonify({"keys": [{"self": request.base_url + "/" + k, "key": k} for k in issue.properties]})


@bp.get(f"{API}/issue/<key>/properties/<property_key>")
def get_issue_property(version, key, property_key):
    issue = _issue(key)
    if property_key not in issue.properties:
        return error_response(404, f"The property with key '{property_key}' does not exist.")
    return jsonify({"key": property_key, "value": issue.properties[property_key]})


@bp.put(f"{API}/issue/<key>/properties/<property_key>")
def set_issue_property(version, key, property_key):
    issue = _issue(key)
    value, error = _property_value()
    if error:
        return error
    created = site.set_issue_property(issue.key, property_key, value, caller())
    return "", 201 if created else 200


@bp.delete(f"{API}/issue/<key>/properties/<property_key>")
def delete_issue_property(version, key, property_key):
    issue = _issue(key)
    site.delete_issue_property(issue.key, property_key, caller())
    return "", 204


def _comment_by_id(comment_id):
    issue, comment = site.find_comment(comment_id)
    _issue(issue.key)
    return issue, comment


@bp.get(f"{API}/comment/<comment_id>/properties")
def list_comment_properties(version, comment_id):
    _, comment = _comment_by_id(comment_id)
    return jsonify({"keys": [{"self": request.base_url + "/" + k, "key": k} for k in comment.properties]})


@bp.get(f"{API}/comment/<comment_id>/properties/<property_key>")
def get_comment_property(version, comment_id, property_key):
    _, comment = _comment_by_id(comment_id)
    if property_key not in comment.properties:
        return error_response(404, f"The property with key '{property_key}' does not exist.")
    return jsonify({"key": property_key, "value": comment.properties[property_key]})


@bp.put(f"{API}/comment/<comment_id>/properties/<property_key>")
def set_comment_property(version, comment_id, property_key):
    _, comment = _comment_by_id(comment_id)
    value, error = _property_value()
    if error:
        return error
    with site.lock:
        created = property_key not in comment.properties
        comment.properties[property_key] = value
        if property_key == "sd.public.comment" and isinstance(value, dict):
            comment.public = value.get("internal") is not True
    return "", 201 if created else 200


@bp.delete(f"{API}/comment/<comment_id>/properties/<property_key>")
def delete_comment_property(version, comment_id, property_key):
    _, comment = _comment_by_id(comment_id)
    with site.lock:
        if comment.properties.pop(property_key, None) is None:
            return error_response(404, f"The property with key '{property_key}' does not exist.")
        if property_key == "sd.public.comment":
            comment.public = True
    return "", 204
