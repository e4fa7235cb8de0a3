"""JSON shapes of Jira's REST API (platform v2/v3 and servicedeskapi) built from the records."""

from .records import epoch_millis, jira_time
from .seed import PRIORITIES, RESOLUTIONS, STATUSES
from .state import site

STATUS_CATEGORY_NAMES = {"new": "To Do", "indeterminate": "In Progress", "done": "Done"}
STATUS_CATEGORY_IDS = {"new": 2, "indeterminate": 4, "done": 3}


def rest_url(path):
    return f"{site.base_url}{path}"


def user_json(account_id, expand_groups=False):
    user = site.users.get(account_id)
    if user is None:
        return None
    body = {
        "self": rest_url(f"/rest/api/3/user?accountId={user.account_id}"),
        "accountId": user.account_id,
        "accountType": user.account_type,
        "emailAddress": user.email,
        "avatarUrls": {"48x48": rest_url(f"/_devsite/avatars/{user.account_id}.png")},
        "displayName": user.display_name,
        "active": user.active,
        "timeZone": user.time_zone,
        "locale": user.locale,
    }
    if expand_groups:
        body["groups"] = {"size": len(user.groups), "items": [group_json(name) for name in user.groups]}
    return body


def group_json(name):
    return {"name": name, "groupId": f"group-{name}", "self": rest_url(f"/rest/api/3/group?groupname={name}")}


def jsm_user_json(account_id):
    user = site.users.get(account_id)
    if user is None:
        return None
    return {
        "accountId": user.account_id,
        "emailAddress": user.email,
        "displayName": user.display_name,
        "active": user.active,
        "timeZone": user.time_zone,
        "_links": {"jiraRest": rest_url(f"/rest/api/2/user?accountId={user.account_id}"),
                   "self": rest_url(f"/rest/api/2/user?accountId={user.account_id}")},
    }


def jsm_date(moment):
    return {"iso8601": jira_time(moment), "jira": jira_time(moment),
            "friendly": moment.strftime("%d/%b/%y %I:%M %p"), "epochMillis": epoch_millis(moment)}


# -- ADF ---------------------------------------------------------------------------------------

def text_to_adf(text):
    """Plain text as an ADF document: blank lines separate paragraphs, newlines are hard breaks."""
    paragraphs = []
    for block in (text or "").split("\n\n"):
        content = []
        for index, line in enumerate(block.split("\n")):
            if index:
                content.append({"type": "hardBreak"})
            if line:
                content.append({"type": "text", "text": line})
        paragraphs.append({"type": "paragraph", "content": content})
    return {"type": "doc", "version": 1, "content": paragraphs}


def is_adf(body):
    return (isinstance(body, dict) and body.get("type") == "doc" and body.get("version") == 1
            and isinstance(body.get("content"), list))


def adf_to_text(node):
    if node.get("type") == "text":
        return node.get("text", "")
    if node.get("type") == "hardBreak":
        return "\n"
    children = [adf_to_text(child) for child in node.get("content", []) if isinstance(child, dict)]
    separator = "\n\n" if node.get("type") == "doc" else ""
    return separator.join(children)


# -- issues and comments ----------------------------------------------------------------------

def status_json(name):
    status_id, category = STATUSES[name]
    return {
        "self": rest_url(f"/rest/api/3/status/{status_id}"),
        "id": status_id,
        "name": name,
        "statusCategory": {"id": STATUS_CATEGORY_IDS[category], "key": category,
                           "name": STATUS_CATEGORY_NAMES[category]},
    }


def project_json(issue):
    desk = site.service_desks[issue.service_desk_id]
    return {"self": rest_url(f"/rest/api/3/project/{desk.project_id}"), "id": desk.project_id,
            "key": desk.project_key, "name": desk.project_name, "projectTypeKey": "service_desk"}


def attachment_json(attachment, version=3):
    """Return an item of the issue field `attachment`, as the platform REST API returns it.

    The platform API lists every attachment of the issue, internal JSM ones too, because only
    users with Browse Projects (agents and the app) may call it.
    """
    attachment_id = attachment["id"]
    body = {
        "self": rest_url(f"/rest/api/{version}/attachment/{attachment_id}"),
        "id": attachment_id,
        "filename": attachment["filename"],
        "author": user_json(attachment["author"]),
        "created": jira_time(attachment["created"]),
        "size": attachment["size"],
        "mimeType": attachment["mimeType"],
        "content": rest_url(f"/rest/api/{version}/attachment/content/{attachment_id}"),
    }
    if attachment["mimeType"].startswith("image/"):
        body["thumbnail"] = rest_url(f"/rest/api/{version}/attachment/thumbnail/{attachment_id}")
    return body


def issue_fields(issue, version=3):
    description = issue.description
    if version == 3 and description:
        description = text_to_adf(description)
    return {
        "summary": issue.summary,
        "description": description or None,
        "status": status_json(issue.status),
        "resolution": ({"id": RESOLUTIONS[issue.resolution], "name": issue.resolution}
                       if issue.resolution else None),
        "project": project_json(issue),
        "issuetype": {"id": "10100", "name": "Service Request", "subtask": False},
        "priority": {"id": PRIORITIES.get(issue.priority), "name": issue.priority},
        "labels": list(issue.labels),
        "reporter": user_json(issue.reporter),
        "creator": user_json(issue.reporter),
        "assignee": user_json(issue.assignee) if issue.assignee else None,
        "created": jira_time(issue.created),
        "updated": jira_time(issue.updated),
        "attachment": [attachment_json(attachment, version) for attachment in issue.attachments],
        "customfield_10010": {"requestType": {"id": issue.request_type_id}},
    }


def issue_json(issue, version=3, property_keys=()):
    body = {
        "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
        "id": issue.id,
        "self": rest_url(f"/rest/api/{version}/issue/{issue.id}"),
        "key": issue.key,
        "fields": issue_fields(issue, version),
    }
    wanted = [key for key in property_keys if key in issue.properties]
    if property_keys:
        body["properties"] = {key: issue.properties[key] for key in wanted}
    return body


def comment_properties(comment):
    return [{"key": key, "value": value} for key, value in comment.properties.items()]


def comment_json(issue, comment, version=3, expand_properties=False):
    body = {
        "self": rest_url(f"/rest/api/{version}/issue/{issue.id}/comment/{comment.id}"),
        "id": comment.id,
        "author": user_json(comment.author),
        "body": text_to_adf(comment.body) if version == 3 else comment.body,
        "updateAuthor": user_json(comment.update_author or comment.author),
        "created": jira_time(comment.created),
        "updated": jira_time(comment.updated),
        "jsdPublic": comment.public,
    }
    if expand_properties:
        body["properties"] = comment_properties(comment)
    return body


def jsm_comment_json(issue, comment, expand_rendered=False):
    body = {
        "id": comment.id,
        "body": comment.body,
        "public": comment.public,
        "author": jsm_user_json(comment.author),
        "created": jsm_date(comment.created),
        "_links": {"self": rest_url(f"/rest/servicedeskapi/request/{issue.id}/comment/{comment.id}")},
    }
    if expand_rendered:
        body["renderedBody"] = {"html": f"<p>{_escape(comment.body)}</p>"}
    return body


def request_json(issue):
    request_type = site.request_types[issue.request_type_id]
    return {
        "_expands": ["participant", "status", "sla", "requestType", "serviceDesk", "attachment", "comment", "action"],
        "issueId": issue.id,
        "issueKey": issue.key,
        "requestTypeId": request_type.id,
        "serviceDeskId": issue.service_desk_id,
        "createdDate": jsm_date(issue.created),
        "reporter": jsm_user_json(issue.reporter),
        "requestFieldValues": [
            {"fieldId": "summary", "label": "Résumé", "value": issue.summary},
            {"fieldId": "description", "label": "Description", "value": issue.description},
        ],
        "currentStatus": {
            "status": issue.status,
            "statusCategory": STATUS_CATEGORY_NAMES[STATUSES[issue.status][1]].upper().replace(" ", "_"),
            "statusDate": jsm_date(issue.updated),
        },
        "_links": {
            "web": f"{site.base_url}/servicedesk/customer/portal/{issue.service_desk_id}/{issue.key}",
            "self": rest_url(f"/rest/servicedeskapi/request/{issue.id}"),
            "jiraRest": rest_url(f"/rest/api/2/issue/{issue.id}"),
        },
    }


def jsm_page(values, start, limit, path):
    page = values[start:start + limit]
    body = {
        "size": len(page),
        "start": start,
        "limit": limit,
        "isLastPage": start + limit >= len(values),
        "values": page,
        "_links": {"base": site.base_url, "context": site.base_path, "self": rest_url(path)},
    }
    if not body["isLastPage"]:
        body["_links"]["next"] = rest_url(f"{path}?start={start + limit}&limit={limit}")
    return body


def _escape(text):
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("\n", "<br/>"))
