"""The chat's own API (`/api/...`) called from a Custom UI page through `invokeRemote`.

Forge calls the remote with `Authorization: Bearer <FIT>`. The FIT gets the same checks as on the
`/forge/ui/*` routes: signature, iss, aud, times, the jti replay table, an allowed apiBaseUrl, a UI
module's token and an installation that is not uninstalled. The installation is then recorded with
its tokens. The caller becomes a `ConnectAuth` of the site's tenant row, so the chat code reads
`g.connect.installation`, `client_key` and `account_id` as it does for a Connect context token.

The FIT alone names the user: unlike `@forge_remote`, these routes do not compare body fields with
the token, because some chat bodies name other people on purpose (an admin naming a key user), and
no chat route reads the caller from its body. A FIT failure is 401, our own refusal 403.
"""

import logging

from flask import g, request

from .. import auth
from . import files, fit, tenants
from .tenancy import installation_for

log = logging.getLogger(__name__)


def has_bearer_token():
    """Tell whether the current request carries `Authorization: Bearer ...` (a Forge call)."""
    return any(value.strip().lower().startswith("bearer ")
               for value in request.headers.getlist("Authorization"))


def authenticate_ui_call():
    """Verify the FIT of a chat API call from a UI module and return the caller as a ConnectAuth.

    Also sets `g.forge_installation` and `g.forge`, the ForgeCall whose `x-forge-oauth-user` token
    the Forge Jira client sends for this user during the call.
    """
    if len(request.headers.getlist("Authorization")) > 1 or auth.find_tokens():
        # A Connect JWT beside the FIT leaves it ambiguous which one authorises the call.
        fit._reject("The request carries a Connect JWT beside the Forge Invocation Token; send one only.")
    token = fit.extract_token()
    claims = fit.verify_token(token)
    call = fit.build_call(claims, "ui")
    fit._check_call_allowed(call, "ui")
    fit._check_installation_active(call, "ui")
    if files.is_reusable_route():
        # requestRemote sends its cached FIT again on the file routes (addon/atlassian/forge/files.py).
        files.record_use(claims)
    else:
        fit._record_use(claims)
    if call.principal is None:
        # A visitor who is not logged in: the FIT is valid, so this is our refusal (403), not a 401,
        # which Forge reserves for tokens the remote could not verify.
        fit._refuse("Connectez-vous au portail pour discuter avec le support. / "
                    "Log in to the portal to chat with support.")

    forge_installation = tenants.upsert_from_call(call)
    g.forge = call
    g.forge_installation = forge_installation

    tenant = installation_for(forge_installation)
    if tenant is None or not tenant.is_active:
        fit._refuse(
            f"The site of Forge installation {call.installation_id} has no active tenant; "
            "install the app on the site again."
        )
    return auth.ConnectAuth(
        installation=tenant,
        client_key=tenant.client_key,
        account_id=call.principal,
        claims=claims,
        token=token,
    )
