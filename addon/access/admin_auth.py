"""The admin check of the subscription screens: only support leads pass.

A support lead is a project admin of the service project (Jira permission ADMINISTER_PROJECTS on
it) or a Jira admin (global permission ADMINISTER). Jira is asked once per person and cached
briefly, like the agent check of the chat.
"""

import functools
import logging

from flask import current_app, g

from ..atlassian.jira_client import jira_client_for
from ..atlassian.jira_errors import JiraError
from ..cache import TTLCache
from ..errors import AddonError, AuthenticationError, PermissionDenied
from ..settings import get_settings

log = logging.getLogger(__name__)

# A lead whose admin rights are revoked keeps them here for at most this delay.
ADMIN_CACHE_SECS = 60
PROJECT_ADMIN = "ADMINISTER_PROJECTS"
JIRA_ADMIN = "ADMINISTER"


class AdminCheckFailed(AddonError):
    code = "jira_unavailable"
    status = 503


def _cache():
    return current_app.extensions.setdefault("admin_cache", TTLCache(ADMIN_CACHE_SECS))


def service_project_id(jira, installation_id):
    """Return the project id of the chat's service desk (settings, else the site's first desk)."""
    desk_id = get_settings(installation_id).get("service_desk_id")
    desks = jira.service_desk.get_service_desks() or []
    for desk in desks:
        if desk_id is None or str(desk.get("id")) == str(desk_id):
            return str(desk.get("projectId"))
    return None


def is_admin(installation, account_id):
    """Tell whether Jira grants `account_id` ADMINISTER, or ADMINISTER_PROJECTS on the service project."""
    if not account_id:
        return False

    def ask_jira():
        with jira_client_for(installation) as jira:
            body = {"accountId": account_id, "globalPermissions": [JIRA_ADMIN]}
            project_id = service_project_id(jira, installation.id)
            if project_id is not None:
                project = int(project_id) if project_id.isdigit() else project_id
                body["projectPermissions"] = [{"permissions": [PROJECT_ADMIN], "projects": [project]}]
            result = jira.request("POST", "rest/api/3/permissions/check", json=body, idempotent=True) or {}
        if JIRA_ADMIN in result.get("globalPermissions", []):
            return True
        return any(entry.get("permission") == PROJECT_ADMIN and entry.get("projects")
                   for entry in result.get("projectPermissions", []))

    return _cache().get_or_compute((installation.id, account_id), ask_jira)


def check_admin(installation, account_id):
    """Raise unless `account_id` is a support lead of `installation`'s site (PermissionDenied, 403).

    Used by `require_admin` and by the Forge settings pages, whose caller comes from a Forge
    Invocation Token; Jira is then reached through the Forge Jira client.
    """
    try:
        allowed = is_admin(installation, account_id)
    except JiraError as error:
        log.warning("Admin permission check failed for client_key %s, account %s: %s",
                    installation.client_key, account_id, error)
        raise AdminCheckFailed(
            "Jira n'a pas pu confirmer vos droits d'administration ; réessayez dans un instant. "
            "/ Jira could not confirm your admin rights; try again in a moment."
        ) from error
    if not allowed:
        raise PermissionDenied(
            f"Le compte {account_id} n'administre ni le projet du support ni Jira ; "
            "demandez ces droits à un administrateur Jira. "
            f"/ Account {account_id} is neither a project admin of the support project nor "
            "a Jira admin; ask a Jira admin for these rights."
        )


def require_admin(view):
    """Decorate a view placed under `require_jwt(...)` so that only support leads reach it."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        connect = g.connect
        if not connect.account_id:
            raise AuthenticationError("Le jeton ne nomme aucun utilisateur ; connectez-vous à Jira. "
                                      "/ The token names no user; sign in to Jira.")
        check_admin(connect.installation, connect.account_id)
        return view(*args, **kwargs)

    return wrapper
