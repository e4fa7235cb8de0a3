"""The Jira client of a Forge installation: Atlassian's API gateway with Forge's OAuth tokens.

`ForgeJiraClient` has the public interface of the Connect `JiraClient` (it inherits every Jira
and JSM method) and differs only in where and how it calls. Requests go to the installation's
`apiBaseUrl` (`https://api.atlassian.com/ex/jira/<cloudId>`), never to the site URL, with
`Authorization: Bearer` and one of three tokens, as Atlassian's "Calling product APIs from a
Forge remote" page describes:

* the app system token (`x-forge-oauth-system`, cached encrypted by `tenants`), which makes the
  app's bot user the author;
* the user token (`x-forge-oauth-user`) of the Forge call being served, when it names the user;
* otherwise an offline user token from the GraphQL mutation `offlineUserAuthToken`, requested
  with the system token and cached per (installation, accountId) until shortly before its `ttl`.

The same JiraSession applies the timeout, the retry and 429 policy, and raises JiraError.
"""

import logging
from urllib.parse import urlsplit

from flask import current_app, g, has_app_context

from ..impersonation import DEFAULT_SCOPES, REFUSAL_STATUSES, CachedTokens
from ..jira_auth import BearerAuth
from ..jira_client import JiraClient, JiraSettings
from ..jira_errors import ImpersonationRefused, JiraError, JiraUnavailable
from .tenancy import PLATFORM_FORGE, forge_installation_of
from .tenants import system_token_of

log = logging.getLogger(__name__)

GRAPHQL_PATH = "/graphql"
OFFLINE_TOKEN_MUTATION = """
mutation forge_remote_offlineUserAuthToken($input: OfflineUserAuthTokenInput!) {
  offlineUserAuthToken(input: $input) {
    success
    errors { message }
    authToken { token ttl }
  }
}
""".strip()


class ForgeUnavailable(JiraUnavailable):
    """Jira cannot be called through Forge for this tenant now; `detail` says why and what to do."""

    def __init__(self, site, detail):
        super().__init__(site=site, method="-", url=site, detail=detail)

    def _describe(self):
        return f"Jira site {self.site} cannot be called: {self.detail}"


class ForgeTokenUnavailable(ForgeUnavailable):
    """No system token of the installation is valid now; the call waits for the next invocation.

    Forge hands tokens to the remote only with its calls (UI calls, events, the hourly scheduled
    trigger), so a background write fails closed here and is retried later, like an outage.
    """

    def __init__(self, forge_installation, site):
        self.installation_id = forge_installation.installation_id
        super().__init__(site, (
            f"no valid Forge system token for installation {forge_installation.installation_id} "
            f"(cloud {forge_installation.cloud_id}); the call can run after the next Forge "
            "invocation brings one (a UI call, a product event or the hourly scheduled trigger)"
        ))


class ForgeApiBaseRejected(ValueError):
    """The installation's apiBaseUrl is not on a host FORGE_API_BASE_ALLOWED names."""


def jira_api_base(forge_installation):
    """Return the base URL of Jira's REST API for `forge_installation`: <apiBaseUrl>/ex/jira/<cloudId>.

    FITs carry `app.apiBaseUrl` with the `/ex/jira/<cloudId>` path already; a bare gateway origin
    gets the path appended.
    """
    base = forge_installation.api_base_url.rstrip("/")
    suffix = f"/ex/jira/{forge_installation.cloud_id}"
    return base if base.endswith(suffix) else base + suffix


def gateway_base(forge_installation):
    """Return the API gateway's base URL (apiBaseUrl without `/ex/jira/<cloudId>`), for /graphql."""
    base = jira_api_base(forge_installation)
    return base[: -len(f"/ex/jira/{forge_installation.cloud_id}")]


def check_api_base_allowed(forge_installation, allowed_origins):
    """Raise ForgeApiBaseRejected unless the apiBaseUrl's origin is one of `allowed_origins`."""
    parts = urlsplit(forge_installation.api_base_url)
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    if origin not in (allowed.rstrip("/").lower() for allowed in allowed_origins):
        raise ForgeApiBaseRejected(
            f"The apiBaseUrl of Forge installation {forge_installation.installation_id} is on "
            f"{origin!r}, which FORGE_API_BASE_ALLOWED does not name; no token is sent there."
        )


def context_ari(cloud_id):
    """Return the Jira context ARI that `offlineUserAuthToken` takes in `contextIds`."""
    # NOTE: Atlassian's page asks for "the context ARI of the installation" without a Jira example;
    # this workspace form is the one an Atlassian staff member gave on the developer community.
    return f"ari:cloud:jira:{cloud_id}:workspace/{cloud_id}"


class SystemTokenAuth:
    """Sends the installation's system token, read once when the client is built."""

    def __init__(self, token):
        self._token = token

    def __call__(self, prepared):
        prepared.headers["Authorization"] = f"Bearer {self._token}"
        return prepared

    def __repr__(self):
        return "<SystemTokenAuth>"


class CallUserTokenAuth(SystemTokenAuth):
    """Sends the `x-forge-oauth-user` token of the Forge call being served."""

    def __repr__(self):
        return "<CallUserTokenAuth>"


class OfflineUserTokens(CachedTokens):
    """Offline user tokens of one Forge installation, from `offlineUserAuthToken`, cached."""

    def __init__(self, *, forge_installation, session, cache):
        self._installation_id = forge_installation.installation_id
        self._cloud_id = forge_installation.cloud_id
        self._graphql_url = gateway_base(forge_installation) + GRAPHQL_PATH
        self._session = session
        self._cache = cache

    def _key(self, account_id):
        return ("forge-offline", self._installation_id, account_id)

    def _request_token(self, account_id):
        body = {
            "query": OFFLINE_TOKEN_MUTATION,
            "variables": {"input": {"contextIds": [context_ari(self._cloud_id)], "userId": account_id}},
        }
        try:
            # Asking twice for a token changes nothing, so a failed request may be repeated.
            with self._session.idempotent():
                response = self._session.post(self._graphql_url, json=body, headers={"Accept": "application/json"})
        except JiraError as error:
            if error.status in REFUSAL_STATUSES and error.status != 401:
                raise self._rejection(account_id, error.status, error.jira_message) from None
            raise

        try:
            payload = response.json()
        except ValueError:
            payload = None
        result = ((payload or {}).get("data") or {}).get("offlineUserAuthToken") if isinstance(payload, dict) else None
        if not isinstance(result, dict):
            messages = _graphql_messages((payload or {}).get("errors") if isinstance(payload, dict) else None)
            raise JiraError(site=self._graphql_url, method="POST", url=self._graphql_url,
                            status=response.status_code,
                            jira_message=messages or "the GraphQL gateway returned no offlineUserAuthToken result")
        if not result.get("success"):
            raise self._rejection(account_id, response.status_code, _graphql_messages(result.get("errors")))

        auth_token = result.get("authToken") or {}
        token, ttl_secs = auth_token.get("token"), auth_token.get("ttl")
        if not isinstance(token, str) or not token or not isinstance(ttl_secs, (int, float)) or ttl_secs <= 0:
            raise JiraError(site=self._graphql_url, method="POST", url=self._graphql_url,
                            status=response.status_code,
                            jira_message="offlineUserAuthToken returned no token or no positive ttl")
        log.debug("Obtained an offline token to act as %s for Forge installation %s (ttl %s s)",
                  account_id, self._installation_id, ttl_secs)
        return token, float(ttl_secs)

    def _rejection(self, account_id, status, message):
        return ImpersonationRefused(account_id=account_id, site=self._graphql_url, method="POST",
                                    url=self._graphql_url, status=status, jira_message=message)


def _graphql_messages(errors):
    if not isinstance(errors, list):
        return None
    messages = [str(error.get("message")) for error in errors if isinstance(error, dict) and error.get("message")]
    return "; ".join(messages) or None


def _call_user_token(forge_installation, account_id):
    """Return the user token of the Forge call being served when it belongs to `account_id`."""
    if not has_app_context():
        return None
    call = g.get("forge")
    if call is None or not call.user_token or call.principal != account_id:
        return None
    if call.installation_id != forge_installation.installation_id:
        return None
    return call.user_token


class ForgeJiraClient(JiraClient):
    """Calls to one Jira site through Atlassian's API gateway, as the app or, through `as_user`, a user.

    `installation` is the tenant row the chat code keys on; `forge_installation` the Forge
    installation whose tokens and apiBaseUrl are used. Building the client raises
    ForgeTokenUnavailable when no system token is valid, and ForgeApiBaseRejected when the
    apiBaseUrl is not allowed, so nothing is sent in either case.
    """

    def __init__(self, installation, forge_installation, settings, *, allowed_api_bases,
                 account_id=None):
        # JiraClient.__init__ is not called: it signs Connect JWTs with the shared secret.
        check_api_base_allowed(forge_installation, allowed_api_bases)
        self.installation = installation
        self.forge_installation = forge_installation
        self.site = jira_api_base(forge_installation)
        self.account_id = account_id
        self._settings = settings
        self._allowed_api_bases = tuple(allowed_api_bases)

        system_token = system_token_of(forge_installation)
        if system_token is None:
            raise ForgeTokenUnavailable(forge_installation, self.site)

        self._token_session = None
        if account_id is None:
            auth = SystemTokenAuth(system_token)
        elif (user_token := _call_user_token(forge_installation, account_id)) is not None:
            auth = CallUserTokenAuth(user_token)
        else:
            self._token_session = settings.session(gateway_base(forge_installation), SystemTokenAuth(system_token))
            tokens = OfflineUserTokens(forge_installation=forge_installation, session=self._token_session,
                                       cache=settings.token_cache)
            auth = BearerAuth(tokens, account_id)
        self._bind(settings.session(self.site, auth), settings)

    def as_user(self, account_id, scopes=DEFAULT_SCOPES):
        """The same client acting as the user `account_id`.

        `scopes` is accepted for the Connect client's signature and ignored: a Forge token carries
        the manifest's scopes. On use, raises ImpersonationRefused when Atlassian refuses an offline
        token for that user (for example an unlicensed or anonymous user).
        """
        return ForgeJiraClient(self.installation, self.forge_installation, self._settings,
                               allowed_api_bases=self._allowed_api_bases, account_id=account_id)

    def __repr__(self):
        return f"<ForgeJiraClient {self.site} as {self.account_id or 'app'}>"


def forge_jira_client(installation, forge_installation):
    """Build the Forge Jira client of the tenant `installation`, from current_app's config."""
    return ForgeJiraClient(
        installation, forge_installation, JiraSettings.from_app(current_app),
        allowed_api_bases=current_app.config["FORGE_API_BASE_ALLOWED"],
    )


def forge_client_for(installation):
    """Return the ForgeJiraClient of the tenant `installation`, or None to use the Connect client.

    The rule: a Forge tenant (platform "forge") always goes through Forge. A Connect tenant goes
    through Forge when FORGE_ENABLED is true, an installed Forge installation is linked to it and
    either CONNECT_ENABLED is false, or JIRA_API_PREFERENCE is "forge" and that installation
    holds a valid system token. Otherwise it uses Connect, when CONNECT_ENABLED is true.
    Raises ForgeUnavailable when neither way is open, and ForgeTokenUnavailable when Forge is
    the only way and no system token is valid.
    """
    config = current_app.config
    site = installation.base_url
    connect_enabled = config["CONNECT_ENABLED"]

    if installation.platform == PLATFORM_FORGE:
        if not config["FORGE_ENABLED"]:
            raise ForgeUnavailable(site, f"the tenant {installation.client_key} was installed through Forge "
                                         "but FORGE_ENABLED is false; set FORGE_ENABLED=true")
        forge_installation = forge_installation_of(installation)
        if forge_installation is None:
            raise ForgeUnavailable(site, f"the tenant {installation.client_key} has no installed Forge "
                                         "installation; install the Forge app on the site again")
        return forge_jira_client(installation, forge_installation)

    forge_installation = forge_installation_of(installation) if config["FORGE_ENABLED"] else None
    if forge_installation is not None:
        prefer_forge = config["JIRA_API_PREFERENCE"] == "forge" and system_token_of(forge_installation) is not None
        if prefer_forge or not connect_enabled:
            return forge_jira_client(installation, forge_installation)
    if connect_enabled:
        return None
    raise ForgeUnavailable(site, f"CONNECT_ENABLED is false and the tenant {installation.client_key} has no "
                                 "installed Forge installation; install the Forge app on the site")
