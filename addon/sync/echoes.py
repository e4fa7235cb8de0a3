"""The comments this process's outbox wrote lately, so that Jira's echo of each is dropped at receipt.

Every chat message becomes a Jira comment, and Jira sends two webhooks for each new comment,
`comment_created` and `jira:issue_updated` of type `issue_commented`. The handlers would store
both, look them up and ignore them: about a dozen SQL statements and four commits per message,
for nothing. The outbox therefore notes the id of each comment it writes here, and the webhook
receipt calls `is_echo` before storing an event.

The memo belongs to the app, lives in memory and is bounded. An echo that reaches another
instance, or arrives before the outbox has the comment's id, takes the stored path, where
`webhook_handlers` ignores it as before; the memo only saves work. An edit or a deletion of such a
comment is never dropped here.
"""

import threading
from collections import OrderedDict

from flask import current_app

# Comments written within the last minutes; a comment's echo comes within seconds.
CAPACITY = 20_000


class EchoMemo:
    """Comment ids written by the outbox, per site, each with the number of its echoes dropped."""

    def __init__(self, capacity=CAPACITY):
        self.capacity = capacity
        self._lock = threading.Lock()
        self._written = OrderedDict()  # (client_key, comment id) -> echoes dropped, oldest first

    def remember(self, client_key, comment_id):
        """Note that the outbox wrote comment `comment_id` on the site `client_key`."""
        key = (client_key, str(comment_id))
        with self._lock:
            self._written.setdefault(key, 0)
            self._written.move_to_end(key)
            while len(self._written) > self.capacity:
                self._written.popitem(last=False)

    def drop(self, client_key, name, payload):
        """Tell whether the webhook `name` only reports the creation of a comment written here,
        and count it as dropped when it does."""
        comment = payload.get("comment")
        if not isinstance(comment, dict) or comment.get("id") is None:
            return False
        if name == "jira:issue_updated":
            # A transition with a comment, or any field change beside it, must reach the handlers.
            changelog = payload.get("changelog")
            if payload.get("issue_event_type_name") != "issue_commented" or (
                    isinstance(changelog, dict) and changelog.get("items")):
                return False
        elif name != "comment_created":
            return False
        key = (client_key, str(comment["id"]))
        with self._lock:
            if key not in self._written:
                return False
            self._written[key] += 1
            return True

    def dropped(self, client_key, comment_id):
        """Return how many echoes of the comment were dropped so far (0 when it is not remembered)."""
        with self._lock:
            return self._written.get((client_key, str(comment_id)), 0)


def memo_of(app):
    """Return the app's EchoMemo, creating it on first use."""
    memo = app.extensions.get("comment_echoes")
    if memo is None:
        memo = app.extensions.setdefault("comment_echoes", EchoMemo())
    return memo


def is_echo(client_key, name, payload):
    """Tell whether to drop an event at receipt: the echo of a comment the current app's outbox wrote."""
    return memo_of(current_app).drop(client_key, name, payload)
