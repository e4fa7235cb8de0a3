"""The SLA settings API (/api/admin/sla) against the local Jira site.

Covers calendars, policies, the impact mapping and the waiting statuses, with their audit entries,
the recomputed deadlines of open chats, and admin-only access.
"""

import json
import re
import time
from datetime import timedelta, timezone

import jwt
import pytest
import requests
from sqlalchemy import select

from addon import create_app
from addon.access.models import AuditEntry
from addon.atlassian.installations import get_installation, shared_secret_of
from addon.chat.actions import Viewer
from addon.chat.models import AuthorRole
from addon.chat.start import start_chat
from addon.settings import DEFAULTS, get_settings
from addon.sla.calendar import BusinessCalendar, CalendarError
from addon.web.panels import page_strings
from tests.conftest import addon_overrides
from tests.sla_support import MONDAY_10, FakeClock, clock_of, paris
from tests.subscriptions import grant
from tests.test_sla_calendar import INVALID_CALENDARS, calendar_json
from tests.support import AddonServer, free_port

ALWAYS_OPEN = {
    "timezone": "Europe/Paris",
    "hours": {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
    "holidays": None,
}
MORNINGS = {
    "timezone": "Europe/Paris",
    "hours": {day: [["09:00", "11:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": {"country": "FR", "subdivision": "57"},
    "closed_days": ["2026-12-24"],
}


@pytest.fixture
def sla_clock():
    return FakeClock()


@pytest.fixture
def sla_addon(database_url, jira_site, tmp_path, sla_clock):
    """The add-on installed into the local Jira site, with an injected SLA clock and no sweeper."""
    port = free_port()
    app = create_app(addon_overrides(database_url, jira_site, port, tmp_path,
                                     SLA_SWEEPER=False, SLA_NOW=sla_clock, SUBSCRIPTION_EXPIRY_JOB=False))
    server = AddonServer(app, port)
    try:
        result = jira_site.control("POST", "/_devsite/apps/install",
                                   json={"descriptor_url": f"{server.url}/atlassian-connect.json"})
        assert result["status"] in (200, 204), result
        server.client_key = result["client_key"]
        yield server
    finally:
        server.stop()


def call(server, method, path="", account_id="admin-lea", **kwargs):
    with server.app.app_context():
        secret = shared_secret_of(get_installation(server.client_key))
    now = int(time.time())
    claims = {"iss": server.client_key, "sub": account_id, "qsh": "context-qsh", "iat": now, "exp": now + 300}
    token = jwt.encode(claims, secret, algorithm="HS256")
    return requests.request(method, f"{server.url}/api/admin/sla{path}",
                            headers={"Authorization": f"JWT {token}"}, timeout=30, **kwargs)


def settings_of(server):
    with server.app.app_context():
        return get_settings(get_installation(server.client_key).id)


def audit_actions(server):
    with server.app.app_context():
        session = server.app.extensions["database"].session
        return [entry.action for entry in session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars()]


def start_alice_chat(server, impact="blocking"):
    """Start a chat as cust-alice, key user of a standard subscription; return its conversation id."""
    grant(server.app, server.client_key, "cust-alice")
    with server.app.app_context():
        installation = get_installation(server.client_key)
        viewer = Viewer(installation_id=installation.id, client_key=installation.client_key,
                        account_id="cust-alice", role=AuthorRole.CUSTOMER)
        conversation = start_chat(viewer, summary="Facture bloquée", product_area="Ventes", impact=impact,
                                  message="Erreur E1024", client_message_id="sla-api-1")
        return conversation.id


# Reading.

def test_settings_read_defaults(sla_addon):
    response = call(sla_addon, "GET")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["calendar"]["timezone"] == "Europe/Paris"
    assert body["calendar"]["hours"]["mon"] == [["09:00", "12:00"], ["14:00", "18:00"]]
    assert body["calendar_is_default"] is True
    assert body["policies"] == DEFAULTS["sla_policies"]
    assert body["impact_priorities"] == DEFAULTS["impact_priorities"]
    assert body["priorities"][:5] == ["Highest", "High", "Medium", "Low", "Lowest"]
    assert [impact["value"] for impact in body["impacts"]] == ["blocking", "degraded", "question"]


def test_holiday_tables_list_french_subdivisions(sla_addon):
    response = call(sla_addon, "GET", "/holidays", params={"country": "FR"})

    assert response.status_code == 200, response.text
    subdivisions = {entry["code"]: entry["name"] for entry in response.json()["subdivisions"]}
    assert subdivisions["57"] == "Moselle"
    assert subdivisions["6AE"] == "Alsace"
    countries = {entry["code"]: entry["name"] for entry in response.json()["countries"]}
    assert countries["FR"] == "France"
    # The package's alias "UK" would show beside "GB" without a name.
    assert countries["GB"] == "Royaume-Uni"
    assert "UK" not in countries


def test_holiday_tables_unknown_country(sla_addon):
    response = call(sla_addon, "GET", "/holidays", params={"country": "XX"})

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "calendar.holidays.country"


# The calendar.

def test_calendar_saved_and_audited(sla_addon):
    response = call(sla_addon, "PUT", json={"calendar": MORNINGS})

    assert response.status_code == 200, response.text
    stored = settings_of(sla_addon)["sla_calendar"]
    assert stored["hours"]["mon"] == [["09:00", "11:00"]]
    assert stored["hours"]["sat"] == []
    assert stored["holidays"] == {"country": "FR", "subdivision": "57"}
    assert response.json()["calendar"] == stored
    assert response.json()["calendar_is_default"] is False
    assert audit_actions(sla_addon) == ["sla_calendar_changed"]


def test_calendar_unchanged_not_audited(sla_addon):
    call(sla_addon, "PUT", json={"calendar": MORNINGS})
    response = call(sla_addon, "PUT", json={"calendar": MORNINGS})

    assert response.status_code == 200, response.text
    assert audit_actions(sla_addon) == ["sla_calendar_changed"]


def test_calendar_export_is_attachment(sla_addon):
    call(sla_addon, "PUT", json={"calendar": MORNINGS})

    response = call(sla_addon, "GET", "/calendar/export")

    assert response.status_code == 200, response.text
    assert response.headers["Content-Disposition"] == 'attachment; filename="sla-calendar.json"'
    assert response.json() == settings_of(sla_addon)["sla_calendar"]


def test_calendar_import_round_trip(sla_addon):
    extended = dict(MORNINGS, worked_holidays=["2027-05-17"], special_days={"2026-12-31": [["09:00", "10:00"]]})
    text = json.dumps(extended, indent=2).encode("utf-8")

    response = call(sla_addon, "PUT", "/calendar", data=text)

    assert response.status_code == 200, response.text
    assert response.json()["calendar"]["worked_holidays"] == ["2027-05-17"]
    exported = call(sla_addon, "GET", "/calendar/export").json()
    assert exported["special_days"] == {"2026-12-31": [["09:00", "10:00"]]}
    assert call(sla_addon, "PUT", "/calendar", json=exported).status_code == 200
    assert audit_actions(sla_addon) == ["sla_calendar_changed"]


def test_calendar_reset_to_default(sla_addon):
    call(sla_addon, "PUT", json={"calendar": MORNINGS})

    response = call(sla_addon, "PUT", json={"calendar": None})

    assert response.status_code == 200, response.text
    assert settings_of(sla_addon)["sla_calendar"] is None
    assert response.json()["calendar"]["hours"]["mon"] == [["09:00", "12:00"], ["14:00", "18:00"]]


def with_hours(**hours):
    return dict(MORNINGS, hours=dict(MORNINGS["hours"], **hours))


@pytest.mark.parametrize(("calendar", "field", "fragment"), [
    (with_hours(mon=[["09:00", "12:00"], ["11:00", "14:00"]]), "calendar.hours.mon[1]", "overlaps"),
    (with_hours(tue=[["14:00", "12:00"]]), "calendar.hours.tue[0]", "is not after start"),
    (with_hours(wed=[["9h", "12:00"]]), "calendar.hours.wed[0]", '"HH:MM"'),
    (with_hours(lun=[["09:00", "12:00"]]), "calendar.hours.lun", "unknown weekday"),
    (dict(MORNINGS, timezone="Europe/Pariss"), "calendar.timezone", "IANA"),
    (dict(MORNINGS, holidays={"country": "FR", "subdivision": "67"}), "calendar.holidays.subdivision", "6AE"),
    (dict(MORNINGS, closed_days=["2026/12/24"]), "calendar.closed_days[0]", "YYYY-MM-DD"),
    (dict(MORNINGS, closed_days=["2026-02-30"]), "calendar.closed_days[0]", "does not exist"),
    (dict(MORNINGS, colour="blue"), "calendar.colour", "unknown key"),
    ({"timezone": "Europe/Paris", "hours": {}, "holidays": None}, "calendar.hours", "no weekday"),
])
def test_bad_calendar_rejected(sla_addon, calendar, field, fragment):
    response = call(sla_addon, "PUT", json={"calendar": calendar})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_calendar"
    assert error["field"] == field
    assert fragment in error["message"]
    assert settings_of(sla_addon)["sla_calendar"] is None
    assert audit_actions(sla_addon) == []


def test_bad_calendar_reason_and_params(sla_addon):
    # The screen words the error from reason and params, and focuses the time the role names.
    response = call(sla_addon, "PUT", json={"calendar": with_hours(mon=[["09:00", "25:00"]])})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "calendar.hours.mon[0]"
    assert error["reason"] == "bad_time"
    assert error["params"] == {"value": "25:00", "role": "end"}


def test_missing_date_reason_and_params(sla_addon):
    # A well-formed date past the month's end gets its own reason, so that the screen can say so.
    response = call(sla_addon, "PUT", json={"calendar": dict(MORNINGS, closed_days=["2026-02-30"])})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "calendar.closed_days[0]"
    assert error["reason"] == "no_such_date"
    assert error["params"] == {"value": "2026-02-30", "year": "2026", "month": "2", "day": "30",
                               "days_in_month": "28"}


def test_bad_json_worded_without_parser_text(sla_addon):
    response = call(sla_addon, "PUT", "/calendar", params={"lang": "fr"}, data=b'{"timezone": "Europe/Paris",')

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"].startswith("Le fichier n'est pas du JSON valide (ligne 1, colonne 29)")
    assert "Expecting" not in error["message"]
    assert error["reason"] == "bad_json"
    assert error["params"] == {"line": "1", "column": "29"}


@pytest.mark.sqlite_only
def test_every_calendar_error_worded_on_screen(sla_addon):
    # Each reason a calendar can be refused for has its sentence on the settings page, with the
    # placeholders its params fill.
    with sla_addon.app.test_request_context("/admin/settings"):
        dictionaries = page_strings(("panels/sla_strings.html",))
    for changes, _field, _words in INVALID_CALENDARS:
        with pytest.raises(CalendarError) as caught:
            BusinessCalendar.from_json(calendar_json(**changes))
        key = f"sla_error_{caught.value.code}"
        for language in ("fr", "en"):
            assert key in dictionaries[language], key
            placeholders = set(re.findall(r"\{(\w+)\}", dictionaries[language][key]))
            # The page adds month_name itself, in its language, from the month number.
            assert placeholders <= set(caught.value.params) | {"month_name"}, (key, language)


def test_bad_calendar_import_rejected(sla_addon):
    response = call(sla_addon, "PUT", "/calendar", data=b'{"timezone": "Europe/Paris",\n "hours": {,}}')

    assert response.status_code == 400
    assert "line 2, column 12" in response.json()["error"]["message"]
    assert settings_of(sla_addon)["sla_calendar"] is None


def test_calendar_import_of_null_rejected(sla_addon):
    response = call(sla_addon, "PUT", "/calendar", data=b"null")

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "calendar"
    assert settings_of(sla_addon)["sla_calendar"] is None


def test_error_message_in_requested_language(sla_addon):
    response = call(sla_addon, "PUT", params={"lang": "fr"}, json={"colour": "blue"})

    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("Réglages SLA inconnus : colour")


# Policies, impacts and statuses.

def premium_policy(**changes):
    policy = json.loads(json.dumps(DEFAULTS["sla_policies"]["premium"]))
    policy.update(changes)
    return policy


def test_policies_saved_with_mapping(sla_addon):
    policies = {
        "standard": premium_policy(first_response_minutes={"Critique": 30, "Normale": 240}),
        "gold": premium_policy(first_response_minutes={"Critique": 15, "Normale": 60}, warning_percent=50,
                               escalation={"notify_groups": ["support-leads"], "raise_priority_to": "Critique"}),
    }
    mapping = {"blocking": "Critique", "degraded": "Normale", "question": "Normale"}

    response = call(sla_addon, "PUT", json={"policies": policies, "impact_priorities": mapping,
                                           "waiting_for_customer_statuses": ["Attente client", "attente CLIENT"]})

    assert response.status_code == 200, response.text
    settings = settings_of(sla_addon)
    assert settings["sla_policies"]["gold"]["warning_percent"] == 50
    assert settings["sla_policies"]["gold"]["escalation"]["notify_groups"] == ["support-leads"]
    assert settings["impact_priorities"] == mapping
    assert settings["waiting_for_customer_statuses"] == ["Attente client"]
    assert "Critique" in response.json()["priorities"]
    assert audit_actions(sla_addon) == [
        "sla_policies_changed", "sla_impact_priorities_changed", "sla_waiting_statuses_changed",
    ]


@pytest.mark.parametrize(("body", "field", "fragment"), [
    ({"policies": {"premium": premium_policy()}}, "policies", "standard"),
    ({"policies": {"standard": premium_policy(), "premium": premium_policy(warning_percent=0)}},
     "policies.premium", "warning_percent"),
    ({"policies": {"standard": premium_policy(first_response_minutes={"High": -5})}},
     "policies.standard", "first_response_minutes"),
    ({"policies": {"standard": premium_policy(escalation={"notify_account_ids": "agent-camille"})}},
     "policies.standard", "notify_account_ids"),
    # The stored mapping sends "blocking" to High, which this policy no longer has.
    ({"policies": {"standard": premium_policy(first_response_minutes={"Medium": 60, "Low": 120})}},
     "policies", "High"),
    ({"impact_priorities": {"blocking": "Urgent", "degraded": "Medium", "question": "Low"}},
     "impact_priorities", "Urgent"),
    ({"impact_priorities": {"blocking": "High"}}, "impact_priorities", "degraded"),
    ({"waiting_for_customer_statuses": "Waiting for customer"}, "waiting_for_customer_statuses", "liste"),
    ({"sla_policies": {}}, None, "sla_policies"),
    ({}, None, "Aucun réglage"),
])
def test_bad_settings_rejected(sla_addon, body, field, fragment):
    response = call(sla_addon, "PUT", json=body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == field
    assert fragment in error["message"]
    assert settings_of(sla_addon)["sla_policies"] == DEFAULTS["sla_policies"]
    assert settings_of(sla_addon)["impact_priorities"] == DEFAULTS["impact_priorities"]
    assert audit_actions(sla_addon) == []


def test_invalid_change_stores_none_of_the_body(sla_addon):
    body = {"calendar": MORNINGS, "waiting_for_customer_statuses": [""]}

    response = call(sla_addon, "PUT", json=body)

    assert response.status_code == 400
    assert settings_of(sla_addon)["sla_calendar"] is None
    assert audit_actions(sla_addon) == []


# Open chats follow the new settings.

def test_calendar_edit_moves_running_deadline(sla_addon, sla_clock):
    conversation_id = start_alice_chat(sla_addon)
    # Standard tier, blocking → High → 120 business minutes from Monday 10:00: the 12:00 closing time.
    assert clock_of(sla_addon.app, conversation_id).deadline_at == paris(2026, 3, 2, 12).astimezone(timezone.utc)

    response = call(sla_addon, "PUT", json={"calendar": MORNINGS})

    assert response.status_code == 200, response.text
    assert response.json()["recomputed"] == 1
    # 60 minutes on Monday until 11:00, then 60 on Tuesday from 09:00.
    clock = clock_of(sla_addon.app, conversation_id)
    assert clock.deadline_at == paris(2026, 3, 3, 10).astimezone(timezone.utc)
    assert clock.started_at == MONDAY_10.astimezone(timezone.utc)


def test_policy_edit_moves_running_deadline(sla_addon):
    conversation_id = start_alice_chat(sla_addon)
    policies = json.loads(json.dumps(DEFAULTS["sla_policies"]))
    policies["standard"]["first_response_minutes"]["High"] = 30

    response = call(sla_addon, "PUT", json={"policies": policies})

    assert response.status_code == 200, response.text
    clock = clock_of(sla_addon.app, conversation_id)
    assert clock.window_minutes == 30
    assert clock.deadline_at == (MONDAY_10 + timedelta(minutes=30)).astimezone(timezone.utc)


def test_always_open_calendar_counts_the_night(sla_addon, sla_clock):
    sla_clock.set(paris(2026, 3, 2, 23, 30))
    conversation_id = start_alice_chat(sla_addon)

    response = call(sla_addon, "PUT", "/calendar", json=ALWAYS_OPEN)

    assert response.status_code == 200, response.text
    assert clock_of(sla_addon.app, conversation_id).deadline_at == paris(2026, 3, 3, 1, 30).astimezone(timezone.utc)


# Only support leads.

@pytest.mark.parametrize("account_id", ["cust-alice", "agent-camille"])
@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "", None),
    ("GET", "/calendar/export", None),
    ("PUT", "", {"calendar": MORNINGS}),
    ("PUT", "/calendar", MORNINGS),
])
def test_sla_settings_refuse_non_admins(sla_addon, account_id, method, path, body):
    response = call(sla_addon, method, path, account_id=account_id, json=body)

    assert response.status_code == 403
    assert settings_of(sla_addon)["sla_calendar"] is None
    assert audit_actions(sla_addon) == []


# The screens' texts.

@pytest.mark.sqlite_only
def test_sla_strings_english_complete(sla_addon):
    with sla_addon.app.test_request_context("/admin/settings"):
        dictionaries = page_strings(("panels/sla_strings.html",))

    assert set(dictionaries["fr"]) == set(dictionaries["en"])
    same = sorted(key for key, text in dictionaries["fr"].items() if dictionaries["en"][key] == text)
    # Placeholders alone read the same in both languages.
    assert same == ["sla_impact_priority", "sla_priority_minutes", "sla_weekday"]
    assert dictionaries["en"]["sla_subdivision_hint"].startswith("France: 57 for Moselle")
