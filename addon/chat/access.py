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

from ..access.keyusers import key_user_memberships, today
from ..access.models import KeyUser, Subscription, SubscriptionStatus
from ..atlassian.installations import get_active_installation
from ..atlassian.jira_client import jira_client_for
from ..atlassian.jira_errors import JiraError
from ..cache import TTLCache
from ..errors import AuthenticationError, NotFound, PermissionDenied
from ..realtime import PubSubUnavailable
from .actions import Viewer, add_event, can_write, database
from .models import AuthorRole, Conversation, ConversationState, Visibility

log = logging.getLogger(__name__)

# Permission results are cached briefly: a revoked agent loses access within this delay.
PERMISSION_CACHE_SECS = 60
AGENT_PERMISSION = "SERVICEDESK_AGENT"
# The pub/sub channel on which every process's hub hears that key users or subscriptions changed.
ACCESS_CHANNEL = "access-changes"
# The internal event that shows agents in a chat why its customer may no longer write.
ACCESS_WITHDRAWN_EVENT = "customer_access_withdrawn"


class Rejection:
    """Reason codes for which a customer may not chat, which the pages switch on, and their sentences."""

    NOT_KEY_USER = "not_key_user"
    # None of the person's organisations has a running subscription. Only the refusal screen
    # distinguishes it from NOT_KEY_USER (addon.chat.refusal).
    NOT_SUBSCRIBED = "not_subscribed"
    SUSPENDED = "suspended"
    EXPIRED = "expired"
    MESSAGES = {
        NOT_KEY_USER: "Seuls les utilisateurs clés d'une organisation abonnée peuvent discuter avec le support. "
                      "/ Only key users of a subscribing organization can chat with support.",
        NOT_SUBSCRIBED: "Votre organisation n'a pas de contrat de souscription à la discussion en direct. "
                        "/ Your organization has no subscription to live chat.",
        SUSPENDED: "L'utilisateur clé n'est plus autorisé : contrat suspendu. "
                   "/ The key user is no longer allowed: subscription suspended.",
        EXPIRED: "L'utilisateur clé n'est plus autorisé : contrat expiré. "
                 "/ The key user is no longer allowed: subscription expired.",
    }


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


def rejection_of(installation_id, account_id, organization_id=None):
    """Return the Rejection code that keeps `account_id` out of the chat (of `organization_id`), or None.

    A suspended or expired subscription that still lists the person explains the rejection better
    than "not a key user", so it wins when it applies.
    """
    memberships = key_user_memberships(installation_id, account_id)
    if any(organization_id is None or s.organization_id == organization_id for s in memberships):
        return None
    statement = (
        select(Subscription)
        .join(KeyUser, KeyUser.subscription_id == Subscription.id)
        .where(KeyUser.installation_id == installation_id, KeyUser.account_id == account_id)
    )
    if organization_id is not None:
        statement = statement.where(Subscription.organization_id == organization_id)
    subscriptions = list(database().session.execute(statement).scalars())
    day = today()
    if any(s.status == SubscriptionStatus.SUSPENDED for s in subscriptions):
        return Rejection.SUSPENDED
    if any(s.status == SubscriptionStatus.EXPIRED or (s.ends_on and s.ends_on < day) for s in subscriptions):
        return Rejection.EXPIRED
    return Rejection.NOT_KEY_USER


def rejection_error(code):
    """Build the 403 error of Rejection `code`: it names the reason and never the conversation."""
    return PermissionDenied(Rejection.MESSAGES[code], code=code)


def require_key_user(viewer, organization_id=None):
    """Raise PermissionDenied unless `viewer` is an agent or a key user of an active subscription.

    With `organization_id`, the subscription must be that organisation's.
    """
    if viewer.is_agent:
        return
    code = rejection_of(viewer.installation_id, viewer.account_id, organization_id)
    if code is not None:
        raise rejection_error(code)


def require_writer(viewer, conversation):
    """Raise PermissionDenied unless `viewer` may write in, and follow live, `conversation`."""
    if can_write(viewer, conversation):
        return
    code = rejection_of(viewer.installation_id, viewer.account_id, conversation.organization_id or "")
    raise rejection_error(code or Rejection.NOT_KEY_USER)


def require_agent(viewer):
    """Raise PermissionDenied unless Jira grants `viewer` the agent permission (agent routes)."""
    if not viewer.is_agent:
        raise PermissionDenied("Cette fonction est réservée aux agents du support du projet. "
                               "/ This function is for the project's support agents only.")


def writer_status(conversation):
    """Tell agents whether the customer who opened `conversation` may still write, and why not."""
    code = rejection_of(conversation.installation_id, conversation.opened_by_account_id,
                      conversation.organization_id or "")
    return {"allowed": code is None, "reason": code,
            "message": None if code is None else Rejection.MESSAGES[code]}


def notify_access_changed(installation_id, account_ids=None, organization_id=None):
    """Make every process's hub re-check the sockets and long-polls of the people concerned now.

    Call it after the change is committed. Without `account_ids`, every customer of the
    installation is re-checked. The per-frame re-check of the sockets covers a lost notice.
    """
    pubsub = current_app.extensions.get("pubsub")
    if pubsub is None:
        return
    notice = {"type": "access_changed", "installation_id": installation_id,
              "account_ids": list(account_ids) if account_ids else None, "organization_id": organization_id}
    try:
        pubsub.publish(ACCESS_CHANNEL, notice)
    except PubSubUnavailable as error:
        log.warning("Access change of installation %s not announced: %s", installation_id, error)
    try:
        _tell_agents(installation_id, account_ids, organization_id)
    except Exception:  # the change is committed; a missing note must not fail the admin's request
        log.exception("Noting the access change of installation %s in its open chats failed", installation_id)


def _tell_agents(installation_id, account_ids, organization_id):
    """Add an internal event to each open chat whose opener may no longer write, saying why."""
    statement = select(Conversation).where(Conversation.installation_id == installation_id,
                                           Conversation.state != ConversationState.CLOSED)
    if organization_id is not None:
        statement = statement.where(Conversation.organization_id == organization_id)
    if account_ids:
        statement = statement.where(Conversation.opened_by_account_id.in_(list(account_ids)))
    conversations = list(database().session.execute(statement).scalars())
    for conversation in conversations:
        status = writer_status(conversation)
        if not status["allowed"]:
            add_event(conversation.id, ACCESS_WITHDRAWN_EVENT, status["message"], visibility=Visibility.INTERNAL)


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
    """Return a customer's conversations, newest first: those they opened, and those of the
    organisations of which they are a key user of an active subscription (shared with them in JSM).
    """
    organization_ids = [subscription.organization_id for subscription in
                        key_user_memberships(viewer.installation_id, viewer.account_id)]
    reach = Conversation.opened_by_account_id == viewer.account_id
    if organization_ids:
        reach = reach | Conversation.organization_id.in_(organization_ids)
    statement = (
        select(Conversation)
        .where(Conversation.installation_id == viewer.installation_id, reach)
        .order_by(Conversation.updated_at.desc())
        .limit(limit)
    )
    return list(database().session.execute(statement).scalars())
