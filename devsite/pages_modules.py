"""App modules on the site's pages: which ones show, and the signed iframe each one gets.

A module shows when its app is installed and enabled and its `conditions` hold for the viewer
and the page. Its URL, relative to the app's baseUrl, gets the page's context variables
substituted, then the context parameters and a `jwt` appended by `sign_app_url`.
"""

import json
import logging
import re
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode, urlsplit, parse_qs

from .connect_auth import sign_app_url
from .state import site

log = logging.getLogger(__name__)

URL_VARIABLE = re.compile(r"\{([A-Za-z0-9_.]+)\}")
GLANCE_STATUS_PROPERTY = "com.atlassian.jira.issue:{app}:{module}:status"
ADMIN_CONDITIONS = {"user_is_admin", "user_is_sysadmin", "user_is_project_admin"}
AGENT_APPLICATIONS = {"jira-servicedesk", "jira-software", "jira-core"}


@dataclass
class PageContext:
    """Subject of a page: the viewer, and the issue, service desk or project it shows."""

    viewer: object = None
    issue: object = None
    desk: object = None
    request_type_id: str = None
    page_name: str = None  # portal page name, as in the `pages` list of portal modules
    _frames: int = field(default=0)

    def __post_init__(self):
        if self.issue is not None:
            self.desk = self.desk or site.service_desks.get(self.issue.service_desk_id)
            self.request_type_id = self.request_type_id or self.issue.request_type_id

    @property
    def account_id(self):
        return self.viewer.account_id if self.viewer else None

    def next_frame_number(self):
        self._frames += 1
        return self._frames


@dataclass
class Frame:
    """One module's iframe, with everything the host page script needs to serve its all.js calls."""

    app_key: str
    module_key: str
    module_type: str
    title: str
    src: str
    origin: str
    channel: str
    frame_id: str
    context_json: str
    token_query: str
    height: str = None
    named: bool = False  # whether the descriptor gives the module a name to show above it
    icon: str = None
    label: str = None
    status: str = None


def active_apps():
    return [app for app in site.apps.values() if app.installed and app.enabled]


def module_name(module):
    name = module.get("name")
    if isinstance(name, dict):
        return name.get("value") or module.get("key", "")
    return name or module.get("key", "")


# -- conditions ------------------------------------------------------------------------------

def conditions_hold(conditions, page):
    """True when every condition holds (a top-level list is an implicit "and")."""
    if isinstance(conditions, dict):
        conditions = [conditions]
    return all(_holds(condition, page) for condition in conditions or [])


def _holds(condition, page):
    if "conditions" in condition:
        results = [_holds(inner, page) for inner in condition.get("conditions") or []]
        result = any(results) if str(condition.get("type", "and")).lower() == "or" else all(results)
    else:
        result = _single_holds(condition.get("condition"), condition.get("params") or {}, page)
    return not result if condition.get("invert") else result


def _single_holds(name, params, page):
    account_id = page.account_id
    if name == "user_is_logged_in":
        return account_id is not None
    if name in ADMIN_CONDITIONS:
        return account_id is not None and site.is_admin(account_id)
    if name == "can_use_application":
        return params.get("applicationKey") in AGENT_APPLICATIONS and site.is_agent(account_id)
    if name == "is_issue_reported_by_current_user":
        return page.issue is not None and account_id is not None and page.issue.reporter == account_id
    if name in ("has_issue_permission", "has_project_permission"):
        project_key = page.desk.project_key if page.desk else None
        return account_id is not None and params.get("permission") in site.permissions(account_id, project_key)
    if name in ("entity_property_equal_to", "entity_property_exists"):
        found, value = _entity_property(params, page)
        if name == "entity_property_exists":
            return found
        return found and _json_equals(value, str(params.get("value", "")))
    log.warning("Condition %r is not supported by the local site; the module is hidden", name)
    return False


def _entity_property(params, page):
    """(found, value) of the property `propertyKey` (and `objectName` path) of the entity."""
    if params.get("entity") != "issue" or page.issue is None:
        # NOTE: the site stores properties of issues only; other entities never match.
        return False, None
    properties = page.issue.properties
    if params.get("propertyKey") not in properties:
        return False, None
    value = properties[params["propertyKey"]]
    for step in filter(None, str(params.get("objectName") or "").split(".")):
        if not isinstance(value, dict) or step not in value:
            return False, None
        value = value[step]
    return True, value


def _json_equals(actual, expected):
    """Compare a stored JSON value with a condition's string `value`, as Connect does ("true" is true)."""
    if isinstance(actual, str) and actual == expected:
        return True
    try:
        parsed = json.loads(expected)
    except ValueError:
        return False
    if isinstance(actual, bool) or isinstance(parsed, bool):
        return isinstance(actual, bool) and isinstance(parsed, bool) and actual == parsed
    return actual == parsed


# -- URL variables and context ---------------------------------------------------------------

def url_variables(page):
    """Return the `{variable}` values of module URLs on this page, JSM names spelled as the switch says."""
    variables = {}
    desk, issue = page.desk, page.issue
    if desk is not None:
        variables.update({"project.key": desk.project_key, "project.id": desk.project_id})
    if issue is not None:
        variables.update({"issue.key": issue.key, "issue.id": issue.id})
        request_type = site.request_types.get(issue.request_type_id)
        if request_type is not None:
            variables["issuetype.id"] = request_type.issue_type_id
    jsm = {
        "request_key": issue.key if issue else None,
        "request_id": issue.id if issue else None,
        "desk_id": desk.id if desk else None,
        "request_type_id": page.request_type_id,
    }
    # NOTE: Atlassian's docs leave the JSM variable names uncertain, so the switch picks a spelling.
    if site.switches.get("jsm_context_params") == "request":
        names = {"request_key": "request.key", "request_id": "request.id",
                 "desk_id": "serviceDesk.id", "request_type_id": "requestType.id"}
    else:
        names = {"request_key": "servicedesk.requestKey", "request_id": "servicedesk.requestId",
                 "desk_id": "servicedesk.serviceDeskId", "request_type_id": "servicedesk.requestTypeId"}
    for field_name, variable in names.items():
        if jsm[field_name]:
            variables[variable] = jsm[field_name]
    return variables


def substitute(url, variables):
    """Replace each `{name}` in `url` by its URL-encoded value; unbound names become empty."""
    return URL_VARIABLE.sub(lambda match: quote(str(variables.get(match.group(1), "")), safe=""), url)


def product_context(page):
    """The product context of the page, as `AP.context.getContext()` returns it."""
    context = {}
    jira = {}
    if page.issue is not None:
        request_type = site.request_types.get(page.issue.request_type_id)
        jira["issue"] = {"key": page.issue.key, "id": page.issue.id,
                         "issuetype": {"id": request_type.issue_type_id if request_type else None}}
    if page.desk is not None:
        jira["project"] = {"key": page.desk.project_key, "id": page.desk.project_id}
    if jira:
        context["jira"] = jira
    if page.desk is not None:
        context["serviceDesk"] = {"id": page.desk.id}
    if page.issue is not None:
        context["request"] = {"key": page.issue.key, "id": page.issue.id}
        context["customerRequest"] = {"key": page.issue.key, "id": page.issue.id}
    if page.request_type_id:
        context["requestType"] = {"id": page.request_type_id}
    return context


def token_query(app, module_key, page):
    """Build the query of the context-token request that the host page makes for this frame."""
    params = {"app": app.key, "module": module_key}
    if page.issue is not None:
        params["issueKey"] = page.issue.key
    if page.desk is not None:
        params["serviceDeskId"] = page.desk.id
    if page.request_type_id:
        params["requestTypeId"] = page.request_type_id
    return urlencode(params)


# -- frames ----------------------------------------------------------------------------------

def build_frame(app, module, module_type, page, url, height=None):
    """Build the signed iframe of `module` for the viewer, or return None when its URL is unusable."""
    module_key = module.get("key")
    if not module_key or not isinstance(url, str) or not url:
        log.warning("Module %s of app %s has no key or url; it is not rendered", module_type, app.key)
        return None
    if not url.startswith("/"):
        # Connect module URLs are relative to the app's baseUrl; the bridge checks that origin.
        log.warning("Module %s of app %s has a URL not relative to baseUrl: %s", module_key, app.key, url)
        return None

    number = page.next_frame_number()
    channel = f"channel-{app.key}__{module_key}__{number}"
    context = product_context(page)
    src = sign_app_url(app, substitute(url, url_variables(page)), page.account_id,
                       context=context, channel=channel)
    # Read the channel back from the signed URL, in case the signer chose its own.
    channel = parse_qs(urlsplit(src).query).get("xdm_c", [channel])[0]
    base = urlsplit(app.base_url)
    return Frame(
        app_key=app.key, module_key=module_key, module_type=module_type, title=module_name(module),
        src=src, origin=f"{base.scheme}://{base.netloc}", channel=channel,
        frame_id=f"ap-frame-{number}", context_json=json.dumps(context),
        token_query=token_query(app, module_key, page), height=height, named=bool(module.get("name")),
    )


def frames(module_type, page, accept=None, default_height="200px"):
    """The frames of every active app's `module_type` modules that show on this page."""
    result = []
    for app in active_apps():
        modules = sorted(app.modules(module_type), key=lambda module: module.get("weight", 100))
        for module in modules:
            if not isinstance(module, dict) or (accept and not accept(module)):
                continue
            if not conditions_hold(module.get("conditions"), page):
                continue
            frame = build_frame(app, module, module_type, page, module.get("url"),
                                _layout_height(module) or default_height)
            if frame is not None:
                result.append(frame)
    return result


def glances(page):
    """The jiraIssueGlances of the issue page, with label, icon and status badge."""
    result = []
    for app in active_apps():
        for module in app.modules("jiraIssueGlances"):
            if not isinstance(module, dict) or not conditions_hold(module.get("conditions"), page):
                continue
            target = module.get("target") or {}
            frame = build_frame(app, module, "jiraIssueGlances", page, target.get("url"), "400px")
            if frame is None:
                continue
            label = ((module.get("content") or {}).get("label") or {}).get("value")
            frame.label = label or frame.title
            icon_url = (module.get("icon") or {}).get("url")
            if isinstance(icon_url, str) and icon_url.startswith("/"):
                frame.icon = app.base_url.rstrip("/") + icon_url
            frame.status = _glance_status(app, module, page)
            result.append(frame)
    return result


def _glance_status(app, module, page):
    key = GLANCE_STATUS_PROPERTY.format(app=app.key, module=module.get("key"))
    status = page.issue.properties.get(key) if page.issue is not None else None
    if not isinstance(status, dict) or not isinstance(status.get("value"), dict):
        return None
    label = status["value"].get("label")
    return str(label) if label is not None else None


def _layout_height(module):
    height = (module.get("layout") or {}).get("height")
    if isinstance(height, int):
        return f"{height}px"
    if isinstance(height, str) and re.fullmatch(r"\d+(px|%)?", height):
        return height if not height.isdigit() else height + "px"
    return None


def find_module(app_key, module_key, module_types):
    """(app, module, module type) of an active app's module among `module_types`, or None."""
    app = site.app(app_key)
    if app is None or not app.installed or not app.enabled:
        return None
    for module_type in module_types:
        for module in app.modules(module_type):
            if isinstance(module, dict) and module.get("key") == module_key:
                return app, module, module_type
    return None
