"""Jira platform REST: POST /rest/api/{2,3}/issue/{issueIdOrKey}/notify ("Send notification for issue").

As Atlassian documents it: the caller needs Browse Projects on the issue's project, and an app needs
the WRITE scope. The body has `subject`, `textBody`, `htmlBody`, `to` (reporter, assignee, watchers
and voters flags, `users` by accountId, `groups` by name or groupId, `groupIds`) and `restrict`
(`groups`, `groupIds`, `permissions`). The answer is 204 once the mail is queued. Jira answers 400
when the recipient is the calling user, when a recipient is invalid (an unknown user or group, or
the assignee of an unassigned issue), and when the body is invalid. This site sends no mail: it
records each notification, with the accountIds it resolved, for GET /_devsite/notifications.
"""

from flask import Blueprint, request

from .records import now
from .rest_auth import caller, error_response, require_scope
from .state import NotFound, site

bp = Blueprint("rest_notify", __name__)

API = "/rest/api/<any('2','3'):version>"
RECIPIENT_FLAGS = ("reporter", "assignee", "watchers", "voters")
NO_RECIPIENTS = "No recipients were defined for notification."
# Jira still accepts the old key of Browse Projects, as in Atlassian's own notify example.
LEGACY_PERMISSION_KEYS = {"BROWSE": "BROWSE_PROJECTS"}


class InvalidNotification(Exception):
    """The notification body names something Jira rejects with 400. The message describes the problem."""


@bp.post(f"{API}/issue/<key>/notify")
def notify(version, key):
    require_scope("WRITE")
    issue = site.issue(key)
    if "BROWSE_PROJECTS" not in site.permissions(caller(), issue.project_key):
        raise NotFound("Issue does not exist or you do not have permission to see it.")
    body = request.get_json(silent=True)

    try:
        _check_body(body)
        with site.lock:
            recipients = _recipients(issue, body.get("to") or {})
            recipients = _restricted(issue, recipients, body.get("restrict") or {})
    except InvalidNotification as error:
        return error_response(400, str(error))
    if recipients == {caller()}:
        return error_response(400, "The recipient of the notification is the same as the calling user.")
    # Jira does not mail people about their own actions.
    recipients.discard(caller())
    if not recipients:
        return error_response(400, NO_RECIPIENTS)

    with site.lock:
        site.notifications.append({
            "issue_key": issue.key,
            "by": caller(),
            "subject": body.get("subject") or f"{issue.key}: {issue.summary}",
            "textBody": body.get("textBody"),
            "htmlBody": body.get("htmlBody"),
            "to": body.get("to", {}),
            "restrict": body.get("restrict"),
            "recipients": sorted(recipients),
            "sent_at": now().isoformat(),
        })
    return "", 204


def _check_body(body):
    if not isinstance(body, dict):
        raise InvalidNotification("The request body must be a JSON object describing the notification.")
    for name in ("subject", "textBody", "htmlBody"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise InvalidNotification(f"The field {name} must be a string.")
    if not (body.get("textBody") or body.get("htmlBody")):
        raise InvalidNotification("The notification needs a textBody or an htmlBody.")
    for name in ("to", "restrict"):
        if body.get(name) is not None and not isinstance(body[name], dict):
            raise InvalidNotification(f"The field {name} must be a JSON object.")


def _recipients(issue, to):
    """Return the accountIds that `to` names on `issue`, inactive users left out."""
    found = set()
    for flag in RECIPIENT_FLAGS:
        if not isinstance(to.get(flag, False), bool):
            raise InvalidNotification(f"The field to.{flag} must be true or false.")
    if to.get("reporter"):
        found.add(issue.reporter)
    if to.get("assignee"):
        if not issue.assignee:
            raise InvalidNotification(f"The assignee of {issue.key} cannot be notified: the issue is unassigned.")
        found.add(issue.assignee)
    # Issues of this site have no watchers and no voters, so those flags add no recipient.

    for entry in _list(to, "users"):
        account_id = entry.get("accountId") if isinstance(entry, dict) else None
        if not isinstance(account_id, str) or account_id not in site.users:
            raise InvalidNotification(f"The user {account_id!r} in to.users does not exist; name users by accountId.")
        found.add(account_id)
    for group in _groups(to):
        found |= _members(group)

    return {account_id for account_id in found if site.users[account_id].active}


def _restricted(issue, recipients, restrict):
    """Keep the recipients that belong to one of `restrict`'s groups and hold all its permissions."""
    groups = _groups(restrict, "restrict")
    if groups:
        allowed = set().union(*(_members(group) for group in groups))
        recipients = recipients & allowed
    for entry in _list(restrict, "permissions"):
        permission = (entry.get("key") or entry.get("id")) if isinstance(entry, dict) else None
        if not isinstance(permission, str) or not permission:
            raise InvalidNotification("Each entry of restrict.permissions needs a key, e.g. {\"key\": \"BROWSE_PROJECTS\"}.")
        permission = LEGACY_PERMISSION_KEYS.get(permission, permission)
        recipients = {account_id for account_id in recipients
                      if permission in site.permissions(account_id, issue.project_key)}
    return recipients


def _list(container, name):
    value = container.get(name) or []
    if not isinstance(value, list):
        raise InvalidNotification(f"The field {name} must be a list.")
    return value


def _groups(container, prefix="to"):
    """Return the group names of `groups` ({name} or {groupId}) and `groupIds`; raise on an unknown one."""
    known = {group for user in site.users.values() for group in user.groups}
    names = []
    for entry in _list(container, "groups"):
        if not isinstance(entry, dict):
            raise InvalidNotification(f"Each entry of {prefix}.groups must be an object with a name or a groupId.")
        names.append(_group_name(entry.get("name"), entry.get("groupId"), known, prefix))
    for group_id in _list(container, "groupIds"):
        names.append(_group_name(None, group_id, known, prefix))
    return names


def _group_name(name, group_id, known, prefix):
    if name is None and isinstance(group_id, str) and group_id.startswith("group-"):
        name = group_id[len("group-"):]
    if name not in known:
        given = name if name is not None else group_id
        raise InvalidNotification(f"The group {given!r} in {prefix} does not exist.")
    return name


def _members(group):
    return {user.account_id for user in site.users.values() if group in user.groups}
