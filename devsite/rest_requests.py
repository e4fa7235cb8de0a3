"""JSM REST on customer requests: create, read, list, participants, comments, transitions,
attachments. A customer sees a request when they are its reporter, a participant, or a member
of an organisation it is shared with; a request they may not see returns 404."""

import time
from urllib.parse import quote

from flask import Blueprint, Response, jsonify, request

from . import seed, workflow
from .records import now
from .representations import jsm_comment_json, jsm_date, jsm_page, jsm_user_json, request_json, rest_url
from .rest_auth import caller, error_response
from .rest_servicedesk import paging
from .state import Forbidden, NotFound, SiteError, site

bp = Blueprint("rest_requests", __name__)

SD = "/rest/servicedeskapi"


def _request(key):
    issue = site.issue(key)
    if not site.can_view(caller(), issue):
        raise NotFound(f"The request {key} does not exist or you do not have permission to see it.")
    return issue


@bp.post(f"{SD}/request")
def create_request():
    body = request.get_json(silent=True) or {}
    values = body.get("requestFieldValues") or {}
    reporter = caller()
    on_behalf = body.get("raiseOnBehalfOf")
    if on_behalf:
        if not site.is_agent(caller()):
            return error_response(403, "Customers cannot raise requests on behalf of other people.")
        if on_behalf not in site.users:
            return error_response(400, f"The user {on_behalf!r} given in raiseOnBehalfOf does not exist.")
        reporter = on_behalf
    if site.users[reporter].account_type == "app":
        return error_response(400, "An app cannot be the reporter of a request; set raiseOnBehalfOf to a customer.")

    participants = list(body.get("requestParticipants") or [])
    organizations = [str(o) for o in (values.get("organization") or body.get("organization") or [])]
    for participant in participants:
        # JSM accepts an organisation id among the participants to share the request with it.
        if participant not in site.users and str(participant) in site.organizations:
            organizations.append(str(participant))
        elif participant not in site.users:
            return error_response(400, f"The request participant {participant!r} does not exist.")
    participants = [p for p in participants if p in site.users]
    reporter_orgs = {org.id for org in site.organizations_of(reporter)}
    for org_id in organizations:
        if org_id not in site.organizations:
            return error_response(400, f"Organization {org_id!r} does not exist.")
        if not site.is_agent(caller()) and org_id not in reporter_orgs:
            return error_response(403, f"You cannot share a request with organization {org_id}: you are not a member.")

    # JSM refuses a field that is not on the request type's form, as Jira does for any screen.
    custom_fields = {field["fieldId"]: field for field in seed.REQUEST_TYPE_CUSTOM_FIELDS.get(str(body.get("requestTypeId")), [])}
    custom_values = {}
    for field_id, value in values.items():
        if field_id in ("summary", "description", "organization"):
            continue
        field = custom_fields.get(field_id)
        if field is None:
            return error_response(400, f"Field '{field_id}' cannot be set. It is not on the appropriate screen, or unknown.")
        chosen = value.get("value") if isinstance(value, dict) else value
        if field["values"] and (not isinstance(value, dict) or chosen not in field["values"]):
            return error_response(400, f"Specify a valid 'value' for field '{field_id}': one of {field['values']}.")
        custom_values[field_id] = chosen

    channel = "portal" if not site.is_agent(caller()) and site.users[caller()].account_type == "customer" else "api"
    issue = site.create_request(body.get("serviceDeskId"), body.get("requestTypeId"), reporter,
                                values.get("summary"), values.get("description") or "", channel=channel,
                                participants=participants, organizations=organizations,
                                actor_account_id=caller())
    with site.lock:
        issue.request_field_values = custom_values
    return jsonify(request_json(issue)), 201


@bp.get(f"{SD}/request")
def list_requests():
    ownership = request.args.get("requestOwnership", "ALL_REQUESTS")
    status = request.args.get("requestStatus", "ALL_REQUESTS")
    start, limit = paging()
    me = caller()
    my_orgs = {org.id for org in site.organizations_of(me)}
    with site.lock:
        found = []
        for issue in sorted(site.issues.values(), key=lambda i: -int(i.id)):
            mine = issue.reporter == me
            participant = me in issue.participants
            shared = bool(my_orgs & set(issue.organizations))
            if not (mine or participant or shared):
                continue  # JSM lists the caller's own requests, even for agents
            if ownership == "OWNED_REQUESTS" and not mine:
                continue
            if ownership == "PARTICIPATED_REQUESTS" and not participant:
                continue
            done = seed.STATUSES[issue.status][1] == "done"
            if status == "CLOSED_REQUESTS" and not done:
                continue
            if status == "OPEN_REQUESTS" and done:
                continue
            found.append(request_json(issue))
    return jsonify(jsm_page(found, start, limit, f"{SD}/request"))


@bp.get(f"{SD}/request/<key>")
def get_request(key):
    return jsonify(request_json(_request(key)))


@bp.get(f"{SD}/request/<key>/participant")
def list_participants(key):
    issue = _request(key)
    start, limit = paging()
    values = [jsm_user_json(a) for a in issue.participants]
    return jsonify(jsm_page(values, start, limit, f"{SD}/request/{issue.key}/participant"))


@bp.post(f"{SD}/request/<key>/participant")
def add_participants(key):
    issue = _request(key)
    account_ids = (request.get_json(silent=True) or {}).get("accountIds") or []
    if not site.is_agent(caller()) and caller() != issue.reporter:
        return error_response(403, "Only the reporter or an agent can add participants to this request.")
    unknown = [a for a in account_ids if a not in site.users]
    if unknown:
        return error_response(400, f"These accountIds do not exist: {unknown}.")
    site.add_participants(issue.key, account_ids)
    values = [jsm_user_json(a) for a in issue.participants]
    return jsonify(jsm_page(values, 0, 50, f"{SD}/request/{issue.key}/participant"))


# -- comments ------------------------------------------------------------------------------

def _flag(name):
    return request.args.get(name, "true").lower() != "false"


@bp.get(f"{SD}/request/<key>/comment")
def list_comments(key):
    issue = _request(key)
    agent = site.is_agent(caller())
    want_public, want_internal = _flag("public"), _flag("internal") and agent
    expand_rendered = "renderedBody" in request.args.get("expand", "")
    start, limit = paging()
    with site.lock:
        values = [jsm_comment_json(issue, c, expand_rendered) for c in issue.comments
                  if (c.public and want_public) or (not c.public and want_internal)]
    return jsonify(jsm_page(values, start, limit, f"{SD}/request/{issue.key}/comment"))


@bp.post(f"{SD}/request/<key>/comment")
def add_comment(key):
    issue = _request(key)
    body = request.get_json(silent=True) or {}
    text = body.get("body")
    public = body.get("public", True)
    if not isinstance(text, str) or not text.strip():
        return error_response(400, "The comment body is required.")
    if not isinstance(public, bool):
        return error_response(400, "The field public must be true or false.")
    if not public and not site.is_agent(caller()):
        return error_response(403, "Customers can only add public comments.")
    comment = site.add_comment(issue.key, caller(), text, public, via="rest")
    return jsonify(jsm_comment_json(issue, comment)), 201


@bp.get(f"{SD}/request/<key>/comment/<comment_id>")
def get_comment(key, comment_id):
    issue = _request(key)
    comment = issue.comment(comment_id)
    if comment is None or (not comment.public and not site.is_agent(caller())):
        return error_response(404, f"Comment {comment_id!r} does not exist on request {issue.key}.")
    return jsonify(jsm_comment_json(issue, comment, "renderedBody" in request.args.get("expand", "")))


# -- transitions ---------------------------------------------------------------------------

def _customer_transitions(issue):
    """List the transitions the caller may use: agents all, portal customers those into
    workflow.CUSTOMER_TARGETS (reply to support, reopen, resolve)."""
    transitions = site.workflow_transitions(issue)
    if site.is_agent(caller()):
        return transitions
    return [t for t in transitions if t.target in workflow.CUSTOMER_TARGETS]


@bp.get(f"{SD}/request/<key>/transition")
def list_transitions(key):
    issue = _request(key)
    start, limit = paging()
    values = [{"id": t.id, "name": t.name} for t in _customer_transitions(issue)]
    return jsonify(jsm_page(values, start, limit, f"{SD}/request/{issue.key}/transition"))


@bp.post(f"{SD}/request/<key>/transition")
def do_transition(key):
    issue = _request(key)
    body = request.get_json(silent=True) or {}
    transition = next((t for t in _customer_transitions(issue) if t.id == str(body.get("id"))), None)
    if transition is None:
        return error_response(400, f"Transition {body.get('id')!r} is not available for request {issue.key}.")
    # The JSM API takes no field values: the workflow sets the resolution of a customer's resolve.
    resolution = "Done" if "resolution" in transition.required_fields else None
    site.apply_transition(issue, caller(), transition, resolution)
    comment = (body.get("additionalComment") or {}).get("body")
    if comment:
        site.add_comment(issue.key, caller(), comment, True, via="rest")
    return "", 204


# -- attachments ---------------------------------------------------------------------------

# JSM's docs say that unused temporary attachments expire, but not when. NOTE: this site assumes
# one hour.
TEMPORARY_ATTACHMENT_TTL_SECS = 3600


def _take_temporary(issue, temporary_ids):
    """Check every temporary id against `issue` and the caller, then use them all up (all or none)."""
    uploads = []
    for temporary_id in temporary_ids:
        upload = site.temporary_attachments.get(str(temporary_id))
        if upload is None:
            raise SiteError(f"Temporary attachment {temporary_id!r} does not exist or was already used.")
        if time.monotonic() - upload["created"] > TEMPORARY_ATTACHMENT_TTL_SECS:
            site.temporary_attachments.pop(str(temporary_id), None)
            raise SiteError(f"Temporary attachment {temporary_id!r} has expired; upload the file again.")
        if upload["desk_id"] != str(issue.service_desk_id):
            raise SiteError(f"Temporary attachment {temporary_id!r} belongs to another service desk "
                            f"than request {issue.key}.")
        if upload["uploader"] != caller():
            # Temporary files belong to the user who uploaded them.
            raise SiteError(f"Temporary attachment {temporary_id!r} does not exist or was already used.")
        uploads.append(upload)
    for temporary_id in temporary_ids:
        site.temporary_attachments.pop(str(temporary_id), None)
    return uploads


def attachment_json(attachment):
    """JSM's AttachmentDTO; the id is only in the links, as in Jira Cloud."""
    attachment_id = attachment["id"]
    links = {"self": rest_url(f"{SD}/request/{attachment['issue_key']}/attachment/{attachment_id}"),
             "jiraRest": rest_url(f"/rest/api/2/attachment/{attachment_id}"),
             "content": rest_url(f"/rest/api/3/attachment/content/{attachment_id}")}
    if attachment["mimeType"].startswith("image/"):
        links["thumbnail"] = rest_url(f"/rest/api/3/attachment/thumbnail/{attachment_id}")
    return {"filename": attachment["filename"], "author": jsm_user_json(attachment["author"]),
            "created": jsm_date(attachment["created"]), "size": attachment["size"],
            "mimeType": attachment["mimeType"], "_links": links}


@bp.post(f"{SD}/request/<key>/attachment")
def add_attachments(key):
    issue = _request(key)
    body = request.get_json(silent=True) or {}
    temporary_ids = body.get("temporaryAttachmentIds") or []
    public = body.get("public", True)
    if not temporary_ids or not isinstance(temporary_ids, list):
        return error_response(400, "temporaryAttachmentIds is required.")
    if not isinstance(public, bool):
        return error_response(400, "The field public must be true or false.")
    if not public and not site.is_agent(caller()):
        raise Forbidden("Customers can only add public attachments.")
    added = []
    with site.lock:
        for upload in _take_temporary(issue, temporary_ids):
            attachment = {"id": site.new_id(), "issue_key": issue.key, "filename": upload["filename"],
                          "size": upload["size"], "mimeType": upload["content_type"],
                          "author": caller(), "public": public, "created": now()}
            issue.attachments.append(attachment)
            site.attachment_content[attachment["id"]] = upload["data"]
            added.append(attachment_json(attachment))
        comment = None
        if (body.get("additionalComment") or {}).get("body"):
            comment = site.add_comment(issue.key, caller(), body["additionalComment"]["body"], public, via="rest")
    result = {"attachments": jsm_page(added, 0, 50, f"{SD}/request/{issue.key}/attachment")}
    if comment is not None:
        result["comment"] = jsm_comment_json(issue, comment)
    return jsonify(result), 201


@bp.get(f"{SD}/request/<key>/attachment")
def list_attachments(key):
    issue = _request(key)
    agent = site.is_agent(caller())
    start, limit = paging()
    with site.lock:
        values = [attachment_json(a) for a in issue.attachments if a["public"] or agent]
    return jsonify(jsm_page(values, start, limit, f"{SD}/request/{issue.key}/attachment"))


def _attachment(attachment_id):
    """Find an attachment that the caller may see, with its issue; internal ones are for agents only."""
    with site.lock:
        found = next(((issue, a) for issue in site.issues.values() for a in issue.attachments
                      if a["id"] == str(attachment_id)), None)
    if found is None or not site.can_view(caller(), found[0]) or (
            not found[1]["public"] and not site.is_agent(caller())):
        raise NotFound(f"Attachment {attachment_id!r} does not exist or you do not have permission to see it.")
    return found[1]


@bp.get("/rest/api/<version>/attachment/content/<attachment_id>")
def attachment_content(version, attachment_id):
    attachment = _attachment(attachment_id)
    data = site.attachment_content.get(attachment["id"], b"")
    return Response(data, mimetype=attachment["mimeType"], headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(attachment['filename'])}",
        "X-Content-Type-Options": "nosniff"})


@bp.get("/rest/api/<version>/attachment/thumbnail/<attachment_id>")
def attachment_thumbnail(version, attachment_id):
    attachment = _attachment(attachment_id)
    if not attachment["mimeType"].startswith("image/"):
        return error_response(404, f"Attachment {attachment_id!r} has no thumbnail.")
    # This site does not scale images: the thumbnail is the image itself.
    return Response(site.attachment_content.get(attachment["id"], b""), mimetype=attachment["mimeType"],
                    headers={"X-Content-Type-Options": "nosniff"})
