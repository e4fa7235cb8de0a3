"""Jira platform REST: server info, users and groups, permissions, a small JQL search."""

import re

from flask import Blueprint, jsonify, request

from . import seed
from .jql import jql_matchers
from .records import jira_time, now
from .representations import issue_json, status_json, user_json
from .rest_auth import caller, error_response
from .state import Forbidden, site

bp = Blueprint("rest_platform", __name__)

API = "/rest/api/<any('2','3'):version>"


@bp.get(f"{API}/serverInfo")
def server_info(version):
    return jsonify({
        "baseUrl": site.base_url,
        "displayUrl": site.base_url,
        "displayUrlServicedeskHelpCenter": site.base_url,
        "version": "1001.0.0-SNAPSHOT",
        "versionNumbers": [1001, 0, 0],
        "deploymentType": "Cloud",
        "buildNumber": 100000,
        "serverTime": jira_time(now()),
        "serverTitle": "Jira (local development site)",
        "defaultLocale": {"locale": "fr_FR"},
        "serverTimeZone": "Etc/UTC",
    })


@bp.get(f"{API}/myself")
def myself(version):
    return jsonify(user_json(caller(), expand_groups="groups" in request.args.get("expand", "")))


def _require_user_browsing():
    if not site.is_agent(caller()):
        raise Forbidden("You do not have the permission Browse users and groups.")


@bp.get(f"{API}/user")
def user(version):
    account_id = request.args.get("accountId")
    if not account_id:
        return error_response(400, "The accountId query parameter is required.")
    if account_id != caller():
        _require_user_browsing()
    body = user_json(account_id, expand_groups="groups" in request.args.get("expand", ""))
    if body is None:
        return error_response(404, f"Specified user does not exist or you do not have required permissions: {account_id}.")
    return jsonify(body)


@bp.get(f"{API}/user/bulk")
def users_bulk(version):
    _require_user_browsing()
    start = int(request.args.get("startAt", 0))
    limit = int(request.args.get("maxResults", 10))
    account_ids = request.args.getlist("accountId")
    if not account_ids:
        return error_response(400, "At least one accountId query parameter is required.")
    values = [body for body in (user_json(a) for a in account_ids) if body is not None]
    page = values[start:start + limit]
    return jsonify({"self": request.url, "maxResults": limit, "startAt": start, "total": len(values),
                    "isLast": start + limit >= len(values), "values": page})


@bp.get(f"{API}/user/search")
def users_search(version):
    _require_user_browsing()
    query = request.args.get("query", "").casefold()
    account_id = request.args.get("accountId")
    found = [
        user_json(u.account_id) for u in site.users.values()
        if (account_id and u.account_id == account_id)
        or (query and (query in u.display_name.casefold() or query in u.email.casefold()))
    ]
    start = int(request.args.get("startAt", 0))
    return jsonify(found[start:start + int(request.args.get("maxResults", 50))])


@bp.get(f"{API}/user/groups")
def user_groups(version):
    account_id = request.args.get("accountId")
    if account_id != caller():
        _require_user_browsing()
    found = site.users.get(account_id)
    if found is None:
        return error_response(404, f"User {account_id!r} does not exist.")
    return jsonify([{"name": name, "groupId": f"group-{name}"} for name in found.groups])


@bp.get(f"{API}/group/member")
def group_members(version):
    _require_user_browsing()
    name = request.args.get("groupname")
    members = [u.account_id for u in site.users.values() if name in u.groups]
    if not members and name not in {g for u in site.users.values() for g in u.groups}:
        return error_response(404, f"Group {name!r} does not exist.")
    start = int(request.args.get("startAt", 0))
    limit = int(request.args.get("maxResults", 50))
    values = [user_json(a) for a in members]
    return jsonify({"self": request.url, "maxResults": limit, "startAt": start, "total": len(values),
                    "isLast": start + limit >= len(values), "values": values[start:start + limit]})


def _permission_body(account_id, project_key, keys):
    held = site.permissions(account_id, project_key)
    return {key: {"id": key, "key": key, "name": key.replace("_", " ").title(), "type": "PROJECT",
                  "havePermission": key in held} for key in keys}


@bp.get(f"{API}/mypermissions")
def my_permissions(version):
    keys = [k for k in request.args.get("permissions", "").split(",") if k]
    if not keys:
        return error_response(400, "The permissions query parameter is required, e.g. permissions=BROWSE_PROJECTS.")
    project_key = request.args.get("projectKey")
    if not project_key and request.args.get("issueKey"):
        project_key = site.issue(request.args["issueKey"]).project_key
    return jsonify({"permissions": _permission_body(caller(), project_key, keys)})


@bp.post(f"{API}/permissions/check")
def check_permissions(version):
    body = request.get_json(silent=True) or {}
    account_id = body.get("accountId") or caller()
    if account_id not in site.users:
        return error_response(400, f"User {account_id!r} does not exist.")
    global_keys = body.get("globalPermissions", [])
    project_grants = []
    for entry in body.get("projectPermissions", []):
        projects = [str(p) for p in entry.get("projects", [])]
        for permission in entry.get("permissions", []):
            granted_projects = [int(p) if p.isdigit() else p for p in projects
                                if permission in site.permissions(account_id, _project_key(p))]
            project_grants.append({"permission": permission, "projects": granted_projects, "issues": []})
    held_global = site.permissions(account_id)
    return jsonify({"globalPermissions": [k for k in global_keys if k in held_global],
                    "projectPermissions": project_grants})


def _project_key(project):
    return next((d.project_key for d in site.service_desks.values() if project in (d.project_id, d.project_key)), None)


# -- search: see devsite.jql for the clauses this site understands.

@bp.route(f"{API}/search/jql", methods=["GET", "POST"])
def search(version):
    if request.method == "POST":
        params = request.get_json(silent=True) or {}
    else:
        params = request.args
    jql = (params.get("jql") or "").strip()
    order = re.split(r"\s+order\s+by\s+", jql, flags=re.I)[0]
    matchers = jql_matchers(order)
    property_keys = params.get("properties") or []
    if isinstance(property_keys, str):
        property_keys = [k for k in property_keys.split(",") if k]
    limit = int(params.get("maxResults", 50))
    with site.lock:
        found = [issue for issue in sorted(site.issues.values(), key=lambda i: int(i.id))
                 if site.can_view(caller(), issue) and site.is_agent(caller())
                 and all(m(issue) for m in matchers)]
        issues = [issue_json(i, int(version), property_keys) for i in found[:limit]]
    return jsonify({"issues": issues, "isLast": len(found) <= limit})


@bp.get(f"{API}/status")
def statuses(version):
    return jsonify([status_json(name) for name in seed.STATUSES])
