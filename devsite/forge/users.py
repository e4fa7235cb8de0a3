"""The users who run a Forge app's UI module on the local site, and as whom Forge calls the remote.

Atlassian's guide "Access to Forge apps for unlicensed users" names four kinds of user, which
Forge calls `accountType`:

* `licensed`: an Atlassian account with a JSM licence (agents, admins);
* `customer`: a portal-only customer account;
* `unlicensed`: an Atlassian account without a JSM licence on the site, such as a user licensed
  for Jira Software only;
* `anonymous`: a visitor who is not logged in.

A module runs for licensed users. It runs for the other kinds only when its manifest entry lists
them in `unlicensedAccess` and its module type supports them (`forge deploy` rejects the other
values). For an anonymous visitor the guide gives `unidentified` as the accountId, so the host puts
it in the context and in the FIT's `principal`.
"""

from ..state import site

LICENSED = "licensed"
CUSTOMER = "customer"
UNLICENSED = "unlicensed"
ANONYMOUS = "anonymous"

# NOTE: the guide gives this accountId for the context of a Forge function. That a FIT's
# `principal` carries it too (rather than no principal) is an assumption to check on a real site.
ANONYMOUS_ACCOUNT_ID = "unidentified"

# The kinds each module type supports without a licence, from the "Unlicensed user access" line of
# its page in Atlassian's module reference. The issue view is the agent's: licensed users only.
SUPPORTED_KINDS = {
    "jiraServiceManagement:portalFooter": {CUSTOMER, UNLICENSED, ANONYMOUS},
    "jiraServiceManagement:portalHeader": {CUSTOMER, UNLICENSED, ANONYMOUS},
    "jiraServiceManagement:portalSubheader": {CUSTOMER, UNLICENSED, ANONYMOUS},
    "jiraServiceManagement:portalRequestDetail": {CUSTOMER, UNLICENSED},
    "jiraServiceManagement:portalRequestDetailPanel": {CUSTOMER, UNLICENSED},
}


def kind_of(viewer):
    """Return the accountType of `viewer` (a site User, or None for a visitor not logged in)."""
    if viewer is None:
        return ANONYMOUS
    if site.is_agent(viewer.account_id):
        return LICENSED
    if viewer.account_type == "customer":
        return CUSTOMER
    return UNLICENSED


def account_id_of(viewer):
    """Return the accountId that Forge gives the module: the viewer's, or `unidentified`."""
    return viewer.account_id if viewer is not None else ANONYMOUS_ACCOUNT_ID


def may_run(module_type, module, kind):
    """Tell whether a user of `kind` may run `module` (its manifest entry) of `module_type`."""
    if kind == LICENSED:
        return True
    declared = module.get("unlicensedAccess") if isinstance(module.get("unlicensedAccess"), list) else []
    return kind in declared and kind in SUPPORTED_KINDS.get(module_type, set())


def gets_user_token(kind):
    """Tell whether invokeRemote carries an `x-forge-oauth-user` token for a user of `kind`.

    The guide says that unlicensed and anonymous users cannot make asUser calls. Customers get a
    token: the API stand-in (api.py) accepts it while the site's `impersonate_customers` switch is on.
    """
    return kind in (LICENSED, CUSTOMER)


def exclusion_reason(module_type, module, kind):
    """Return why a user of `kind` may not run `module`, in the words of a host error."""
    declared = module.get("unlicensedAccess") if isinstance(module.get("unlicensedAccess"), list) else []
    listed = ", ".join(str(value) for value in declared) or "nobody"
    return (f"The module {module.get('key')!r} ({module_type}) does not run for {kind} users: its "
            f"unlicensedAccess is {listed}.")
