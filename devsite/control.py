"""The control API of the local site (/_devsite/...): no authentication, loopback only, JSON.

Tests and developers drive the site through it: reset, install apps, change a user's language,
inject faults, flip switches, act as a person (comment, transition), renumber workflow transitions,
change the knowledge base's articles and read the logs of calls and webhooks.
"""

import datetime
import logging
import re

from flask import Blueprint, Response, jsonify, request

from . import connect_auth, faults, lifecycle, seed, webhooks
from .forge import events as forge_events
from .seed import STATUSES
from .state import NotFound, SiteError, site

log = logging.getLogger(__name__)

bp = Blueprint("control", __name__, url_prefix="/_devsite")

SWITCH_VALUES = {
    "impersonate_customers": (True, False),
    "webhook_comment_body": ("v2", "adf"),
    "jsm_context_params": ("servicedesk", "request"),
}


@bp.errorhandler(SiteError)
def site_error(error):
    return jsonify({"error": str(error)}), error.status


def _json_body():
    body = request.get_json(silent=True)
    if body is None:
        raise SiteError("The request body must be JSON.")
    return body


def _plain(value):
    """Convert record fields to JSON-ready values (datetimes as ISO 8601)."""
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def raw_comment(comment):
    return _plain(comment.to_dict())


def raw_issue(issue):
    body = _plain(issue.to_dict())
    body["project_key"] = issue.project_key
    return body


@bp.get("/health")
def health():
    return jsonify({"ok": True})


@bp.post("/reset")
def reset():
    site.reset()
    webhooks.reset()
    forge_events.reset()
    log.info("Site reset to its seed data")
    return jsonify({"ok": True})


# -- apps ----------------------------------------------------------------------------------

@bp.post("/apps/install")
def install():
    descriptor_url = _json_body().get("descriptor_url")
    if not descriptor_url:
        raise SiteError("descriptor_url is required.")
    return jsonify(lifecycle.install(descriptor_url))


@bp.post("/apps/<app_key>/uninstall")
def uninstall(app_key):
    return jsonify(lifecycle.uninstall(app_key))


@bp.post("/apps/<app_key>/enable")
def enable(app_key):
    return jsonify(lifecycle.set_enabled(app_key, True))


@bp.post("/apps/<app_key>/disable")
def disable(app_key):
    return jsonify(lifecycle.set_enabled(app_key, False))


@bp.get("/apps")
def list_apps():
    # The sharedSecret stays inside the site: the app receives it in its installed callback.
    return jsonify([{"key": a.key, "base_url": a.base_url, "client_key": a.client_key,
                     "enabled": a.enabled, "installed": a.installed, "account_id": a.account_id,
                     "descriptor_url": a.descriptor_url} for a in site.apps.values()])


@bp.get("/install-keys/<kid>")
def install_key(kid):
    pem = connect_auth.install_key_pem(kid)
    if pem is None:
        return Response(f"No install key with kid {kid!r}.\n", status=404, mimetype="text/plain")
    return Response(pem, mimetype="text/plain")


# -- users ---------------------------------------------------------------------------------

@bp.patch("/users/<account_id>")
def update_user(account_id):
    """Change a seed user's language (`locale`, e.g. en_US), as they would in their Jira profile."""
    body = _json_body()
    if not isinstance(body, dict):
        raise SiteError('The body must be a JSON object such as {"locale": "en_US"}.')
    unknown = sorted(set(body) - {"locale"})
    if unknown:
        raise SiteError(f"User fields {unknown} cannot be changed here; only locale can.")
    locale = change_locale(account_id, body.get("locale"))
    return jsonify({"account_id": account_id, "locale": locale})


def change_locale(account_id, locale):
    """Set a seed user's Jira locale (e.g. en_US) and return it; the login page calls it too."""
    if not isinstance(locale, str) or not re.fullmatch(r"[a-z]{2}_[A-Z]{2}", locale):
        raise SiteError(f"Locale {locale!r} is invalid; write it as Jira does, e.g. en_US or fr_FR.")
    with site.lock:
        user = site.users.get(account_id)
        if user is None:
            raise NotFound(f"No user has accountId {account_id!r}.")
        user.locale = locale
    return locale


# -- faults and switches -------------------------------------------------------------------

@bp.put("/faults")
def set_faults():
    rules = faults.parse_rules(_json_body())
    with site.lock:
        site.faults = rules
    return jsonify([faults.public_rule(r) for r in rules])


@bp.delete("/faults")
def clear_faults():
    with site.lock:
        site.faults = []
    return jsonify([])


@bp.get("/faults")
def list_faults():
    return jsonify([faults.public_rule(r) for r in site.faults])


@bp.put("/switches")
def set_switches():
    body = _json_body()
    for name, value in body.items():
        if name not in SWITCH_VALUES:
            raise SiteError(f"Switch {name!r} is unknown; use one of {sorted(SWITCH_VALUES)}.")
        if value not in SWITCH_VALUES[name]:
            raise SiteError(f"Switch {name} accepts {list(SWITCH_VALUES[name])}, not {value!r}.")
    with site.lock:
        site.switches.update(body)
    return jsonify(site.switches)


@bp.get("/switches")
def get_switches():
    return jsonify(site.switches)


# -- logs ----------------------------------------------------------------------------------

@bp.get("/requests")
def request_log():
    with site.lock:
        return jsonify(list(site.request_log))


@bp.get("/webhooks")
def webhook_log():
    with site.lock:
        return jsonify(list(site.webhook_log))


@bp.get("/notifications")
def notifications():
    with site.lock:
        return jsonify(list(site.notifications))


# -- acting as a person --------------------------------------------------------------------

@bp.post("/actions/comment")
def act_comment():
    body = _json_body()
    comment = site.add_comment(body.get("issue_key", ""), body.get("author_account_id", ""),
                               body.get("body", ""), bool(body.get("public", True)),
                               body.get("properties"), via="ui")
    return jsonify(raw_comment(comment)), 201


@bp.put("/actions/comment/<issue_key>/<comment_id>")
def act_edit_comment(issue_key, comment_id):
    body = _json_body()
    comment = site.update_comment(issue_key, comment_id, body.get("actor_account_id", ""), body.get("body", ""))
    return jsonify(raw_comment(comment))


@bp.delete("/actions/comment/<issue_key>/<comment_id>")
def act_delete_comment(issue_key, comment_id):
    actor = request.args.get("actor_account_id", "")
    site.delete_comment(issue_key, comment_id, actor)
    return "", 204


@bp.post("/actions/transition")
def act_transition():
    body = _json_body()
    issue = site.transition(body.get("issue_key", ""), body.get("actor_account_id", ""),
                            body.get("to_status", ""), body.get("resolution"))
    return jsonify(raw_issue(issue))


@bp.post("/actions/request")
def act_request():
    body = _json_body()
    issue = site.create_request(body.get("service_desk_id", "1"), body.get("request_type_id", "10"),
                                body.get("reporter_account_id", ""), body.get("summary", ""),
                                body.get("description", ""), channel=body.get("channel", "portal"),
                                participants=body.get("participants", []),
                                organizations=body.get("organizations", []))
    return jsonify(raw_issue(issue)), 201


@bp.get("/issues/<key>")
def get_issue(key):
    with site.lock:
        return jsonify(raw_issue(site.issue(key)))


@bp.get("/statuses")
def statuses():
    return jsonify(list(STATUSES))


@bp.get("/workflow")
def get_workflow():
    """Return the statuses (name, id, category) and the transitions of the site's workflow."""
    with site.lock:
        transitions = [{"id": t.id, "name": t.name, "from": list(t.sources), "to": t.target,
                        "required_fields": list(t.required_fields), "sets_resolution": t.sets_resolution}
                       for t in site.workflow]
    return jsonify({"statuses": [{"name": name, "id": status_id, "category": category}
                                 for name, (status_id, category) in STATUSES.items()],
                    "transitions": transitions})


@bp.post("/workflow/transition-ids")
def renumber_transitions():
    """Give transitions other ids, as on another site: {"41": "741"} renumbers transition 41."""
    body = _json_body()
    if not isinstance(body, dict) or not all(isinstance(v, (str, int)) for v in body.values()):
        raise SiteError('The body must map old transition ids to new ones, e.g. {"41": "741"}.')
    site.renumber_transitions({str(old): str(new) for old, new in body.items()})
    return get_workflow()


# -- the knowledge base of the service desk (searched by rest_servicedesk.py) ---------------

def _kb_article(entry):
    if not isinstance(entry, dict):
        raise SiteError('Each article is an object {"pageId", "title", "body", "spaceKey"}.')
    page_id, title = str(entry.get("pageId") or "").strip(), str(entry.get("title") or "").strip()
    if not page_id or not title:
        raise SiteError("Each article needs a pageId and a title.")
    return page_id, {"title": title, "body": str(entry.get("body") or ""),
                     "space_key": str(entry.get("spaceKey") or seed.KB_SPACE_KEY)}


@bp.get("/kb/articles")
def list_kb_articles():
    with site.lock:
        articles = sorted(site.kb_articles.items())
    return jsonify([{"pageId": page_id, "title": a["title"], "body": a["body"], "spaceKey": a["space_key"]}
                    for page_id, a in articles])


@bp.post("/kb/articles")
def add_kb_articles():
    """Add or replace knowledge-base articles: one object or a list of {"pageId", "title", "body"}."""
    body = _json_body()
    articles = dict(_kb_article(entry) for entry in (body if isinstance(body, list) else [body]))
    with site.lock:
        site.kb_articles.update(articles)
    return list_kb_articles()


@bp.delete("/kb/articles/<page_id>")
def delete_kb_article(page_id):
    with site.lock:
        if site.kb_articles.pop(page_id, None) is None:
            raise NotFound(f"Knowledge-base article {page_id!r} does not exist.")
    return "", 204
