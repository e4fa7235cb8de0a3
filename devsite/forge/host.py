"""The local site as a Forge host, third part: pages that run the app's built Custom UI resources.

The portal, issue, project, project settings and admin pages in "Forge mode" embed each UI
module's `resource` (the folders `npm run build` writes into forge/static) in a sandboxed iframe,
as Jira does. They respond to the calls of the real @forge/bridge inside it:

* The iframe is served from another origin than the page (`localhost` for `127.0.0.1`, and the
  reverse), as Atlassian serves Custom UI from its CDN, with the Content-Security-Policy that the
  manifest implies: `connect-src` lists `permissions.external.fetch.client` (a `remote` entry
  becomes that remote's address), scripts and styles come from the resource itself.
  PUT /_devsite/forge/host/settings can leave the remotes out of connect-src, which blocks the
  chat's websocket.
* Before the resource's own scripts, index.html gets `iframe-bridge.js`, which defines
  `window.__bridge.callBridge(op, payload)` by posting messages to the host page, so that
  @forge/bridge runs unmodified. The host page (host.js) responds to `getContext` with the module's
  context, to `invoke` with `invokeType: "ui-remote-fetch"` (invokeRemote) through this server,
  and to `fetchRemote` (requestRemote) by calling the remote itself, from the page.
* A module runs for the kinds of user that it allows (licensed, customer, unlicensed, anonymous:
  users.py), so the portal page serves visitors who are not logged in too. The project page is
  for licensed users, the project settings page for the project's admins and the admin page for
  Jira admins, as Jira shows them.
* The host remembers the module and context of each iframe it issues, under the frame's id, and
  the page's calls name only that id: Forge sets a call's context itself, so a page cannot claim
  another request, issue or project.
* POST /_devsite/forge/host/invoke mints a FIT for the session's user and the frame's module and
  context (the signer's claims), adds the token headers that the module's endpoint asks for and calls the
  remote path with a 25 s limit. As Atlassian documents for invokeRemote: a non-2xx answer must
  carry a JSON body, redirects are refused, 401 means the remote could not verify the FIT, the
  request body is at most 500 KB and the response at most 5 MB.
* requestRemote is not proxied: Atlassian documents that it is not sent through the Forge platform,
  carries a FIT as bearer token but never an OAuth token, returns a fetch Response and does not
  stream. The page gets a FIT for the module from POST /_devsite/forge/host/remote-token and
  caches it until shortly before it expires, as Atlassian documents ("FIT tokens are cached"),
  then rebuilds the multipart body from the bridge's JSON (files as base64 data URLs) and calls the
  remote with fetch, so the remote must send CORS headers for the site's origin.

Atlassian does not publish its host page, so the message format between the iframe and the page
is ours; only `callBridge`'s operations and payloads follow @forge/bridge.
"""

import json
import logging
import secrets
import uuid
from collections import OrderedDict
from pathlib import Path
from urllib.parse import urlsplit

import requests
from flask import Blueprint, Response, abort, jsonify, render_template, request, send_from_directory

from ..pages_common import current_viewer
from ..state import SiteError, site
from . import events, signer, users
from .manifest import ManifestError, parse_yaml

log = logging.getLogger(__name__)

bp = Blueprint("forge_pages", __name__, url_prefix="/_devsite/forge", template_folder="templates",
               static_folder="static", static_url_path="/host-static")

INVOKE_TIMEOUT_SECS = 25
MAX_REQUEST_BYTES = 500 * 1024
MAX_RESPONSE_BYTES = 5 * 1024 * 1024
UNVERIFIED_TOKEN = "Remote could not verify the Forge Invocation Token"
INVALID_RESPONSE = "Invalid response from remote"

PORTAL_FOOTER = "jiraServiceManagement:portalFooter"
PORTAL_REQUEST = "jiraServiceManagement:portalRequestDetail"
ISSUE_PANEL = "jira:issuePanel"
PROJECT_PAGE = "jira:projectPage"
PROJECT_SETTINGS = "jira:projectSettingsPage"
ADMIN_PAGE = "jira:adminPage"
SITE_LOCALE = "fr_FR"
# The frames whose context the host remembers, newest kept; an older frame's calls are rejected.
MAX_FRAMES = 500


class HostError(SiteError):
    """A host page or call that the site rejects, with its HTTP status."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


@bp.errorhandler(SiteError)
def site_error(error):
    return jsonify({"error": str(error)}), error.status


@bp.errorhandler(ManifestError)
def manifest_error(error):
    return jsonify({"error": str(error)}), 400


def _manifest_data(manifest):
    # The routing Manifest keeps no resources nor permissions, so the file is read again.
    return parse_yaml(Path(manifest.source).read_text(encoding="utf-8"), manifest.source)


# -- pages ----------------------------------------------------------------------------------------

@bp.get("/host/portal")
def portal_page():
    """The portal in Forge mode: the footer launcher, and the request's panel when `request` names one.

    Anyone may open it, logged in or not. Each module runs only for the kinds of user that it
    allows (devsite/forge/users.py). Jira shows nothing of a module that the visitor may not run,
    so the page names the modules left out, and why, in hidden elements for developers and tests.
    """
    app = _installed_app()
    viewer = current_viewer()
    kind = users.kind_of(viewer)
    placements = []
    request_key = request.args.get("request", "").upper()
    if request_key:
        if viewer is None:
            raise HostError(f"Log in first (/login?as=<accountId>): the portal shows request {request_key} "
                            "to logged-in users only.", status=401)
        issue = _visible_issue(viewer, request_key)
        placements.append((PORTAL_REQUEST, {
            "type": PORTAL_REQUEST, "request": {"key": issue.key, "typeId": str(issue.request_type_id or "")},
            "portal": {"id": "1"}}))
    placements.append((PORTAL_FOOTER, {"type": PORTAL_FOOTER, "portal": {"id": "1"}}))

    frames, left_out = [], []
    for module_type, extension in placements:
        module = _module_of(app, module_type)
        if users.may_run(module_type, module, kind):
            frames.append(_frame(module, module_type, viewer, extension))
        else:
            left_out.append({"module_key": module.get("key"), "module_type": module_type,
                             "reason": users.exclusion_reason(module_type, module, kind)})
    name = viewer.display_name if viewer is not None else "visiteur anonyme"
    return _host_page(f"Portail (Forge) · {name}", frames, left_out)


@bp.get("/host/issue/<key>")
def issue_page(key):
    """The issue view in Forge mode, with the issue panel of the chat, for agents (licensed users)."""
    viewer, app = _viewer_and_app()
    if users.kind_of(viewer) != users.LICENSED:
        raise HostError(f"{viewer.display_name} has no JSM licence: the issue view is for agents. Use the "
                        "portal page, /_devsite/forge/host/portal.", status=403)
    issue = _visible_issue(viewer, key.upper())
    project_key = issue.key.rsplit("-", 1)[0]
    frame = _frame(_module_of(app, ISSUE_PANEL), ISSUE_PANEL, viewer, {
        "type": ISSUE_PANEL, "issue": {"key": issue.key, "id": str(issue.id), "type": "Service Request"},
        "project": {"key": project_key, "id": project_key, "type": "service_desk"}})
    return _host_page(f"{issue.key} (Forge) · {viewer.display_name}", [frame])


@bp.get("/host/project/<key>")
def project_page(key):
    """Serve the project page of a service project in Forge mode (the agents' dashboard) to licensed users."""
    viewer, app = _viewer_and_app()
    desk = _licensed_project(viewer, key.upper())
    frame = _frame(_module_of(app, PROJECT_PAGE), PROJECT_PAGE, viewer, {
        "type": PROJECT_PAGE, "project": _project_context(desk)})
    return _host_page(f"{desk.project_key} (Forge) · {viewer.display_name}", [frame])


@bp.get("/host/project/<key>/settings")
def project_settings_page(key):
    """Serve the project settings page in Forge mode to the project's admins.

    Jira shows project settings, and so the jira:projectSettingsPage module, only to users with
    the Administer projects permission on the project.
    """
    viewer, app = _viewer_and_app()
    desk = _licensed_project(viewer, key.upper())
    if "ADMINISTER_PROJECTS" not in site.permissions(viewer.account_id, desk.project_key):
        raise HostError(f"{viewer.display_name} does not administer project {desk.project_key}: its settings "
                        "are for project admins.", status=403)
    frame = _frame(_module_of(app, PROJECT_SETTINGS), PROJECT_SETTINGS, viewer, {
        "type": PROJECT_SETTINGS, "project": _project_context(desk)})
    return _host_page(f"{desk.project_key} · paramètres (Forge) · {viewer.display_name}", [frame])


@bp.get("/host/admin")
def admin_page():
    """Serve the app's Jira administration page in Forge mode to Jira admins only, as Jira does."""
    viewer, app = _viewer_and_app()
    if not site.is_admin(viewer.account_id):
        raise HostError(f"{viewer.display_name} is not a Jira admin: the apps' administration pages are for "
                        "Jira admins.", status=403)
    frame = _frame(_module_of(app, ADMIN_PAGE), ADMIN_PAGE, viewer, {"type": ADMIN_PAGE})
    return _host_page(f"Administration (Forge) · {viewer.display_name}", [frame])


def _licensed_project(viewer, key):
    """Return the service desk of project `key`, for a licensed user who may browse it; else raise."""
    if users.kind_of(viewer) != users.LICENSED:
        raise HostError(f"{viewer.display_name} has no JSM licence: project pages are for agents. Use the "
                        "portal page, /_devsite/forge/host/portal.", status=403)
    desk = next((desk for desk in site.service_desks.values() if desk.project_key == key), None)
    if desk is None or "BROWSE_PROJECTS" not in site.permissions(viewer.account_id, key):
        raise HostError(f"Project {key} does not exist or you do not have permission to see it.", status=404)
    return desk


def _project_context(desk):
    return {"key": desk.project_key, "id": str(desk.project_id), "type": "service_desk"}


def _installed_app():
    app = events.state.app
    if app is None or not app.get("installed"):
        raise HostError("No Forge app is installed on the site; POST /_devsite/forge/app/install first.",
                        status=409)
    return app


def _viewer_and_app():
    """Return the logged-in user and the installed app, for the routes that need a user."""
    app = _installed_app()
    viewer = current_viewer()
    if viewer is None:
        raise HostError("Log in first (/login?as=<accountId>): this Forge host route serves logged-in users.",
                        status=401)
    return viewer, app


def _visible_issue(viewer, key):
    issue = site.issues.get(key)
    if issue is None or not site.can_view(viewer.account_id, issue):
        raise HostError(f"Issue {key} does not exist or you do not have permission to see it.", status=404)
    return issue


def _module_caller(manifest, module_type, module_key):
    """Return (accountId, kind) of the session's user when they may run the module, else raise.

    The accountId is the one Forge puts in the FIT's `principal`: `unidentified` for a visitor
    who is not logged in.
    """
    viewer = current_viewer()
    kind = users.kind_of(viewer)
    module = next(entry for entry in manifest.modules[module_type]
                  if isinstance(entry, dict) and entry.get("key") == module_key)
    if not users.may_run(module_type, module, kind):
        reason = users.exclusion_reason(module_type, module, kind)
        if viewer is None:
            raise HostError(f"Log in first (/login?as=<accountId>). {reason}", status=401)
        raise HostError(reason, status=403)
    return users.account_id_of(viewer), kind


def _module_of(app, module_type):
    """Return the manifest entry of the first module of `module_type`."""
    entries = app["manifest"].modules.get(module_type) or []
    if not entries:
        raise HostError(f"The manifest has no {module_type} module.", status=409)
    return entries[0]


def _frame(module, module_type, viewer, extension):
    """The iframe of `module` for `viewer` (None when not logged in), with the context getContext returns."""
    context = {
        "accountId": users.account_id_of(viewer),
        "cloudId": site.cloud_id,
        "siteUrl": site.base_url,
        "moduleKey": module["key"],
        "localId": str(uuid.uuid4()),
        # A visitor who is not logged in gets the site's default language (defaultLocale in the REST API).
        "locale": (viewer.locale if viewer is not None else None) or SITE_LOCALE,
        "timezone": "Europe/Paris",
        "environmentType": "PRODUCTION",
        "extension": extension,
    }
    frame_id = secrets.token_hex(8)
    origin = _other_origin()
    src = f"{origin}{bp.url_prefix}/resources/{module['resource']}/index.html?frame={frame_id}"
    frame = {"id": frame_id, "src": src, "origin": origin, "module_key": module["key"], "module_type": module_type,
             "context": context}
    _remember_frame(frame)
    return frame


def _remember_frame(frame):
    """Keep the frame's module and context, which its invokeRemote and requestRemote calls then carry.

    Forge sets the context of a module's calls itself, so the calls name their frame only and the
    extension (request, issue, project) comes from here, never from the page.
    """
    app = _installed_app()
    with events.state.condition:
        frames = app.setdefault("frames", OrderedDict())
        frames[frame["id"]] = {"module_key": frame["module_key"], "module_type": frame["module_type"],
                               "context": frame["context"]}
        while len(frames) > MAX_FRAMES:
            frames.popitem(last=False)


def _frame_of_call(app, call):
    """Return the remembered frame that a host call names (`frame`) and the caller's (accountId, kind).

    Raises unless the session's user may run the frame's module and is the user the frame was
    opened for.
    """
    frame_id = call.get("frame")
    with events.state.condition:
        frame = (app.get("frames") or {}).get(frame_id) if isinstance(frame_id, str) else None
    if frame is None:
        raise HostError(f"The frame {str(frame_id)[:40]!r} is unknown to this host (the app was installed again, "
                        "or the page is too old); reload the page.")
    account_id, kind = _module_caller(app["manifest"], frame["module_type"], frame["module_key"])
    if frame["context"]["accountId"] != account_id:
        raise HostError("The frame was opened for another user; reload the page.", status=403)
    return frame, account_id, kind


def _host_page(title, frames, left_out=()):
    public = [{key: frame[key] for key in ("id", "src", "origin", "module_key", "module_type", "context")}
              for frame in frames]
    return render_template("forge_host.html", title=title, frames=public, left_out=list(left_out))


# -- host settings --------------------------------------------------------------------------------

DEFAULT_HOST_SETTINGS = {"remotes_in_connect_src": True}


@bp.put("/host/settings")
def put_host_settings():
    """Change the host pages' settings until the app is installed again or the site is reset.

    JSON body: `remotes_in_connect_src` (true by default). False leaves the remotes' addresses out
    of the resources' connect-src, as when a manifest's permissions.external.fetch.client does not
    list them: the page cannot open the chat's websocket and reaches the remote through invokeRemote only.
    """
    app = _installed_app()
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or set(body) - set(DEFAULT_HOST_SETTINGS):
        raise HostError(f"The body must be a JSON object with some of: {', '.join(DEFAULT_HOST_SETTINGS)}.")
    if not all(isinstance(value, bool) for value in body.values()):
        raise HostError("Each host setting is true or false.")
    with events.state.condition:
        app["host_settings"] = {**_host_settings(app), **body}
    log.info("Forge host settings: %s", app["host_settings"])
    return jsonify(app["host_settings"])


@bp.get("/host/settings")
def get_host_settings():
    return jsonify(_host_settings(_installed_app()))


def _host_settings(app):
    return {**DEFAULT_HOST_SETTINGS, **(app.get("host_settings") or {})}


# -- resources ------------------------------------------------------------------------------------

@bp.get("/resources/<resource_key>/<path:filename>")
def resource(resource_key, filename):
    """A file of a built Custom UI resource, with the CSP of the manifest, from the resource origin."""
    app = events.state.app
    if app is None:
        abort(404)
    manifest = app["manifest"]
    folder = Path(manifest.source).parent / _resource_path(manifest, resource_key)
    if not (folder / "index.html").is_file():
        raise HostError(f"The resource {resource_key!r} is not built: run `npm ci --ignore-scripts && "
                        "npm run build` in forge/.", status=404)
    if filename == "index.html":
        html = (folder / "index.html").read_text(encoding="utf-8")
        bridge = f'<script src="{bp.url_prefix}/host-static/iframe-bridge.js"></script>'
        html = html.replace("<head>", "<head>\n  " + bridge, 1)
        response = Response(html, mimetype="text/html")
    else:
        response = send_from_directory(folder, filename, max_age=0)
    response.headers["Content-Security-Policy"] = _csp(manifest, _host_settings(app))
    response.headers["Cache-Control"] = "no-store"
    return response


def _resource_path(manifest, resource_key):
    for entry in _manifest_data(manifest).get("resources") or []:
        if isinstance(entry, dict) and entry.get("key") == resource_key:
            return entry["path"]
    raise HostError(f"The manifest has no resource {resource_key!r}.", status=404)


def _csp(manifest, settings):
    """Return the resource's CSP: connect-src from permissions.external.fetch.client, the rest 'self'.

    With the host setting `remotes_in_connect_src` off, the sources on a remote's host are left
    out, so the page cannot open the remote's websocket. Chromium lets an http:// source allow
    ws:// on the same host, so the remote's own origin goes too.
    """
    permissions = _manifest_data(manifest).get("permissions") or {}
    external = permissions.get("external") if isinstance(permissions.get("external"), dict) else {}
    fetch = external.get("fetch") if isinstance(external.get("fetch"), dict) else {}
    sources = []
    for entry in fetch.get("client") or []:
        if isinstance(entry, dict) and entry.get("remote"):
            sources.append(_origin_of(manifest.remote_base_url(entry["remote"])))
        elif isinstance(entry, dict) and entry.get("address"):
            sources.append(_local_address(manifest, entry["address"]))
        elif isinstance(entry, str):
            sources.append(entry)
    if not settings["remotes_in_connect_src"]:
        remote_hosts = {urlsplit(url).netloc for url in manifest.remote_urls.values()}
        sources = [source for source in sources if urlsplit(source).netloc not in remote_hosts]
    connect = " ".join(["'self'"] + sources)
    return (f"default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
            f"font-src 'self' data:; connect-src {connect}; frame-ancestors {_other_origin()}")


def _local_address(manifest, address):
    """Return `address`, or its loopback stand-in when it is on the host of an overridden remote.

    The manifest lists the remote's public wss:// address beside the remote; the local site calls
    the remote on loopback instead, so the same entry becomes ws(s):// on the override's host.
    """
    parts = urlsplit(address)
    for key, remote in manifest.remotes.items():
        if key not in manifest.remote_urls:
            continue
        base_url = remote.get("baseUrl")
        declared = base_url.values() if isinstance(base_url, dict) else [base_url]
        if any(isinstance(url, str) and urlsplit(url).hostname == parts.hostname for url in declared):
            local = urlsplit(manifest.remote_urls[key])
            scheme = "wss" if local.scheme == "https" else "ws"
            return f"{scheme}://{local.netloc}"
    return address


def _origin_of(url):
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _swapped_host(netloc):
    host, _, port = netloc.partition(":")
    other = "localhost" if host == "127.0.0.1" else "127.0.0.1"
    return other + (f":{port}" if port else "")


def _other_origin():
    # The page is on one loopback name and its resources on the other, so from a page this is the
    # resources' origin, and from a resource the page's.
    parts = urlsplit(request.host_url)
    return f"{parts.scheme}://{_swapped_host(parts.netloc)}"


# -- requestRemote --------------------------------------------------------------------------------

@bp.post("/host/remote-token")
def remote_token():
    """Mint the FIT that the page sends with a module's requestRemote calls, and the remote's address.

    JSON body: `frame` (the id the host page gave the module's iframe) and `remote_key`. Returns
    {token, expires_at, base_url}. Unlike invokeRemote, no `x-forge-oauth-*` token goes with it.
    The session's user must be the frame's and one the module allows, as for invokeRemote.
    """
    app = _installed_app()
    call = request.get_json(silent=True)
    if not isinstance(call, dict):
        raise HostError("The body must be a JSON object with frame and remote_key.")
    manifest = app["manifest"]
    remote_key = call.get("remote_key")
    if not isinstance(remote_key, str) or remote_key not in manifest.remotes:
        raise HostError(f"The manifest has no remote {str(remote_key)[:40]!r}; requestRemote names a key of "
                        "its `remotes`.")
    frame, account_id, _kind = _frame_of_call(app, call)
    module_type = frame["module_type"]

    claims = signer.fit_claims(app["app_id"], "ui", {
        "installation_id": app["installation_id"],
        "module": {"type": module_type, "key": frame["module_key"]},
        "principal": account_id,
        "extension": frame["context"]["extension"],
    })
    log.debug("requestRemote token for %s in module %s", account_id, frame["module_key"])
    return jsonify({"token": signer.sign(claims), "expires_at": claims["exp"],
                    "base_url": manifest.remote_base_url(remote_key)})


# -- invokeRemote ---------------------------------------------------------------------------------

@bp.post("/host/invoke")
def invoke():
    """Run one invokeRemote call of a module for the user of the session; answer as the bridge resolves.

    JSON body: `frame` (the id the host page gave the module's iframe), and the invokeRemote
    input `path`, `method`, `headers`, `body`. The module and its context (`extension`) are the
    frame's, as the host remembered them. Answers {"success": true, "payload": {status, headers,
    body}} for a 2xx, {"success": false, "error": {status, headers, body}} for another JSON answer,
    and {"rejected": message} when the bridge's promise would reject.
    """
    app = _installed_app()
    call = request.get_json(silent=True)
    if not isinstance(call, dict) or not isinstance(call.get("path"), str) or not call["path"].startswith("/"):
        raise HostError("The body must be a JSON object with frame and a path starting with '/'.")
    method = str(call.get("method") or "GET").upper()
    manifest = app["manifest"]
    frame, account_id, kind = _frame_of_call(app, call)
    route = manifest.ui_route(frame["module_key"], call["path"])
    payload = call.get("body")
    encoded = json.dumps(payload).encode("utf-8") if payload is not None else None
    if encoded is not None and len(encoded) > MAX_REQUEST_BYTES:
        return jsonify({"rejected": f"The request body is larger than {MAX_REQUEST_BYTES} bytes."})

    claims = signer.fit_claims(app["app_id"], "ui", {
        "installation_id": app["installation_id"],
        "module": {"type": route.module_type, "key": route.module_key},
        "principal": account_id,
        "extension": frame["context"]["extension"],
    })
    headers = {key: str(value) for key, value in (call.get("headers") or {}).items()
               if isinstance(key, str) and key.lower() not in ("authorization", "x-forge-oauth-system",
                                                                 "x-forge-oauth-user")}
    headers.update({"Authorization": f"Bearer {signer.sign(claims)}", "x-b3-traceid": secrets.token_hex(8),
                    "x-b3-spanid": secrets.token_hex(8)})
    if route.system_token:
        headers["x-forge-oauth-system"] = signer.oauth_token(app["installation_id"], "system", None)
    if route.user_token and users.gets_user_token(kind):
        headers["x-forge-oauth-user"] = signer.oauth_token(app["installation_id"], "user", account_id)
    if encoded is not None:
        headers["Content-Type"] = "application/json"

    try:
        response = requests.request(method, route.url, data=encoded, headers=headers,
                                    timeout=INVOKE_TIMEOUT_SECS, allow_redirects=False)
    except requests.Timeout:
        log.info("invokeRemote %s %s for %s timed out after %s s", method, route.url, account_id,
                 INVOKE_TIMEOUT_SECS)
        return jsonify({"rejected": f"The remote timed out: no response within {INVOKE_TIMEOUT_SECS} s."})
    except requests.RequestException as error:
        log.info("invokeRemote %s %s for %s failed: %s", method, route.url, account_id, type(error).__name__)
        return jsonify({"rejected": f"The remote could not be reached: {type(error).__name__}."})
    log.debug("invokeRemote %s %s for %s: %s", method, route.url, account_id, response.status_code)
    return jsonify(_bridge_answer(response))


def _bridge_answer(response):
    if len(response.content) > MAX_RESPONSE_BYTES:
        return {"rejected": f"The remote's response is larger than {MAX_RESPONSE_BYTES} bytes."}
    if 300 <= response.status_code < 400:
        return {"rejected": INVALID_RESPONSE}
    content_type = response.headers.get("Content-Type", "")
    body = None
    if response.content:
        if content_type and not content_type.startswith("application/json"):
            return {"rejected": INVALID_RESPONSE}
        try:
            body = response.json()
        except ValueError:
            return {"rejected": INVALID_RESPONSE}
    answer = {"status": response.status_code, "headers": dict(response.headers), "body": body}
    if 200 <= response.status_code < 300:
        return {"success": True, "payload": answer}
    if response.status_code == 401:
        answer["message"] = UNVERIFIED_TOKEN
    if body is None:
        return {"rejected": INVALID_RESPONSE}
    return {"success": False, "error": answer}
