"""Which agents a new chat goes to: the product area's group, online, under their chat limit.

The site's `chat_routing` setting maps each product area of the start form to a Jira group (and
optionally an assignee to offer it to first, and the JSM queue the dashboard links to). A new chat
is offered at once to every agent of that group who is available and holds fewer open chats than
the limit; when no agent claims it within `reoffer_after_secs`, the sweeper offers it again to
the agents eligible then (the job in jobs.py). Group members come from Jira and are cached for a minute.
"""

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, func, select

from ..atlassian.jira_client import jira_client_for
from ..atlassian.jira_errors import JiraError, JiraNotFound
from ..cache import TTLCache
from ..chat.models import Conversation, ConversationState
from ..chat.moves_models import ConversationMove, MoveState, MoveTarget
from ..errors import InvalidInput
from ..models import utcnow
from .models import AgentPresence, ChatRouting, PresenceStatus, RoutingState

log = logging.getLogger(__name__)

# An agent whose dashboard has not called in for this long counts as away.
PRESENCE_TIMEOUT = timedelta(seconds=90)
# An offer that found no available agent is tried again this soon, not after the full delay, so
# that the first agent to become available gets the chat.
EMPTY_OFFER_RETRY = timedelta(seconds=10)
GROUP_CACHE_SECS = 60

DEFAULT_ROUTING = {
    # Product area -> {"group": Jira group name, "assignee": accountId or None, "queue_id": JSM queue id or None}.
    "areas": {},
    # The group of areas without a rule; None offers those chats to every agent of the desk.
    "default_group": None,
    "reoffer_after_secs": 120,
    "max_chats_per_agent": 3,
}

_AREA_KEYS = {"group", "assignee", "queue_id"}


def _database():
    return current_app.extensions["database"]


def _text_or_none(value, where, max_chars=255):
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value.strip()) > max_chars:
        raise InvalidInput(
            f"{where} doit être un texte d'au plus {max_chars} caractères, reçu {str(value)[:40]!r}. "
            f"/ {where} must be a text of at most {max_chars} characters, got {str(value)[:40]!r}."
        )
    return value.strip() or None


def _bounded_int(value, where, low, high):
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(
            f"{where} doit être un entier entre {low} et {high}, reçu {str(value)[:40]!r}. "
            f"/ {where} must be a whole number from {low} to {high}, got {str(value)[:40]!r}."
        )
    return value


def clean_routing(value):
    """Validate a `chat_routing` setting sent by an admin and return it in its stored form."""
    if not isinstance(value, dict):
        raise InvalidInput("Le routage doit être un objet JSON. / Routing must be a JSON object.")
    unknown = set(value) - set(DEFAULT_ROUTING)
    if unknown:
        names = ", ".join(sorted(unknown))
        raise InvalidInput(f"Clés de routage inconnues : {names}. / Unknown routing keys: {names}.")
    merged = {**DEFAULT_ROUTING, **value}
    areas = merged["areas"]
    if not isinstance(areas, dict):
        raise InvalidInput("areas doit associer un domaine à une règle. / areas must map a product area to a rule.")
    cleaned_areas = {}
    for area, rule in areas.items():
        where = f"areas[{area!r}]"
        if not isinstance(rule, dict) or set(rule) - _AREA_KEYS:
            raise InvalidInput(
                f"{where} doit être un objet avec group, assignee et queue_id. "
                f"/ {where} must be an object with group, assignee and queue_id."
            )
        cleaned_areas[area] = {
            "group": _text_or_none(rule.get("group"), f"{where}.group"),
            "assignee": _text_or_none(rule.get("assignee"), f"{where}.assignee", 128),
            "queue_id": _text_or_none(rule.get("queue_id"), f"{where}.queue_id", 40),
        }
    return {
        "areas": cleaned_areas,
        "default_group": _text_or_none(merged["default_group"], "default_group"),
        "reoffer_after_secs": _bounded_int(merged["reoffer_after_secs"], "reoffer_after_secs", 10, 86_400),
        "max_chats_per_agent": _bounded_int(merged["max_chats_per_agent"], "max_chats_per_agent", 1, 50),
    }


def check_against_jira(installation, routing):
    """Raise InvalidInput naming every group or accountId of `routing` that the site does not know,
    and every first agent who is not a member of their area's group.

    A mistyped group would otherwise leave its area's chats offered to no agent, and a first agent
    outside the group would receive chats that the group's agents cannot see.
    """
    unknown, members_of = [], {}
    groups = {rule["group"] for rule in routing["areas"].values() if rule.get("group")}
    if routing.get("default_group"):
        groups.add(routing["default_group"])
    for group in sorted(groups):
        _group_cache().invalidate((installation.id, group))
        try:
            members_of[group] = set(group_members(installation, group))
        except JiraNotFound:
            unknown.append(("group", group))
    outsiders = []
    with jira_client_for(installation) as jira:
        for account_id in sorted({rule["assignee"] for rule in routing["areas"].values() if rule.get("assignee")}):
            try:
                jira.get_user(account_id)
            except JiraNotFound:
                unknown.append(("user", account_id))
    for area, rule in sorted(routing["areas"].items()):
        account_id = rule.get("assignee")
        group = rule_for(routing, area)["group"]
        if account_id and group in members_of and account_id not in members_of[group] \
                and ("user", account_id) not in unknown:
            outsiders.append((area, account_id, group))
    if unknown:
        french = ", ".join(f"groupe {name!r}" if kind == "group" else f"compte {name!r}" for kind, name in unknown)
        english = ", ".join(f"group {name!r}" if kind == "group" else f"account {name!r}" for kind, name in unknown)
        raise InvalidInput(
            f"Jira ne connaît pas : {french}. Corrigez le nom du groupe ou l'accountId du technicien, puis "
            f"enregistrez. / Jira does not know: {english}. Correct the group name or the agent's accountId, "
            f"then save."
        )
    if outsiders:
        french = ", ".join(f"{account!r} (domaine {area!r}, groupe {group!r})" for area, account, group in outsiders)
        english = ", ".join(f"{account!r} (area {area!r}, group {group!r})" for area, account, group in outsiders)
        raise InvalidInput(
            f"Le premier technicien doit être membre du groupe du domaine : {french}. Ajoutez-le au groupe dans "
            f"Jira ou choisissez un autre technicien. / The first agent must be a member of the area's group: "
            f"{english}. Add them to the group in Jira or choose another agent."
        )


def routing_of(settings):
    """Return the site's routing, defaults filled in."""
    return {**DEFAULT_ROUTING, **(settings.get("chat_routing") or {})}


def rule_for(routing, product_area):
    """Return the rule of `product_area`: {"group", "assignee", "queue_id"}, from the area or the default group."""
    rule = routing["areas"].get(product_area or "")
    if rule and rule.get("group"):
        return rule
    return {"group": routing["default_group"], "assignee": (rule or {}).get("assignee"),
            "queue_id": (rule or {}).get("queue_id")}


# -- group members --------------------------------------------------------------------------------

def _group_cache():
    caches = current_app.extensions.setdefault("access_caches", {})
    if "workspace_groups" not in caches:
        caches["workspace_groups"] = TTLCache(GROUP_CACHE_SECS)
    return caches["workspace_groups"]


def group_members(installation, group_name):
    """Return the accountIds of the active members of a Jira group (cached a minute)."""

    def fetch():
        members, start = [], 0
        with jira_client_for(installation) as jira:
            while True:
                page = jira.request("GET", "/rest/api/3/group/member", params={
                    "groupname": group_name, "startAt": start, "maxResults": 50,
                    "includeInactiveUsers": "false",
                }) or {}
                values = page.get("values") or []
                members.extend(user["accountId"] for user in values if user.get("accountId"))
                if page.get("isLast", True) or not values:
                    return frozenset(members)
                start += len(values)

    return _group_cache().get_or_compute((installation.id, group_name), fetch)


def is_member(installation, account_id, group_name):
    if group_name is None:
        return True
    try:
        return account_id in group_members(installation, group_name)
    except JiraError as error:
        log.warning("Could not read group %s on %s: %s", group_name, installation.client_key, error)
        return False


# -- load and eligibility -------------------------------------------------------------------------

def live_chat():
    """Return the SQL condition of a live chat: its request open, and not moved to e-mail or a ticket."""
    moved_out = (
        select(ConversationMove.id)
        .where(ConversationMove.conversation_id == Conversation.id, ConversationMove.state == MoveState.ACTIVE,
               ConversationMove.target.in_(MoveTarget.CLOSING_CHAT))
        .exists()
    )
    return and_(Conversation.state == ConversationState.OPEN, ~moved_out)


def open_chat_counts(session, installation_id, account_ids=None):
    """Return {accountId: open chats held}, for the given agents or all of them."""
    statement = (
        select(ChatRouting.assignee_account_id, func.count())
        .join(Conversation, Conversation.id == ChatRouting.conversation_id)
        .where(ChatRouting.installation_id == installation_id,
               ChatRouting.state == RoutingState.CLAIMED, live_chat())
        .group_by(ChatRouting.assignee_account_id)
    )
    if account_ids is not None:
        statement = statement.where(ChatRouting.assignee_account_id.in_(list(account_ids)))
    return dict(session.execute(statement).all())


def online_agents(session, installation_id, now=None):
    """Return the presence rows of agents available now (status available, seen recently)."""
    now = now or utcnow()
    return list(session.execute(
        select(AgentPresence).where(
            AgentPresence.installation_id == installation_id,
            AgentPresence.status == PresenceStatus.AVAILABLE,
            AgentPresence.seen_at >= now - PRESENCE_TIMEOUT,
        )
    ).scalars())


def eligible_agents(session, installation, group_name, max_chats, now=None):
    """Return the accountIds a chat of `group_name` may be offered to, the least loaded first."""
    online = online_agents(session, installation.id, now)
    if group_name is not None:
        try:
            members = group_members(installation, group_name)
        except JiraError as error:
            # Without the member list no agent can be chosen; the chat waits for the next offer round.
            log.warning("Could not read group %s on %s: %s", group_name, installation.client_key, error)
            return []
        online = [agent for agent in online if agent.account_id in members]
    load = open_chat_counts(session, installation.id, [agent.account_id for agent in online])
    eligible = [agent for agent in online if load.get(agent.account_id, 0) < max_chats]
    eligible.sort(key=lambda agent: (load.get(agent.account_id, 0), agent.account_id))
    return [agent.account_id for agent in eligible]


def has_capacity(session, installation_id, account_id, max_chats):
    return open_chat_counts(session, installation_id, [account_id]).get(account_id, 0) < max_chats


def support_available(session, installation, group_name=None, max_chats=None, now=None):
    """Tell whether an agent of `group_name` (any agent when None) could take a new chat now."""
    max_chats = max_chats if max_chats is not None else DEFAULT_ROUTING["max_chats_per_agent"]
    return bool(eligible_agents(session, installation, group_name, max_chats, now))


# -- offers ---------------------------------------------------------------------------------------

# The default of `offer`'s group: the rule of the chat's product area (None means every agent).
AREA_GROUP = object()


def offer(session, installation, conversation, routing, *, group_name=AREA_GROUP, prefer=None, now=None):
    """Offer `conversation` to the eligible agents of its group; create or update its routing row.

    `group_name` defaults to the rule of the chat's product area. `prefer` is an accountId, such as
    the area's assignee or a transfer's target; when eligible, it gets the offer alone. Return the row.
    """
    now = now or utcnow()
    rule = rule_for(routing, conversation.product_area)
    if group_name is AREA_GROUP:
        group_name = rule["group"]
    prefer = prefer or rule.get("assignee")
    targets = eligible_agents(session, installation, group_name, routing["max_chats_per_agent"], now)
    if prefer and prefer in targets:
        targets = [prefer]

    row = session.get(ChatRouting, conversation.id, with_for_update=True, populate_existing=True)
    if row is None:
        row = ChatRouting(conversation_id=conversation.id, installation_id=installation.id, offer_round=0)
        session.add(row)
    row.group_name = group_name
    row.state = RoutingState.OFFERED
    row.offered_to = targets
    row.directed = False
    row.offer_round = (row.offer_round or 0) + 1
    row.offered_at = now
    delay = timedelta(seconds=routing["reoffer_after_secs"])
    row.reoffer_at = now + (delay if targets else min(delay, EMPTY_OFFER_RETRY))
    row.assignee_account_id = None
    row.assignee_name = None
    row.claimed_at = None
    session.flush()
    log.info("Chat %s offered to %d agent(s) of group %s (round %d)",
             conversation.issue_key, len(targets), group_name or "*", row.offer_round)
    return row


def due_offers(session, now=None, limit=200):
    """Return the routing rows of unclaimed open chats whose re-offer time has come."""
    now = now or utcnow()
    return list(session.execute(
        select(ChatRouting)
        .join(Conversation, Conversation.id == ChatRouting.conversation_id)
        .where(ChatRouting.state == RoutingState.OFFERED, ChatRouting.reoffer_at <= now, live_chat())
        .order_by(ChatRouting.reoffer_at)
        .limit(limit)
    ).scalars())
