"""Who may see which conversation: the only way routes load a conversation for a person.

Jira authenticates the person (the context token's accountId); these functions decide the role
and the reach. An agent is someone Jira grants the SERVICEDESK_AGENT permission on the request's
project. A customer sees the conversations of the requests JSM shows them: those they opened,
those they participate in, and those shared with one of their organisations. Whatever is refused
answers "not found", so that nobody learns that a conversation exists.
"""

import logging

from flask import current_app
from sqlalchemy import select

from ..atlassian.installations import get_active_installation
from ..atlassian.jira_client import jira_client_for
from ..atlassian.jira_errors import JiraError
from ..cache import TTLCache
from ..errors import AuthenticationError, NotFound
from .actions import Viewer, database
from .models import AuthorRole, Conversation

log = logging.getLogger(__name__)

# Permission results are cached briefly: a revoked agent loses access within this delay.
PERMISSION_CACHE_SECS = 60
AGENT_PERMISSION = "SERVICEDESK_AGENT"



def _cache(name, ttl_secs=PERMISSION_CACHE_SECS):
    """Return the app's cache `name`; caches live on the app, so two apps never share results."""
    caches = current_app.extensions.setdefault("access_caches", {})
    if name not in caches:
        caches[name] = TTLCache(ttl_secs)
    return caches[name]


def _project_id(jira, installation, project_key):
    def lookup():
        for desk in jira.service_desk.get_service_desks() or []:
            if desk.get("projectKey") == project_key:
                return str(desk.get("projectId"))
        return None

    return _cache("project_ids", 3600).get_or_compute((installation.id, project_key), lookup)


def is_agent(installation, account_id, project_key):
    """Tell whether Jira grants `account_id` the agent permission on `project_key` (cached)."""
    if not account_id or not project_key:
        return False

    def ask_jira():
        with jira_client_for(installation) as jira:
            project_id = _project_id(jira, installation, project_key)
            if project_id is None:
                return False
            granted = jira.check_permissions(account_id, project_id, [AGENT_PERMISSION])
            return bool(granted.get(AGENT_PERMISSION))

    return _cache("agents").get_or_compute((installation.id, account_id, project_key), ask_jira)


def display_name_of(installation, account_id):
    """Return the person's Jira display name (cached for an hour), or None when Jira returns none."""
    def ask_jira():
        with jira_client_for(installation) as jira:
            return (jira.get_user(account_id) or {}).get("displayName")

    try:
        return _cache("display_names", 3600).get_or_compute((installation.id, account_id), ask_jira)
    except JiraError as error:
        log.warning("Display name lookup failed for client_key %s: %s", installation.client_key, error)
        return None


def viewer_for(connect, project_key=None):
    """Build the Viewer of an authenticated request (`flask.g.connect` or `authenticate()`'s result)."""
    if not connect.account_id:
        raise AuthenticationError("The token names no user; sign in to Jira to use the chat.")
    installation = connect.installation
    role = AuthorRole.CUSTOMER
    try:
        if is_agent(installation, connect.account_id, project_key):
            role = AuthorRole.AGENT
    except JiraError as error:
        # Without a result from Jira the person gets the customer's narrower view, never more.
        log.warning("Agent permission check failed for client_key %s, project %s: %s",
                    connect.client_key, project_key, error)
    return Viewer(
        installation_id=installation.id,
        client_key=connect.client_key,
        account_id=connect.account_id,
        role=role,
        display_name=display_name_of(installation, connect.account_id),
        project_key=project_key if role == AuthorRole.AGENT else None,
    )


def _customer_reach(viewer, conversation):
    """Tell whether a customer may see `conversation` in JSM (cached briefly)."""
    if conversation.opened_by_account_id == viewer.account_id:
        return True

    def ask_jira():
        installation = get_active_installation(viewer.client_key)
        if installation is None:
            return False
        with jira_client_for(installation) as jira:
            if conversation.organization_id:
                organizations = jira.request(
                    "GET", "rest/servicedeskapi/organization", params={"accountId": viewer.account_id}
                ) or {}
                if any(str(org.get("id")) == conversation.organization_id
                       for org in organizations.get("values", [])):
                    return True
            participants = jira.request(
                "GET", f"rest/servicedeskapi/request/{conversation.issue_key}/participant"
            ) or {}
            return any(user.get("accountId") == viewer.account_id for user in participants.get("values", []))

    key = (viewer.installation_id, viewer.account_id, conversation.id)
    try:
        return _cache("reach").get_or_compute(key, ask_jira)
    except JiraError as error:
        log.warning("Access check on %s failed for client_key %s: %s", conversation.issue_key, viewer.client_key, error)
        return False


def may_see(viewer, conversation):
    if conversation.installation_id != viewer.installation_id:
        return False
    if viewer.is_agent:
        return conversation.project_key == viewer.project_key
    return _customer_reach(viewer, conversation)


def _not_found(what):
    return NotFound(f"Discussion introuvable ({what}). / Chat not found ({what}).")


def access_conversation(viewer, conversation_id):
    """Load conversation `conversation_id` if `viewer` may see it, else raise NotFound."""
    conversation = database().session.get(Conversation, conversation_id)
    if conversation is None or not may_see(viewer, conversation):
        raise _not_found(conversation_id)
    return conversation


def access_conversation_by_issue(viewer, issue_key):
    """Load the conversation of request `issue_key` if `viewer` may see it, else raise NotFound."""
    statement = select(Conversation).where(
        Conversation.installation_id == viewer.installation_id, Conversation.issue_key == issue_key
    )
    conversation = database().session.execute(statement).scalar_one_or_none()
    if conversation is None or not may_see(viewer, conversation):
        raise _not_found(issue_key)
    return conversation


def conversations_of(viewer, limit=50):
    """Return the conversations a customer opened, newest first.

    TODO: include requests shared with the customer's organisation once the launcher lists them.
    """
    statement = (
        select(Conversation)
        .where(Conversation.installation_id == viewer.installation_id,
               Conversation.opened_by_account_id == viewer.account_id)
        .order_by(Conversation.updated_at.desc())
        .limit(limit)
    )
    return list(database().session.execute(statement).scalars())
