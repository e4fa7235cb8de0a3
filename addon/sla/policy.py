"""SLA settings of a site as objects: the business calendar, the policy of each tier, the priority
of each impact, and the Jira statuses in which the request waits for the customer.

The settings are JSON values in `site_settings` (defaults in addon.settings). The `validate_*`
functions check a value before it is stored and return it normalised. They raise `SlaSettingsError`
(a ValueError) whose message names the invalid value, in French then English like the other errors.
"""

import json
import logging
from dataclasses import dataclass

from flask import current_app

from ..chat.models import Impact
from ..settings import get_settings
from .calendar import BusinessCalendar, CalendarError
from .models import ClockKind

log = logging.getLogger(__name__)

DEFAULT_TIER = "standard"
TIER_MAX_CHARS = 40
PRIORITY_MAX_CHARS = 40
STATUS_MAX_CHARS = 120
WAITING_STATUSES_MAX = 20
# Thirty working days of eight hours: a longer window is a typing mistake, not an SLA.
WINDOW_MAX_MINUTES = 30 * 8 * 60
ESCALATION_FLAGS = ("internal_comment", "breached_property", "panel_alert")
NOTIFY_MAX = 50
CALENDAR_CACHE_MAX = 64


class SlaSettingsError(ValueError):
    """An invalid SLA setting. The message names the value and what to give instead."""


def _error(french, english):
    return SlaSettingsError(f"{french} / {english}")


@dataclass(frozen=True)
class Escalation:
    """The actions the add-on takes at a breach (and, for `panel_alert`, at a warning too)."""

    internal_comment: bool = True
    notify_account_ids: tuple = ()
    notify_groups: tuple = ()
    raise_priority_to: str | None = None
    breached_property: bool = True
    panel_alert: bool = True


@dataclass(frozen=True)
class SlaPolicy:
    """The response windows of one SLA tier, in business minutes per Jira priority name."""

    tier: str
    first_response_minutes: dict
    next_response_minutes: dict | None
    pause_while_waiting_for_customer: bool
    warning_percent: int
    escalation: Escalation

    def window_minutes(self, kind, priority):
        """Return the window of `kind` for `priority`, or None when the policy has no such window.

        A priority the policy does not list gets the policy's longest window, and a warning is
        logged, so that a priority renamed in Jira never leaves a chat without a deadline.
        """
        windows = self.first_response_minutes if kind == ClockKind.FIRST_RESPONSE else self.next_response_minutes
        if not windows:
            return None
        if priority in windows:
            return windows[priority]
        log.warning("SLA tier %s has no %s window for priority %r; using its longest window",
                    self.tier, kind, priority)
        return max(windows.values())


# -- validation ---------------------------------------------------------------------------------

def _validate_windows(tier, name, windows):
    if not isinstance(windows, dict) or not windows:
        raise _error(f"Niveau SLA {tier!r} : {name} doit associer au moins une priorité à un nombre de minutes.",
                     f"Tier {tier!r}: {name} must map at least one priority to a number of minutes.")
    cleaned = {}
    for priority, minutes in windows.items():
        if not isinstance(priority, str) or not priority.strip() or len(priority) > PRIORITY_MAX_CHARS:
            raise _error(f"Niveau SLA {tier!r} : priorité invalide {priority!r} dans {name} "
                         f"(1 à {PRIORITY_MAX_CHARS} caractères).",
                         f"Tier {tier!r}: invalid priority {priority!r} in {name} "
                         f"(1 to {PRIORITY_MAX_CHARS} characters).")
        if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= WINDOW_MAX_MINUTES:
            raise _error(f"Niveau SLA {tier!r} : {name}[{priority!r}] doit être un nombre entier de minutes "
                         f"entre 1 et {WINDOW_MAX_MINUTES} ({minutes!r}).",
                         f"Tier {tier!r}: {name}[{priority!r}] must be a whole number of minutes "
                         f"from 1 to {WINDOW_MAX_MINUTES} ({minutes!r}).")
        cleaned[priority.strip()] = minutes
    return cleaned


def _validate_escalation(tier, data):
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _error(f"Niveau SLA {tier!r} : escalation doit être un objet JSON.",
                     f"Tier {tier!r}: escalation must be a JSON object.")
    known = set(ESCALATION_FLAGS) | {"notify_account_ids", "notify_groups", "raise_priority_to"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise _error(f"Niveau SLA {tier!r} : clés d'escalade inconnues {unknown} ; clés permises : {sorted(known)}.",
                     f"Tier {tier!r}: unknown escalation keys {unknown}; allowed keys: {sorted(known)}.")

    cleaned = {}
    for flag in ESCALATION_FLAGS:
        value = data.get(flag, getattr(Escalation, flag))
        if not isinstance(value, bool):
            raise _error(f"Niveau SLA {tier!r} : escalation.{flag} doit valoir true ou false ({value!r}).",
                         f"Tier {tier!r}: escalation.{flag} must be true or false ({value!r}).")
        cleaned[flag] = value

    for name in ("notify_account_ids", "notify_groups"):
        values = data.get(name) or []
        if (not isinstance(values, list) or len(values) > NOTIFY_MAX
                or any(not isinstance(v, str) or not v.strip() or len(v) > 128 for v in values)):
            raise _error(f"Niveau SLA {tier!r} : escalation.{name} doit être une liste d'au plus {NOTIFY_MAX} "
                         f"identifiants non vides ({values!r}).",
                         f"Tier {tier!r}: escalation.{name} must be a list of at most {NOTIFY_MAX} "
                         f"non-empty identifiers ({values!r}).")
        cleaned[name] = [v.strip() for v in values]

    raise_to = data.get("raise_priority_to")
    if raise_to is not None and (not isinstance(raise_to, str) or not raise_to.strip()
                                 or len(raise_to) > PRIORITY_MAX_CHARS):
        raise _error(f"Niveau SLA {tier!r} : escalation.raise_priority_to doit être un nom de priorité ou null "
                     f"({raise_to!r}).",
                     f"Tier {tier!r}: escalation.raise_priority_to must be a priority name or null ({raise_to!r}).")
    cleaned["raise_priority_to"] = raise_to.strip() if raise_to else None
    return cleaned


def _validate_policy(tier, data):
    if not isinstance(data, dict):
        raise _error(f"Le niveau SLA {tier!r} doit être un objet JSON.", f"Tier {tier!r} must be a JSON object.")
    known = {"first_response_minutes", "next_response_minutes", "pause_while_waiting_for_customer",
             "warning_percent", "escalation"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise _error(f"Niveau SLA {tier!r} : clés inconnues {unknown} ; clés permises : {sorted(known)}.",
                     f"Tier {tier!r}: unknown keys {unknown}; allowed keys: {sorted(known)}.")
    next_response = data.get("next_response_minutes")
    pause = data.get("pause_while_waiting_for_customer", True)
    if not isinstance(pause, bool):
        raise _error(f"Niveau SLA {tier!r} : pause_while_waiting_for_customer doit valoir true ou false ({pause!r}).",
                     f"Tier {tier!r}: pause_while_waiting_for_customer must be true or false ({pause!r}).")
    warning = data.get("warning_percent", 75)
    if not isinstance(warning, int) or isinstance(warning, bool) or not 1 <= warning <= 99:
        raise _error(f"Niveau SLA {tier!r} : warning_percent doit être un entier de 1 à 99 ({warning!r}).",
                     f"Tier {tier!r}: warning_percent must be a whole number from 1 to 99 ({warning!r}).")
    return {
        "first_response_minutes": _validate_windows(tier, "first_response_minutes", data.get("first_response_minutes")),
        "next_response_minutes": (None if next_response is None
                                  else _validate_windows(tier, "next_response_minutes", next_response)),
        "pause_while_waiting_for_customer": pause,
        "warning_percent": warning,
        "escalation": _validate_escalation(tier, data.get("escalation")),
    }


def validate_policies(data):
    """Check the `sla_policies` setting and return it normalised.

    It maps tier names to policies and must contain "standard", the policy of unknown tiers.
    """
    if not isinstance(data, dict) or not data:
        raise _error("sla_policies doit associer des noms de niveaux SLA à des politiques SLA.",
                     "sla_policies must map tier names to SLA policies.")
    if DEFAULT_TIER not in data:
        raise _error(f"sla_policies doit contenir le niveau {DEFAULT_TIER!r}, appliqué aux niveaux inconnus.",
                     f"sla_policies must contain tier {DEFAULT_TIER!r}, which applies to unknown tiers.")
    cleaned = {}
    for tier, policy in data.items():
        if not isinstance(tier, str) or not tier.strip() or len(tier) > TIER_MAX_CHARS:
            raise _error(f"Nom de niveau SLA invalide {tier!r} (1 à {TIER_MAX_CHARS} caractères).",
                         f"Invalid tier name {tier!r} (1 to {TIER_MAX_CHARS} characters).")
        cleaned[tier.strip()] = _validate_policy(tier, policy)
    return cleaned


def validate_impact_priorities(data, policies=None):
    """Check the `impact_priorities` setting (each impact to a Jira priority name); return it normalised.

    With `policies` (a validated `sla_policies`), each priority must have a first-response window
    in every tier.
    """
    if not isinstance(data, dict):
        raise _error("impact_priorities doit associer chaque impact à une priorité Jira.",
                     "impact_priorities must map each impact to a Jira priority.")
    missing = [impact for impact in Impact.ALL if impact not in data]
    unknown = sorted(set(data) - set(Impact.ALL))
    if missing or unknown:
        raise _error(f"impact_priorities doit avoir exactement les impacts {list(Impact.ALL)} "
                     f"(manquants : {missing}, inconnus : {unknown}).",
                     f"impact_priorities must have exactly the impacts {list(Impact.ALL)} "
                     f"(missing: {missing}, unknown: {unknown}).")
    cleaned = {}
    for impact in Impact.ALL:
        priority = data[impact]
        if not isinstance(priority, str) or not priority.strip() or len(priority) > PRIORITY_MAX_CHARS:
            raise _error(f"impact_priorities[{impact!r}] doit être un nom de priorité ({priority!r}).",
                         f"impact_priorities[{impact!r}] must be a priority name ({priority!r}).")
        cleaned[impact] = priority.strip()
    for tier, policy in (policies or {}).items():
        for impact, priority in cleaned.items():
            if priority not in policy["first_response_minutes"]:
                raise _error(f"Le niveau SLA {tier!r} n'a pas de délai de première réponse pour la priorité "
                             f"{priority!r} (impact {impact!r}).",
                             f"Tier {tier!r} has no first-response window for priority {priority!r} "
                             f"(impact {impact!r}).")
    return cleaned


def validate_waiting_statuses(data):
    """Check `waiting_for_customer_statuses` (Jira status names) and return it without duplicates."""
    if not isinstance(data, list) or len(data) > WAITING_STATUSES_MAX:
        raise _error(f"waiting_for_customer_statuses doit être une liste d'au plus {WAITING_STATUSES_MAX} "
                     "noms de statuts.",
                     f"waiting_for_customer_statuses must be a list of at most {WAITING_STATUSES_MAX} status names.")
    cleaned = []
    for name in data:
        if not isinstance(name, str) or not name.strip() or len(name) > STATUS_MAX_CHARS:
            raise _error(f"Nom de statut invalide {name!r} (1 à {STATUS_MAX_CHARS} caractères).",
                         f"Invalid status name {name!r} (1 to {STATUS_MAX_CHARS} characters).")
        if name.strip().casefold() not in {n.casefold() for n in cleaned}:
            cleaned.append(name.strip())
    return cleaned


def validate_calendar(data):
    """Check an `sla_calendar` value (None: the default calendar); return it in the calendar's own form."""
    if data is None:
        return None
    try:
        return BusinessCalendar.from_json(data).to_json()
    except CalendarError as error:
        raise SlaSettingsError(str(error)) from None


# -- the settings of a site as objects ----------------------------------------------------------

def _policy_from(tier, data):
    escalation = data.get("escalation") or {}
    return SlaPolicy(
        tier=tier,
        first_response_minutes=dict(data["first_response_minutes"]),
        next_response_minutes=dict(data["next_response_minutes"]) if data.get("next_response_minutes") else None,
        pause_while_waiting_for_customer=bool(data.get("pause_while_waiting_for_customer", True)),
        warning_percent=int(data.get("warning_percent", 75)),
        escalation=Escalation(
            internal_comment=bool(escalation.get("internal_comment", True)),
            notify_account_ids=tuple(escalation.get("notify_account_ids") or ()),
            notify_groups=tuple(escalation.get("notify_groups") or ()),
            raise_priority_to=escalation.get("raise_priority_to"),
            breached_property=bool(escalation.get("breached_property", True)),
            panel_alert=bool(escalation.get("panel_alert", True)),
        ),
    )


def policy_from_settings(settings, tier):
    """Return the SlaPolicy of `tier` from a site's settings dict; an unknown tier gets "standard"'s."""
    policies = settings.get("sla_policies") or {}
    if tier in policies:
        return _policy_from(tier, policies[tier])
    if DEFAULT_TIER in policies:
        return _policy_from(tier, policies[DEFAULT_TIER])
    from ..settings import DEFAULTS

    return _policy_from(tier, DEFAULTS["sla_policies"][DEFAULT_TIER])


def policy_for(installation_id, tier):
    """Return the SlaPolicy of `tier` on the site; an unknown tier gets the "standard" policy."""
    return policy_from_settings(get_settings(installation_id), tier)


def priority_from_settings(settings, impact):
    """Return the Jira priority name the site maps `impact` to."""
    from ..settings import DEFAULTS

    mapping = settings.get("impact_priorities") or DEFAULTS["impact_priorities"]
    return mapping.get(impact) or DEFAULTS["impact_priorities"].get(impact) or "Medium"


def waiting_statuses_from_settings(settings):
    """Return the casefolded names of the statuses in which a request waits for the customer."""
    return {name.casefold() for name in settings.get("waiting_for_customer_statuses") or []}


def calendar_from_settings(settings):
    """Return the BusinessCalendar of a site's settings; None gives BusinessCalendar.default().

    Calendars are cached per app by their JSON text, because building one loads holiday tables.
    A stored value that no longer parses is logged and replaced by the default calendar.
    """
    data = settings.get("sla_calendar")
    key = json.dumps(data, sort_keys=True)
    cache = current_app.extensions.setdefault("sla_calendars", {})
    calendar = cache.get(key)
    if calendar is not None:
        return calendar
    if data is None:
        calendar = BusinessCalendar.default()
    else:
        try:
            calendar = BusinessCalendar.from_json(data)
        except CalendarError as error:
            log.error("Stored SLA calendar is invalid (%s); the default calendar applies", error)
            calendar = BusinessCalendar.default()
    if len(cache) >= CALENDAR_CACHE_MAX:
        cache.clear()
    cache[key] = calendar
    return calendar


def calendar_for(installation_id):
    """Return the business calendar of the site."""
    return calendar_from_settings(get_settings(installation_id))
