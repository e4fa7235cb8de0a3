"""The dashboard's lists: chats waiting for this agent, chats this agent holds, and every open chat.

A chat waits for the agents its offer named, and for the available agents of its group with room
for it (see `waits_for`). Chats that started before routing existed wait for every agent. Chats
moved out of the chat (to e-mail or to a classic ticket) are not live chats any more and are left
out.
"""

from flask import current_app
from sqlalchemy import select

from ..access.models import Subscription
from ..chat.models import Conversation
from ..settings import get_settings
from . import routing
from .claims import routing_view
from .models import ChatRouting, RoutingState
from .presence import customer_connected, is_available

# The dashboard shows at most this many chats per list; the oldest open chats come first.
LIST_LIMIT = 200


def _database():
    return current_app.extensions["database"]


def open_chats(installation_id, project_key):
    """Return [(conversation, routing row or None)] of the project's open chats, oldest first."""
    rows = _database().session.execute(
        select(Conversation, ChatRouting)
        .outerjoin(ChatRouting, ChatRouting.conversation_id == Conversation.id)
        .where(Conversation.installation_id == installation_id, Conversation.project_key == project_key,
               routing.live_chat())
        .order_by(Conversation.created_at)
        .limit(LIST_LIMIT)
    ).all()
    return [(conversation, row) for conversation, row in rows]


def waits_for(row, account_id, free_member_of):
    """Tell whether an unclaimed chat (its routing `row`, or None) waits for `account_id`.

    A chat waits for the agents its offer named, and for any agent of its group who is available
    with room for one more chat now, so that an agent who comes back gets the waiting chats at once.
    A transfer to a named agent (`directed`) waits for that agent only. `free_member_of(group)` tells
    whether the viewer is such an agent of `group`. Chats older than routing wait for everyone.
    """
    if row is None:
        return True
    if row.state != RoutingState.OFFERED:
        return False
    if account_id in (row.offered_to or []):
        return True
    return not row.directed and free_member_of(row.group_name)


def organization_names(installation_id, organization_ids):
    ids = [value for value in set(organization_ids) if value]
    if not ids:
        return {}
    return dict(_database().session.execute(
        select(Subscription.organization_id, Subscription.organization_name)
        .where(Subscription.installation_id == installation_id, Subscription.organization_id.in_(ids))
    ).all())


def lists_for(viewer, installation, project_key, describe):
    """Return {"unclaimed", "mine", "all"} for the agent `viewer`; `describe(conversation)` gives each
    chat's JSON (the chat API's form), to which the routing and organisation are added."""
    chats = open_chats(viewer.installation_id, project_key)
    limits = routing.routing_of(get_settings(viewer.installation_id))
    session = _database().session
    free = (is_available(viewer.installation_id, viewer.account_id)
            and routing.has_capacity(session, viewer.installation_id, viewer.account_id,
                                     limits["max_chats_per_agent"]))

    def free_member_of(group):
        return free and routing.is_member(installation, viewer.account_id, group)

    names = organization_names(viewer.installation_id, [c.organization_id for c, _row in chats])
    lists = {"unclaimed": [], "mine": [], "all": []}
    for conversation, row in chats:
        item = describe(conversation)
        item["routing"] = routing_view(row)
        item["organization_name"] = names.get(conversation.organization_id)
        item["customer_connected"] = customer_connected(conversation)
        item["queue_id"] = routing.rule_for(limits, conversation.product_area).get("queue_id")
        lists["all"].append(item)
        if row is not None and row.state == RoutingState.CLAIMED:
            if row.assignee_account_id == viewer.account_id:
                lists["mine"].append(item)
        elif waits_for(row, viewer.account_id, free_member_of):
            lists["unclaimed"].append(item)
    return lists
