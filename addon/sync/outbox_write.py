"""Writing one batch of chat messages as one Jira comment, and finding it after an unknown outcome.

Who writes the comment:
- an agent, impersonated, through the platform API v3, with the `supportchat.messages` comment
  property in the same call (and `sd.public.comment` internal for a note);
- a customer, impersonated, through the JSM API: portal-only customers have no project
  permission, so Jira rejects them on the platform API. The JSM endpoint takes no properties, so
  the app sets `supportchat.messages` in a second call;
- the app user, through the platform API v3 with the property, when Jira rejects impersonation
  of the author. The author's name then heads the comment;
- the app user, for a traced chat event (a proposed or validated solution, …), whose text already
  names who acted.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import quote

from ..atlassian.jira_errors import ImpersonationRefused
from ..chat.models import AuthorRole, MessageKind, Visibility
from .comment_text import to_adf_literal, to_wiki_literal
from .outbox_queue import aware, parse_jira_time

log = logging.getLogger(__name__)

MESSAGES_PROPERTY_KEY = "supportchat.messages"
INTERNAL_PROPERTY_KEY = "sd.public.comment"
# The site's language is French, so the header that names the true author is French.
VIA_CHAT_HEADER = "{name} (via la discussion) :"
LOOKUP_PAGE_SIZE = 100
# A comment created up to this long before our clock's `sync_uncertain_since` may still be ours:
# the timestamps come from Jira's clock. NOTE: an estimate of the clock skew between Jira and us.
CLOCK_SKEW_SECS = 120


@dataclass
class Batch:
    """Messages that one comment carries, with what is needed to write and find that comment."""

    issue_key: str
    messages: list
    time_zone: object  # a zoneinfo.ZoneInfo for the per-message times
    # Comment ids already tied to other messages of the conversation; a body match skips them.
    # Read only for a batch whose earlier write had an unknown outcome.
    linked_comment_ids: set = field(default_factory=set)

    @property
    def head(self):
        return self.messages[0]

    @property
    def ids(self):
        return [message.id for message in self.messages]

    @property
    def author_account_id(self):
        return self.head.author_account_id

    @property
    def is_customer(self):
        return self.head.author_role == AuthorRole.CUSTOMER

    @property
    def is_event(self):
        return self.head.kind == MessageKind.EVENT

    @property
    def is_internal(self):
        return self.head.visibility == Visibility.INTERNAL

    @property
    def uncertain_since(self):
        return aware(self.head.sync_uncertain_since)

    @property
    def pending_comment_id(self):
        """The comment Jira created for the head whose property is not set yet, or None."""
        return self.head.jira_comment_id

    def text(self):
        """Compose the comment text: one paragraph per message, each with its time when several."""
        if len(self.messages) == 1:
            return self.head.body
        parts = []
        for message in self.messages:
            local = aware(message.created_at).astimezone(self.time_zone)
            parts.append(f"{local:%H:%M} — {message.body}")
        return "\n\n".join(parts)

    def property_value(self):
        return {"messageIds": self.ids, "authorAccountId": self.author_account_id}


@dataclass
class Written:
    """A comment that carries messages of a batch: its id and the ids of the messages it carries."""

    comment_id: str
    message_ids: list


def deliver(jira, batch, *, on_comment):
    """Make sure one comment carries the batch and return it as Written.

    `jira` is the app's client. The caller must have durably marked the batch as possibly written
    (outbox_queue.mark_uncertain) before the call. `on_comment(comment_id)` must durably store the
    id of a comment created without its property. Raises JiraError when Jira fails.
    """
    if batch.pending_comment_id:
        _set_property(jira, batch.pending_comment_id, batch)
        return Written(batch.pending_comment_id, batch.ids)
    if batch.uncertain_since is not None:
        found = find_written(jira, batch)
        if found is not None:
            return _complete(jira, batch, found, on_comment)

    if batch.is_event:
        return _write_event(jira, batch)
    try:
        if batch.is_customer:
            return _write_as_customer(jira, batch, on_comment)
        return _write_as_agent(jira, batch)
    except ImpersonationRefused as refusal:
        log.info("Jira rejected impersonation of %s for messages %s on %s (HTTP %s); writing as the app user",
                 batch.author_account_id, batch.ids, batch.issue_key, refusal.status)
    return _write_as_app(jira, batch)


def _complete(jira, batch, found, on_comment):
    written, has_property = found
    if not has_property:
        on_comment(written.comment_id)
        _set_property(jira, written.comment_id, batch)
    return written


def _write_as_agent(jira, batch):
    properties = {MESSAGES_PROPERTY_KEY: batch.property_value()}
    if batch.is_internal:
        properties[INTERNAL_PROPERTY_KEY] = {"internal": True}
    with jira.as_user(batch.author_account_id) as author_jira:
        created = author_jira.add_comment_v3(batch.issue_key, to_adf_literal(batch.text()), properties)
    return Written(str(created["id"]), batch.ids)


def _write_as_customer(jira, batch, on_comment):
    # Customers write only public comments; post_message rejects their internal notes.
    with jira.as_user(batch.author_account_id) as author_jira:
        created = author_jira.add_request_comment(batch.issue_key, to_wiki_literal(batch.text()), public=True)
    comment_id = str(created["id"])
    on_comment(comment_id)
    _set_property(jira, comment_id, batch)
    return Written(comment_id, batch.ids)


def _write_as_app(jira, batch):
    name = batch.head.author_name or _display_name(jira, batch.author_account_id)
    text = VIA_CHAT_HEADER.format(name=name) + "\n\n" + batch.text()
    properties = {MESSAGES_PROPERTY_KEY: batch.property_value()}
    if batch.is_internal:
        properties[INTERNAL_PROPERTY_KEY] = {"internal": True}
    created = jira.add_comment_v3(batch.issue_key, to_adf_literal(text), properties)
    return Written(str(created["id"]), batch.ids)


def _write_event(jira, batch):
    # The text of a traced chat event names the people who acted, so the app user writes it as is.
    properties = {MESSAGES_PROPERTY_KEY: batch.property_value()}
    if batch.is_internal:
        properties[INTERNAL_PROPERTY_KEY] = {"internal": True}
    created = jira.add_comment_v3(batch.issue_key, to_adf_literal(batch.text()), properties)
    return Written(str(created["id"]), batch.ids)


def _display_name(jira, account_id):
    user = jira.get_user(account_id) or {}
    return user.get("displayName") or account_id


def _set_property(jira, comment_id, batch):
    jira.set_comment_property(comment_id, MESSAGES_PROPERTY_KEY, batch.property_value())


def find_written(jira, batch):
    """Look for a comment of an earlier attempt; return (Written, has_property) or None.

    A comment whose `supportchat.messages` property lists the head's id is ours. A customer's JSM
    comment gets its property in a second call, so for a customer a comment without the property
    also counts when all of these hold: the customer wrote it, its body is exactly the one we
    send, it was created after the first uncertain write, and no other message is tied to it.
    """
    cutoff = batch.uncertain_since - timedelta(seconds=CLOCK_SKEW_SECS)
    wiki_body = to_wiki_literal(batch.text()).strip()
    path = f"rest/api/2/issue/{quote(batch.issue_key, safe='')}/comment"
    start = 0
    while True:
        params = {"expand": "properties", "orderBy": "-created", "startAt": start,
                  "maxResults": LOOKUP_PAGE_SIZE}
        page = jira.request("GET", path, params=params) or {}
        comments = page.get("comments") or []
        for comment in comments:
            carried = _carried_ids(comment)
            if batch.head.id in carried:
                ids = [message_id for message_id in batch.ids if message_id in carried]
                return Written(str(comment["id"]), ids), True
            if (batch.is_customer and not batch.is_event and not carried
                    and _same_customer_comment(comment, batch, wiki_body, cutoff)):
                return Written(str(comment["id"]), batch.ids), False

        start += len(comments)
        oldest = parse_jira_time(comments[-1].get("created")) if comments else None
        if not comments or start >= int(page.get("total", 0)) or (oldest is not None and oldest < cutoff):
            return None


def _carried_ids(comment):
    for item in comment.get("properties") or []:
        if item.get("key") == MESSAGES_PROPERTY_KEY:
            value = item.get("value") or {}
            return set(value.get("messageIds") or [])
    return set()


def _same_customer_comment(comment, batch, wiki_body, cutoff):
    created = parse_jira_time(comment.get("created"))
    body = comment.get("body")
    # NOTE: this expects Jira's v2 representation to return the posted wiki text unchanged except
    # for dropped surrounding whitespace. A body that Jira rewrites is not recognised here.
    return (
        str(comment.get("id")) not in batch.linked_comment_ids
        and (comment.get("author") or {}).get("accountId") == batch.author_account_id
        and isinstance(body, str) and body.strip() == wiki_body
        and isinstance(created, datetime) and created >= cutoff
    )
