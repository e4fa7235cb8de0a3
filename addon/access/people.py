"""Display names of the people the admin screens mention: audit log actors, key users and who added them.

The names come from Jira (`GET /rest/api/3/user/bulk`) and are cached per site for
NAME_CACHE_SECS. An accountId that Jira does not return is cached as unnamed too, so that a
deleted account costs no Jira call on every page. When Jira fails, the names stay unknown for this
request only and the screens show the accountIds instead.
"""

import logging

from flask import current_app

from ..atlassian.jira_client import jira_client_for
from ..atlassian.jira_errors import JiraError
from ..cache import TTLCache

log = logging.getLogger(__name__)

# A person renamed in Jira shows the new name on the admin screens within this delay.
NAME_CACHE_SECS = 3600


def _cache():
    return current_app.extensions.setdefault("admin_display_names", TTLCache(NAME_CACHE_SECS))


def display_names(installation, account_ids):
    """Return {accountId: display name, or None when Jira returns no name} for `account_ids`.

    Empty and None entries of `account_ids` are skipped. The first accountId missing from the cache
    fetches every requested accountId in one bulk call, so a page of the audit log costs at most
    one Jira call.
    """
    requested = [account_id for account_id in dict.fromkeys(account_ids) if account_id]
    fetched = None

    def fetch(account_id):
        nonlocal fetched
        if fetched is None:
            with jira_client_for(installation) as jira:
                fetched = {user["accountId"]: user.get("displayName") or None
                           for user in jira.get_users_bulk(requested) if user.get("accountId")}
        return fetched.get(account_id)

    names = {}
    cache = _cache()
    try:
        for account_id in requested:
            names[account_id] = cache.get_or_compute((installation.id, account_id),
                                                     lambda account_id=account_id: fetch(account_id))
    except JiraError as error:
        log.warning("Display name lookup of %s accounts failed for client_key %s: %s",
                    len(requested), installation.client_key, error)
    return {account_id: names.get(account_id) for account_id in requested}
