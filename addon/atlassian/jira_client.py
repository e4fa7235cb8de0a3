"""The add-on's client for one Jira site, as the app user or, through `as_user`, as a user.

Built on atlassian-python-api's `Jira` and `ServiceDesk` over a JiraSession, which signs every
request, applies the timeout, retries and raises JiraError. The library's own retries are off.
Every method raises JiraError (or a subclass) when Jira returns an error status or no response.
"""

from dataclasses import dataclass
from math import ceil
from urllib.parse import quote

from atlassian import Jira, ServiceDesk
from flask import current_app

from .installations import shared_secret_of
from .impersonation import DEFAULT_SCOPES, TokenCache, UserTokens
from .jira_auth import BearerAuth, JwtAuth
from .jira_errors import JiraNotFound
from .jira_session import JiraSession
from .retry import RetryPolicy

PAGE_SIZE = 50
# Jira Cloud's user bulk endpoint returns at most this many users per page.
USERS_BULK_MAX = 200


def _segment(value):
    """Quote an id or key as one path segment, so that no value can reach another resource."""
    return quote(str(value), safe="")


@dataclass(frozen=True)
class JiraSettings:
    """Settings shared by every Jira client of one app: identity, timeout, retries, token cache."""

    addon_key: str
    timeout_secs: float
    policy: RetryPolicy
    token_url: str
    token_cache: TokenCache

    @classmethod
    def from_app(cls, app):
        config = app.config
        return cls(
            addon_key=config["ADDON_KEY"],
            timeout_secs=float(config["JIRA_TIMEOUT_SECS"]),
            policy=RetryPolicy.from_config(config),
            token_url=config["CONNECT_OAUTH_TOKEN_URL"],
            # setdefault is atomic for a dict, so concurrent first calls share one cache.
            token_cache=app.extensions.setdefault("jira_token_cache", TokenCache()),
        )

    @property
    def user_agent(self):
        return f"{self.addon_key} (Atlassian Connect app)"

    def session(self, site, auth):
        return JiraSession(site=site, auth=auth, policy=self.policy,
                           timeout_secs=self.timeout_secs, user_agent=self.user_agent)


def jira_client_for(installation):
    """Build the Jira client of `installation`, acting as the app user, from current_app's config.

    A tenant served through Forge gets a ForgeJiraClient with the same interface; the rule for a
    site installed both ways is `forge.jira.forge_client_for`.
    """
    from .forge.jira import forge_client_for

    forge_client = forge_client_for(installation)
    if forge_client is not None:
        return forge_client
    return JiraClient(installation, shared_secret_of(installation), JiraSettings.from_app(current_app))


class JiraClient:
    """Calls to one Jira site. `account_id` is None for the app user, else the impersonated user."""

    def __init__(self, installation, shared_secret, settings, *, account_id=None,
                 scopes=DEFAULT_SCOPES):
        self.installation = installation
        self.site = installation.base_url.rstrip("/")
        self.account_id = account_id
        self._shared_secret = shared_secret
        self._settings = settings

        # Calls to the token endpoint get a session of their own, unsigned, whose errors name
        # the site the token is for.
        self._token_session = None
        if account_id is None:
            auth = JwtAuth(addon_key=settings.addon_key, shared_secret=shared_secret,
                           base_url=self.site)
        else:
            self._token_session = settings.session(self.site, None)
            tokens = UserTokens(
                installation=installation, shared_secret=shared_secret,
                token_url=settings.token_url, cache=settings.token_cache, scopes=scopes,
                session=self._token_session,
            )
            auth = BearerAuth(tokens, account_id)
        self._bind(settings.session(self.site, auth), settings)

    def _bind(self, session, settings):
        """Use `session` for every call, through atlassian-python-api's Jira and ServiceDesk."""
        self.session = session
        # Retries and rate limits are JiraSession's; the library must not retry on its own.
        library_options = {
            "session": session,
            "timeout": ceil(settings.timeout_secs),
            "cloud": True,
            "backoff_and_retry": False,
            "retry_with_header": False,
        }
        self.jira = Jira(url=self.site, api_version="3", **library_options)
        self.service_desk = ServiceDesk(url=self.site, **library_options)

    def as_user(self, account_id, scopes=DEFAULT_SCOPES):
        """The same client acting as the user `account_id` (raises ImpersonationRefused on use
        when the site will not issue a token for that user)."""
        return JiraClient(self.installation, self._shared_secret, self._settings,
                          account_id=account_id, scopes=scopes)

    def close(self):
        self.session.close()
        if self._token_session is not None:
            self._token_session.close()

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self.close()

    def __repr__(self):
        return f"<JiraClient {self.site} as {self.account_id or 'app'}>"

    # Generic access, for endpoints without a method below.

    def request(self, method, path, *, params=None, json=None, idempotent=False):
        """Call `path` (relative to the site) and return the decoded JSON body, or None."""
        with self.session.idempotent(idempotent):
            response = self.jira.request(method, path, params=params, json=json,
                                         headers=self.jira.default_headers)
        return response.json() if response.content else None

    # Site and issues.

    def server_info(self):
        return self.jira.get_server_info()

    def get_issue(self, key, fields=None, properties=None):
        if isinstance(properties, (list, tuple, set)):
            properties = ",".join(properties)
        return self.jira.get_issue(_segment(key), fields=fields, properties=properties,
                                   update_history=False)

    def get_issue_property(self, key, prop):
        """The value of issue property `prop`, or None when Jira returns 404.

        NOTE: Jira returns 404 both for a missing property and for an issue the caller cannot see.
        """
        try:
            return self.jira.get_issue_property(_segment(key), _segment(prop))["value"]
        except JiraNotFound:
            return None

    def set_issue_property(self, key, prop, value):
        self.jira.set_issue_property(_segment(key), _segment(prop), value)

    def get_comment_property(self, comment_id, prop):
        """The value of comment property `prop`, or None when Jira returns 404."""
        try:
            return self.jira.get_comment_property(_segment(comment_id), _segment(prop))["value"]
        except JiraNotFound:
            return None

    def set_comment_property(self, comment_id, prop, value):
        # Not the library's set_comment_property: it wraps the value in {"value": ...}, but Jira
        # stores the request body itself as the property value.
        self.jira.put(f"rest/api/3/comment/{_segment(comment_id)}/properties/{_segment(prop)}",
                      data=value)

    def add_comment_v3(self, key, adf, properties=None, idempotent=False):
        """Add a platform comment whose body is an ADF document; `properties` maps key to value.

        Pass idempotent=True only when a repeat is detectable (for example by a comment property
        looked up before posting again).
        """
        body = {"body": adf}
        if properties:
            body["properties"] = [{"key": name, "value": value} for name, value in properties.items()]
        with self.session.idempotent(idempotent):
            return self.jira.post(f"rest/api/3/issue/{_segment(key)}/comment", json=body)

    def get_transitions(self, key):
        return self.jira.get_issue_transitions_full(_segment(key)).get("transitions", [])

    def transition(self, key, transition_id, fields=None, idempotent=False):
        body = {"transition": {"id": str(transition_id)}}
        if fields:
            body["fields"] = fields
        with self.session.idempotent(idempotent):
            self.jira.post(f"rest/api/3/issue/{_segment(key)}/transitions", json=body)

    def set_priority(self, key, priority_name):
        """Set the priority of issue `key` by name. The call is a PUT, so a retry changes nothing more."""
        self.request("PUT", f"rest/api/3/issue/{_segment(key)}",
                     json={"fields": {"priority": {"name": priority_name}}})

    def notify(self, key, subject, text_body, html_body, to):
        """Ask Jira to mail `to` (Jira's notify recipients object) about issue `key`."""
        body = {"subject": subject, "textBody": text_body, "htmlBody": html_body, "to": to}
        self.jira.post(f"rest/api/3/issue/{_segment(key)}/notify", json=body)

    # Users and permissions.

    def get_user(self, account_id):
        return self.jira.user(account_id=account_id)

    def get_users_bulk(self, account_ids):
        """The users of `account_ids` that exist on the site, fetched in pages of the endpoint's maximum."""
        account_ids = list(dict.fromkeys(account_ids))
        users = []
        for start in range(0, len(account_ids), USERS_BULK_MAX):
            chunk = account_ids[start:start + USERS_BULK_MAX]
            page = self.jira.get("rest/api/3/user/bulk",
                                 params={"accountId": chunk, "maxResults": len(chunk)})
            users += (page or {}).get("values", [])
        return users

    def my_permissions(self, project_key, permissions):
        """Map each permission key to whether the calling identity has it in the project."""
        result = self.jira.get_permissions(",".join(permissions), project_key=project_key)
        return {name: bool(entry.get("havePermission"))
                for name, entry in (result or {}).get("permissions", {}).items()}

    def check_permissions(self, account_id, project_id, permissions):
        """Map each permission key to whether user `account_id` has it in project `project_id`."""
        body = {
            "accountId": account_id,
            "projectPermissions": [{"permissions": list(permissions), "projects": [_numeric(project_id)]}],
        }
        # A read-only POST, so repeating it is safe.
        with self.session.idempotent():
            result = self.jira.post("rest/api/3/permissions/check", json=body) or {}
        granted = {
            entry["permission"] for entry in result.get("projectPermissions", [])
            if str(project_id) in {str(project) for project in entry.get("projects", [])}
        }
        return {name: name in granted for name in permissions}

    # Jira Service Management.

    def create_request(self, service_desk_id, request_type_id, summary, description,
                       raise_on_behalf_of=None, participants=None):
        fields = {"summary": summary, "description": description}
        return self.service_desk.create_customer_request(
            str(service_desk_id), str(request_type_id), fields,
            raise_on_behalf_of=raise_on_behalf_of, request_participants=participants,
        )

    def add_request_comment(self, key, body, public, idempotent=False):
        """Add a JSM comment; public=False makes it an internal note."""
        with self.session.idempotent(idempotent):
            return self.service_desk.create_request_comment(_segment(key), body, public=public)

    def get_request_comments(self, key, public=True, internal=True, start=0, limit=PAGE_SIZE):
        """Fetch one page of JSM comments: {"values", "isLastPage", "start", "limit", ...}."""
        params = {"public": _flag(public), "internal": _flag(internal), "start": start, "limit": limit}
        return self.service_desk.get(f"rest/servicedeskapi/request/{_segment(key)}/comment",
                                     params=params, headers=self.service_desk.experimental_headers)

    def attach_temporary_file(self, service_desk_id, filename, data, content_type):
        """Upload `data` (bytes) as a temporary file of service desk `service_desk_id`; return the list
        of temporary attachment ids, which has one id here.

        JSM keeps a temporary file for a short time only and binds it to the service desk and to the
        caller, so attach it soon with attach_to_request, as the same identity. An unused temporary
        file expires, so the upload is retried like an idempotent call.
        """
        path = f"rest/servicedeskapi/servicedesk/{_segment(service_desk_id)}/attachTemporaryFile"
        # Multipart body: no JSON Content-Type (requests sets the boundary); the XSRF opt-out and the
        # experimental opt-in are both required by JSM.
        headers = {"Accept": "application/json", "X-Atlassian-Token": "no-check",
                   "X-ExperimentalApi": "opt-in"}
        files = {"file": (filename, bytes(data), content_type or "application/octet-stream")}
        with self.session.idempotent():
            result = self.service_desk.post(path, headers=headers, files=files) or {}
        return [entry["temporaryAttachmentId"] for entry in result.get("temporaryAttachments", [])]

    def attach_to_request(self, key, temporary_ids, public=True, comment=None):
        """Attach temporary files (ids from attach_temporary_file) to request `key`; return JSM's
        result: {"attachments": {"values": [...]}, "comment": {...} when `comment` is given}.

        Customers may attach only publicly, and JSM returns 403 otherwise. The call is not repeated
        after an unknown outcome, because a successful call uses up the temporary ids.
        """
        body = {"temporaryAttachmentIds": [str(temporary_id) for temporary_id in temporary_ids],
                "public": bool(public)}
        if comment:
            body["additionalComment"] = {"body": comment}
        return self.service_desk.post(f"rest/servicedeskapi/request/{_segment(key)}/attachment",
                                      json=body, headers=self.service_desk.experimental_headers)

    def search_knowledge_base(self, query, service_desk_id=None, limit=10):
        path = "rest/servicedeskapi/knowledgebase/article"
        if service_desk_id is not None:
            path = f"rest/servicedeskapi/servicedesk/{_segment(service_desk_id)}/knowledgebase/article"
        page = self.service_desk.get(path, params={"query": query, "highlight": "false", "limit": limit},
                                     headers=self.service_desk.experimental_headers)
        return (page or {}).get("values", [])

    def get_organizations(self, service_desk_id=None):
        """Fetch every organization of the site, or of one service desk."""
        desk = _segment(service_desk_id) if service_desk_id is not None else None
        return _all_values(lambda start: self.service_desk.get_organisations(desk, start, PAGE_SIZE))

    def get_organization_users(self, org_id):
        """Fetch every member of organization `org_id`."""
        return _all_values(
            lambda start: self.service_desk.get_users_in_organization(_segment(org_id), start, PAGE_SIZE)
        )


def _numeric(identifier):
    # Jira's permission check takes project ids as JSON numbers.
    text = str(identifier)
    return int(text) if text.isdigit() else text


def _flag(value):
    return "true" if value else "false"


def _all_values(fetch_page):
    """Concatenate the `values` of a JSM paged resource, fetching pages until the last."""
    values = []
    start = 0
    while True:
        page = fetch_page(start) or {}
        batch = page.get("values", [])
        values += batch
        if page.get("isLastPage", True) or not batch:
            return values
        start += len(batch)
