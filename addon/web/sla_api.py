"""The SLA settings of a site for support leads: the business calendar, the policy of each
subscription tier, the priority of each impact and the statuses that wait for the customer.

Routes under /api/admin/sla, called by the settings page's script (static/admin/sla-settings.js)
with a context token, for project or Jira administrators only. A change is validated as a whole
before anything is stored. It is then stored in one transaction with one audit entry per changed
setting, and the deadlines of the site's open chats are recomputed.

Errors are JSON `{"error": {"code", "message", "field", "reason", "params"}}`. `field` is the
path of the invalid value when it is known (`calendar.hours.mon[1]`, `policies.premium`), so the
screen can show the message next to it. The message is in the language of `?lang=fr|en`, except
the calendar details that addon.sla.calendar writes in English only. For those, `reason` and
`params` (`"bad_time"`, `{"value": "25:00", "role": "end"}`) let the screen word the error in its
own language.
"""

import json
import logging
import unicodedata
from collections import defaultdict
from functools import lru_cache

import holidays
from babel import Locale
from flask import Blueprint, g, jsonify, request
from flask_babel import get_locale, gettext
from sqlalchemy import select

from ..access.admin_auth import require_admin
from ..access.models import Subscription
from ..access.subscriptions import audit
from ..atlassian.auth import require_jwt
from ..chat.actions import database
from ..chat.models import Impact
from ..errors import AddonError, InvalidInput
from ..settings import get_settings, put_setting
from ..sla.calendar import BusinessCalendar, CalendarError
from ..sla.clock import recompute_site
from ..sla.policy import (
    DEFAULT_TIER,
    SlaSettingsError,
    validate_impact_priorities,
    validate_policies,
    validate_waiting_statuses,
)
from .api import localize

log = logging.getLogger(__name__)

bp = Blueprint("sla_api", __name__, url_prefix="/api/admin/sla")

# A calendar file takes a few kilobytes, so a far larger body is rejected.
CALENDAR_MAX_BYTES = 256 * 1024
EXPORT_FILE_NAME = "sla-calendar.json"
# Jira's default priorities, highest first. The screen lists them before any others the policies name.
JIRA_PRIORITIES = ("Highest", "High", "Medium", "Low", "Lowest")

# The body keys of PUT /api/admin/sla, the setting each one stores, and its audit action.
SETTING_KEYS = {
    "calendar": ("sla_calendar", "sla_calendar_changed"),
    "policies": ("sla_policies", "sla_policies_changed"),
    "impact_priorities": ("impact_priorities", "sla_impact_priorities_changed"),
    "waiting_for_customer_statuses": ("waiting_for_customer_statuses", "sla_waiting_statuses_changed"),
}
AUDIT_SUMMARIES = {
    "calendar": "Changed the SLA business calendar",
    "policies": "Changed the SLA policies",
    "impact_priorities": "Changed the priority of each impact",
    "waiting_for_customer_statuses": "Changed the statuses that wait for the customer",
}


class InvalidSetting(InvalidInput):
    """An invalid SLA setting. `field` is the path of the invalid value when it is known;
    `reason` and `params` name the problem for a screen that words it itself."""

    def __init__(self, message, field=None, code="invalid_sla_setting", reason=None, params=None):
        super().__init__(message, code=code)
        self.field = field
        self.reason = reason
        self.params = params or {}

    def to_dict(self):
        body = super().to_dict()
        body["error"].update(field=self.field, reason=self.reason, params=self.params)
        return body


@bp.errorhandler(AddonError)
def render_error(error):
    body = error.to_dict()
    body["error"]["message"] = localize(error.message, request.args.get("lang"))
    return jsonify(body), error.status


# Reading.

def stored_calendar(settings):
    """Return the site's calendar in its JSON form, or the default calendar's when none is stored."""
    return settings["sla_calendar"] or BusinessCalendar.default().to_json()


def priorities_of(policies):
    """Return the priority names the screen offers: Jira's defaults, then any other the policies use."""
    names = list(JIRA_PRIORITIES)
    for policy in policies.values():
        for windows in (policy.get("first_response_minutes"), policy.get("next_response_minutes")):
            names.extend(name for name in (windows or {}) if name not in names)
        raise_to = (policy.get("escalation") or {}).get("raise_priority_to")
        if raise_to and raise_to not in names:
            names.append(raise_to)
    return names


def tiers_in_use(installation_id):
    """Return the SLA tiers named by the site's subscriptions, so the screen can show which lack a policy."""
    rows = database().session.execute(
        select(Subscription.sla_tier).where(Subscription.installation_id == installation_id).distinct()
    ).scalars()
    return sorted(tier for tier in rows if tier)


def sla_settings_json(installation_id):
    settings = get_settings(installation_id)
    impact_labels = {
        Impact.BLOCKING: gettext("Bloquant"),
        Impact.DEGRADED: gettext("Fonctionnement dégradé"),
        Impact.QUESTION: gettext("Question"),
    }
    return {
        "calendar": stored_calendar(settings),
        "calendar_is_default": settings["sla_calendar"] is None,
        "policies": settings["sla_policies"],
        "default_tier": DEFAULT_TIER,
        "impact_priorities": settings["impact_priorities"],
        "waiting_for_customer_statuses": settings["waiting_for_customer_statuses"],
        "priorities": priorities_of(settings["sla_policies"]),
        "impacts": [{"value": impact, "label": impact_labels[impact]} for impact in Impact.ALL],
        "tiers_in_use": tiers_in_use(installation_id),
    }


@bp.get("")
@require_jwt("context")
@require_admin
def show():
    return jsonify(sla_settings_json(g.connect.installation.id))


@bp.get("/calendar")
@require_jwt("context")
@require_admin
def show_calendar():
    return jsonify(stored_calendar(get_settings(g.connect.installation.id)))


@bp.get("/calendar/export")
@require_jwt("context")
@require_admin
def export_calendar():
    calendar = stored_calendar(get_settings(g.connect.installation.id))
    response = jsonify(calendar)
    response.headers["Content-Disposition"] = f'attachment; filename="{EXPORT_FILE_NAME}"'
    return response


def _country_name(locale, code):
    return locale.territories.get(code) or code


@lru_cache(maxsize=1)
def listed_country_codes():
    """Return the two-letter codes of the `holidays` package, one per country.

    The package lists some countries under two codes ("UK" beside "GB"), whose classes live in one
    country module. Of such codes, only those that CLDR (Babel) lists as a territory are kept, so
    the screen shows no unnamed duplicate.
    """
    known = Locale.parse("en").territories
    by_country = defaultdict(list)
    for code in holidays.list_supported_countries():
        if len(code) == 2:
            by_country[type(holidays.country_holidays(code, years=())).__module__].append(code)
    codes = []
    for group in by_country.values():
        named = [code for code in group if code in known]
        codes.extend(named or group)
    return tuple(codes)


def _sort_key(name):
    """Return `name` without accents and case, so that "Égypte" sorts among the E."""
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").casefold()


def _subdivision_name(code, aliases):
    """Return the longest alias of a subdivision code (its written-out name), else the code itself."""
    names = [alias for alias in aliases.get(code, []) if len(alias) > 3]
    return max(names, key=len) if names else code


@bp.get("/holidays")
@require_jwt("context")
@require_admin
def holiday_tables():
    """List the countries of the `holidays` package and the subdivisions of `?country=` (default FR)."""
    locale = Locale.parse(str(get_locale() or "fr"))
    supported = holidays.list_supported_countries()
    countries = sorted(
        ({"code": code, "name": _country_name(locale, code)} for code in listed_country_codes()),
        key=lambda country: _sort_key(country["name"]),
    )
    country = (request.args.get("country") or "FR").strip()
    if country not in supported:
        raise InvalidSetting(
            f"Pays inconnu de holidays {holidays.__version__} : {country!r} ; choisissez un code ISO à deux "
            f"lettres de la liste. / Country {country!r} is unknown to holidays {holidays.__version__}; "
            "pick a two-letter ISO code from the list.", field="calendar.holidays.country")
    aliases = holidays.country_holidays(country, years=()).get_subdivision_aliases()
    subdivisions = [{"code": code, "name": _subdivision_name(code, aliases)} for code in supported[country]]
    return jsonify({"countries": countries, "country": country, "subdivisions": subdivisions,
                    "holidays_version": holidays.__version__})


# Changing.

def _clean_calendar(data):
    try:
        return BusinessCalendar.from_json(data).to_json()
    except CalendarError as error:
        field = f"calendar.{error.field}" if error.field else "calendar"
        raise InvalidSetting(f"Calendrier invalide : {error} / Invalid calendar: {error}", field=field,
                             code="invalid_calendar", reason=error.code, params=error.params) from None


def _failing_tier(policies):
    """Return the first tier whose policy alone fails validation, or None."""
    if not isinstance(policies, dict):
        return None
    for tier, policy in policies.items():
        try:
            validate_policies({DEFAULT_TIER: policy})
        except SlaSettingsError:
            return tier
    return None


def validated_changes(body, current):
    """Return {body key: normalised value} for the settings in `body`.

    The settings are checked against each other and against the stored ones (`current`). The first
    invalid value raises InvalidSetting, which names it.
    """
    unknown = sorted(set(body) - set(SETTING_KEYS))
    if unknown:
        raise InvalidSetting(
            f"Réglages SLA inconnus : {', '.join(unknown)} ; réglages permis : {', '.join(SETTING_KEYS)}. "
            f"/ Unknown SLA settings: {', '.join(unknown)}; allowed settings: {', '.join(SETTING_KEYS)}.")
    if not body:
        raise InvalidSetting(
            f"Aucun réglage SLA à enregistrer ; envoyez au moins l'un de : {', '.join(SETTING_KEYS)}. "
            f"/ No SLA setting to save; send at least one of: {', '.join(SETTING_KEYS)}.")

    changes = {}
    if "calendar" in body:
        # null goes back to the default calendar (BusinessCalendar.default()).
        changes["calendar"] = None if body["calendar"] is None else _clean_calendar(body["calendar"])
    if "policies" in body:
        try:
            changes["policies"] = validate_policies(body["policies"])
        except SlaSettingsError as error:
            tier = _failing_tier(body["policies"])
            raise InvalidSetting(str(error), field=f"policies.{tier}" if tier else "policies") from None
    if "waiting_for_customer_statuses" in body:
        try:
            changes["waiting_for_customer_statuses"] = validate_waiting_statuses(body["waiting_for_customer_statuses"])
        except SlaSettingsError as error:
            raise InvalidSetting(str(error), field="waiting_for_customer_statuses") from None

    # Every priority an impact maps to needs a first-response window in every tier, whichever of
    # the two settings changes.
    policies = changes.get("policies", current["sla_policies"])
    mapping = body.get("impact_priorities", current["impact_priorities"])
    if "impact_priorities" in body or "policies" in body:
        try:
            mapping = validate_impact_priorities(mapping, policies)
        except SlaSettingsError as error:
            field = "impact_priorities" if "impact_priorities" in body else "policies"
            raise InvalidSetting(str(error), field=field) from None
    if "impact_priorities" in body:
        changes["impact_priorities"] = mapping
    return {name: changes[name] for name in SETTING_KEYS if name in changes}


def save(installation, actor, body):
    """Validate and store the SLA settings of `body`, audit them, and recompute open deadlines.

    Return the number of open clocks whose deadlines were recomputed.
    """
    current = get_settings(installation.id)
    changes = validated_changes(body, current)
    changed = {name: value for name, value in changes.items() if value != current[SETTING_KEYS[name][0]]}

    with database().transaction() as session:
        for name, value in changed.items():
            key, action = SETTING_KEYS[name]
            put_setting(session, installation.id, key, value)
            audit(session, installation.id, actor, action, AUDIT_SUMMARIES[name],
                  setting=key, before=current[key], after=value)
    if not changed:
        return 0

    recomputed = recompute_site(installation.id)
    log.info("SLA settings %s changed on client_key %s by %s; %s open clocks recomputed",
             sorted(changed), installation.client_key, actor, recomputed)
    return recomputed


def _json_of_request():
    """Parse the request body as JSON, naming the line and column of a syntax error."""
    if request.content_length and request.content_length > CALENDAR_MAX_BYTES:
        raise InvalidSetting(
            f"Le fichier dépasse {CALENDAR_MAX_BYTES // 1024} Ko ; un calendrier tient en quelques Ko. "
            f"/ The file exceeds {CALENDAR_MAX_BYTES // 1024} KB; a calendar takes a few KB.",
            reason="file_too_large", params={"kilobytes": str(CALENDAR_MAX_BYTES // 1024)})
    text = request.get_data(cache=False, as_text=False)[:CALENDAR_MAX_BYTES + 1]
    try:
        return json.loads(text.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise InvalidSetting("Le fichier n'est pas du texte UTF-8 ; enregistrez-le en UTF-8 et réessayez. "
                             "/ The file is not UTF-8 text; save it as UTF-8 and try again.",
                             reason="not_utf8") from None
    except json.JSONDecodeError as error:
        # The decoder's own sentence (error.msg) is English and names Python's view of the
        # problem, so the message gives only the position, which is what the author needs.
        line, column = error.lineno, error.colno
        raise InvalidSetting(
            f"Le fichier n'est pas du JSON valide (ligne {line}, colonne {column}) ; corrigez-le à cet "
            f"endroit ou exportez de nouveau le calendrier. / The file is not valid JSON (line {line}, "
            f"column {column}); fix it there or export the calendar again.",
            reason="bad_json", params={"line": str(line), "column": str(column)}) from None


@bp.put("")
@require_jwt("context")
@require_admin
def update():
    body = _json_of_request()
    if not isinstance(body, dict):
        raise InvalidSetting("Le corps doit être un objet JSON. / The body must be a JSON object.")
    installation = g.connect.installation
    recomputed = save(installation, g.connect.account_id, body)
    return jsonify(dict(sla_settings_json(installation.id), recomputed=recomputed))


@bp.put("/calendar")
@require_jwt("context")
@require_admin
def import_calendar():
    """Replace the calendar by the JSON document of the body (an exported or hand-written file)."""
    data = _json_of_request()
    if not isinstance(data, dict):
        _clean_calendar(data)  # raises the calendar's own error, e.g. for a file that contains null
    installation = g.connect.installation
    recomputed = save(installation, g.connect.account_id, {"calendar": data})
    return jsonify({"calendar": stored_calendar(get_settings(installation.id)), "recomputed": recomputed})

