"""BusinessCalendar: its JSON form and validation, opening hours, and business time across lunch
breaks, weekends, French public holidays (national, Moselle and Alsace), long weekends and both
daylight-saving changes of Europe/Paris."""

import copy
import json
import random
import warnings
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import pytest

from addon.sla.calendar import DEFAULT_CALENDAR, MAX_CLOSED_DAYS, BusinessCalendar, CalendarError

CALENDARS_DIR = Path(__file__).parent / "data" / "calendars"
PARIS = ZoneInfo("Europe/Paris")
UTC = timezone.utc


def at(text):
    """Parse an ISO 8601 instant; every instant in these tests carries its offset."""
    instant = datetime.fromisoformat(text)
    assert instant.utcoffset() is not None, text
    return instant


MISSING = object()


def calendar_json(**changes):
    """Return the default calendar's JSON with top-level keys replaced; MISSING removes a key."""
    data = copy.deepcopy(DEFAULT_CALENDAR)
    for key, value in changes.items():
        if value is MISSING:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def make_calendar(**changes):
    return BusinessCalendar.from_json(calendar_json(**changes))


def load_sample(name):
    return json.loads((CALENDARS_DIR / name).read_text(encoding="utf-8"))


def utc_length(interval):
    opens, closes = interval
    return closes.astimezone(UTC) - opens.astimezone(UTC)


@pytest.fixture(scope="module")
def paris():
    return BusinessCalendar.default()


# The JSON form.

def test_default_calendar_json():
    assert BusinessCalendar.default().to_json() == DEFAULT_CALENDAR
    assert BusinessCalendar.default().timezone == PARIS


@pytest.mark.parametrize("name", ["paris.json", "moselle-extended.json"])
def test_sample_files_round_trip(name):
    data = load_sample(name)
    calendar = BusinessCalendar.from_json(data)

    assert BusinessCalendar.from_json(calendar.to_json()) == calendar
    assert calendar.to_json()["timezone"] == data["timezone"]
    assert calendar.to_json()["holidays"] == data["holidays"]
    assert calendar.to_json()["closed_days"] == data["closed_days"]


def test_basic_form_file_written_back_unchanged():
    data = load_sample("paris.json")
    assert BusinessCalendar.from_json(data).to_json() == data


def test_extended_file_keeps_extensions():
    written = BusinessCalendar.from_json(load_sample("moselle-extended.json")).to_json()
    assert written["worked_holidays"] == ["2027-05-17"]
    assert written["special_days"] == {"2026-12-31": [["08:30", "12:00"]], "2027-01-02": [["09:00", "12:00"]]}
    assert written["hours"]["sat"] == []
    assert written["hours"]["sun"] == []
    assert written["hours"]["fri"] == [["08:30", "12:00"], ["13:30", "16:30"]]


def test_missing_weekdays_are_closed():
    calendar = make_calendar(hours={"wed": [["10:00", "11:00"]]})
    assert calendar.to_json()["hours"] == {
        "mon": [], "tue": [], "wed": [["10:00", "11:00"]], "thu": [], "fri": [], "sat": [], "sun": [],
    }
    assert calendar.open_intervals(date(2026, 12, 7)) == []
    assert calendar.open_intervals(date(2026, 12, 9)) == [(at("2026-12-09T10:00:00+01:00"), at("2026-12-09T11:00:00+01:00"))]


def test_intervals_sorted_when_written():
    calendar = make_calendar(hours={"mon": [["14:00", "18:00"], ["09:00", "12:00"]]})
    assert calendar.to_json()["hours"]["mon"] == [["09:00", "12:00"], ["14:00", "18:00"]]


def test_midnight_end_written_as_24_00():
    calendar = make_calendar(hours={"sat": [["20:00", "24:00"]], "sun": [["00:00", "02:00"]]})
    assert calendar.to_json()["hours"]["sat"] == [["20:00", "24:00"]]
    assert calendar.open_intervals(date(2026, 12, 5)) == [(at("2026-12-05T20:00:00+01:00"), at("2026-12-06T00:00:00+01:00"))]


def test_touching_intervals_across_midnight_count_once():
    calendar = make_calendar(hours={"sat": [["20:00", "24:00"]], "sun": [["00:00", "02:00"]]})
    start = at("2026-12-05T23:00:00+01:00")
    assert calendar.add_business_minutes(start, 120) == at("2026-12-06T01:00:00+01:00")
    assert calendar.business_minutes_between(start, at("2026-12-06T02:00:00+01:00")) == 180.0


@pytest.mark.parametrize("holidays_value", [None, {"country": None}, {"country": None, "subdivision": None}])
def test_no_public_holidays(holidays_value):
    calendar = make_calendar(holidays=holidays_value)
    assert calendar.to_json()["holidays"] is None
    assert calendar.is_open(at("2026-12-25T10:00:00+01:00"))


def test_equality_follows_json():
    assert make_calendar() == BusinessCalendar.default()
    assert make_calendar(closed_days=["2026-12-24"]) != BusinessCalendar.default()
    assert "Europe/Paris" in repr(BusinessCalendar.default())


def test_closed_days_deduplicated_and_sorted():
    calendar = make_calendar(closed_days=["2026-12-31", "2026-12-24", "2026-12-24"])
    assert calendar.to_json()["closed_days"] == ["2026-12-24", "2026-12-31"]


# Validation: each invalid calendar raises CalendarError naming the field, the value and the fix.

INVALID_CALENDARS = [
    # (changes to the default calendar, field, words the message must contain)
    ({"timezone": "Europe/Pariss"}, "timezone", ['"Europe/Pariss" is not a known IANA time zone', "Europe/Paris"]),
    ({"timezone": 1}, "timezone", ["1 is not a known IANA time zone"]),
    ({"timezone": "/etc/localtime"}, "timezone", ["is not a known IANA time zone"]),
    ({"timezone": MISSING}, "timezone", ["missing"]),
    ({"hours": MISSING}, "hours", ["missing"]),
    ({"holidays": MISSING}, "holidays", ["missing", "docs/sla-calendar.md"]),
    ({"hours": []}, "hours", ["is not an object of weekdays"]),
    ({"hours": {"monday": [["09:00", "12:00"]]}}, "hours.monday", ['unknown weekday "monday"', "mon, tue, wed, thu, fri, sat, sun"]),
    ({"hours": {"mon": [["9:00", "12:00"]]}}, "hours.mon[0]", ['start "9:00" is not a time in "HH:MM" form']),
    ({"hours": {"mon": [["09:00", "25:00"]]}}, "hours.mon[0]", ['end "25:00" is not a valid time', "00:00 to 23:59"]),
    ({"hours": {"mon": [["09:60", "12:00"]]}}, "hours.mon[0]", ['start "09:60" is not a valid time']),
    ({"hours": {"mon": [["24:00", "24:00"]]}}, "hours.mon[0]", ['start "24:00" is not a valid time', '"24:00" only as an end']),
    ({"hours": {"mon": [[900, "12:00"]]}}, "hours.mon[0]", ['start 900 is not a time in "HH:MM" form']),
    ({"hours": {"mon": [["09:00", "12:00"], ["14:00", "12:00"]]}}, "hours.mon[1]", ["end 12:00 is not after start 14:00", '"24:00"']),
    ({"hours": {"mon": [["09:00", "09:00"]]}}, "hours.mon[0]", ["end 09:00 is not after start 09:00"]),
    ({"hours": {"mon": [["09:00"]]}}, "hours.mon[0]", ['["09:00"] is not a [start, end] pair']),
    ({"hours": {"mon": "09:00-12:00"}}, "hours.mon", ['"09:00-12:00" is not a list of [start, end] intervals']),
    ({"hours": {"mon": None}}, "hours.mon", ["null is not a list of [start, end] intervals"]),
    (
        {"hours": {"tue": [["09:00", "12:00"], ["11:00", "13:00"]]}}, "hours.tue[1]",
        ["11:00-13:00 overlaps hours.tue[0], which ends at 12:00", "merge"],
    ),
    (
        {"hours": {"tue": [["14:00", "18:00"], ["08:00", "15:00"]]}}, "hours.tue[0]",
        ["14:00-18:00 overlaps hours.tue[1], which ends at 15:00"],
    ),
    ({"hours": {"mon": [], "sun": []}}, "hours", ["no weekday has opening hours"]),
    ({"hours": {}}, "hours", ["no weekday has opening hours"]),
    ({"holidays": "FR"}, "holidays", ['"FR" is not an object', "null for no public holidays"]),
    ({"holidays": {"country": "XX"}}, "holidays.country", ['"XX" is not a country supported by holidays 0.109', '"FR"']),
    ({"holidays": {"country": "fr"}}, "holidays.country", ['"fr" is not a country supported', "upper-case"]),
    ({"holidays": {"country": 33}}, "holidays.country", ["33 is not a country supported"]),
    (
        {"holidays": {"country": "FR", "subdivision": "67"}}, "holidays.subdivision",
        ['"67" is not a subdivision of FR in holidays 0.109', "57, 6AE", "Alsace (6AE)", "Moselle (57)"],
    ),
    ({"holidays": {"country": "FR", "subdivision": "Alsace-Moselle"}}, "holidays.subdivision", ['"Alsace-Moselle" is not a subdivision']),
    ({"holidays": {"country": "FR", "subdivision": 57}}, "holidays.subdivision", ['57 is not a string', '"57"']),
    ({"holidays": {"country": None, "subdivision": "57"}}, "holidays.subdivision", ['"57" is given without a country']),
    ({"holidays": {"country": "FR", "subdiv": "57"}}, "holidays.subdiv", ["unknown key", "country, subdivision"]),
    ({"closed_days": ["2026-02-30"]}, "closed_days[0]", ['"2026-02-30" does not exist: February 2026 has 28 days']),
    ({"closed_days": ["2027-02-29"]}, "closed_days[0]", ['"2027-02-29" does not exist: February 2027 has 28 days']),
    ({"closed_days": ["2026-04-31"]}, "closed_days[0]", ['"2026-04-31" does not exist: April 2026 has 30 days']),
    ({"closed_days": ["2026-13-01"]}, "closed_days[0]", ['"2026-13-01" is not a valid date in "YYYY-MM-DD" form']),
    ({"closed_days": ["2026-12-00"]}, "closed_days[0]", ['"2026-12-00" is not a valid date']),
    ({"closed_days": ["2026-12-24", "2026/12/25"]}, "closed_days[1]", ['"2026/12/25" is not a valid date']),
    ({"closed_days": ["20261224"]}, "closed_days[0]", ['"20261224" is not a valid date']),
    ({"closed_days": [20261224]}, "closed_days[0]", ["20261224 is not a valid date"]),
    ({"closed_days": "2026-12-24"}, "closed_days", ['"2026-12-24" is not a list of dates']),
    ({"worked_holidays": ["2027-05-18"]}, "worked_holidays[0]", ["2027-05-18 is not a public holiday in FR"]),
    (
        {"holidays": None, "worked_holidays": ["2027-05-17"]}, "worked_holidays[0]",
        ["2027-05-17 is not a public holiday in this calendar, which has no public holidays"],
    ),
    ({"special_days": [["2026-12-31", []]]}, "special_days", ["is not an object of dates to intervals"]),
    ({"special_days": {"31/12/2026": []}}, "special_days.31/12/2026", ['"31/12/2026" is not a valid date']),
    ({"special_days": {"2026-12-31": [["12:00", "09:00"]]}}, "special_days.2026-12-31[0]", ["end 09:00 is not after start 12:00"]),
    (
        {"closed_days": ["2026-12-31"], "special_days": {"2026-12-31": []}}, "special_days",
        ["2026-12-31 is also listed in closed_days", "one list only"],
    ),
    (
        {"closed_days": ["2027-05-17"], "worked_holidays": ["2027-05-17"]}, "worked_holidays",
        ["2027-05-17 is also listed in closed_days"],
    ),
    ({"closed_day": ["2026-12-24"]}, "closed_day", ["unknown key", "closed_days"]),
]


@pytest.mark.parametrize("changes, field, words", INVALID_CALENDARS)
def test_invalid_calendar_rejected(changes, field, words):
    with pytest.raises(CalendarError) as caught:
        BusinessCalendar.from_json(calendar_json(**changes))

    error = caught.value
    assert isinstance(error, ValueError)
    assert error.field == field
    assert str(error).startswith(f"{field}: ")
    for word in words:
        assert word in str(error)


@pytest.mark.parametrize("data", [None, [], "calendar.json", 3])
def test_calendar_must_be_object(data):
    with pytest.raises(CalendarError, match=r"^calendar: .* is not a JSON object"):
        BusinessCalendar.from_json(data)


def test_optional_keys_may_be_absent():
    calendar = make_calendar(closed_days=MISSING)
    assert calendar.to_json()["closed_days"] == []
    assert "worked_holidays" not in calendar.to_json()
    assert "special_days" not in calendar.to_json()


def test_deprecated_subdivision_raises_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(CalendarError):
            make_calendar(holidays={"country": "FR", "subdivision": "Alsace-Moselle"})


# Arguments of the computing methods.

@pytest.mark.parametrize("method", ["is_open", "next_opening"])
def test_naive_instant_rejected(paris, method):
    with pytest.raises(ValueError, match="has no UTC offset"):
        getattr(paris, method)(datetime(2026, 12, 7, 10, 0))


def test_naive_start_and_end_rejected(paris):
    aware = at("2026-12-07T10:00:00+01:00")
    naive = datetime(2026, 12, 7, 11, 0)
    with pytest.raises(ValueError, match="start .* has no UTC offset"):
        paris.add_business_minutes(naive, 10)
    with pytest.raises(ValueError, match="start .* has no UTC offset"):
        paris.business_minutes_between(naive, aware)
    with pytest.raises(ValueError, match="end .* has no UTC offset"):
        paris.business_minutes_between(aware, naive)


@pytest.mark.parametrize("minutes", [-1, -0.5, float("nan"), float("inf")])
def test_invalid_minutes_rejected(paris, minutes):
    with pytest.raises(ValueError, match="minutes must be a finite number of 0 or more"):
        paris.add_business_minutes(at("2026-12-07T10:00:00+01:00"), minutes)


@pytest.mark.parametrize("minutes", [True, "60", None])
def test_non_number_minutes_rejected(paris, minutes):
    with pytest.raises(TypeError, match="minutes must be a number"):
        paris.add_business_minutes(at("2026-12-07T10:00:00+01:00"), minutes)


def test_open_intervals_takes_a_date(paris):
    with pytest.raises(TypeError, match="day must be a date"):
        paris.open_intervals(at("2026-12-07T10:00:00+01:00"))


# Opening hours of the default calendar (Europe/Paris, 09:00-12:00 and 14:00-18:00 on weekdays).

@pytest.mark.parametrize("instant, expected", [
    ("2026-12-07T09:00:00+01:00", True),   # opening time is inside
    ("2026-12-07T08:59:59+01:00", False),
    ("2026-12-07T11:59:00+01:00", True),
    ("2026-12-07T12:00:00+01:00", False),  # closing time is outside
    ("2026-12-07T13:00:00+01:00", False),  # lunch break
    ("2026-12-07T14:00:00+01:00", True),
    ("2026-12-07T18:00:00+01:00", False),
    ("2026-12-05T10:00:00+01:00", False),  # Saturday
    ("2026-12-07T09:30:00Z", True),        # 10:30 in Paris
    ("2026-12-07T08:30:00-05:00", True),   # 14:30 in Paris
    ("2026-12-25T10:00:00+01:00", False),  # Christmas
])
def test_is_open(paris, instant, expected):
    assert paris.is_open(at(instant)) is expected


@pytest.mark.parametrize("instant, expected", [
    ("2026-12-07T10:15:00+01:00", "2026-12-07T10:15:00+01:00"),  # open: the instant itself
    ("2026-12-07T09:15:00Z", "2026-12-07T10:15:00+01:00"),        # same instant, calendar zone
    ("2026-12-07T07:00:00+01:00", "2026-12-07T09:00:00+01:00"),
    ("2026-12-07T12:00:00+01:00", "2026-12-07T14:00:00+01:00"),
    ("2026-12-04T18:00:00+01:00", "2026-12-07T09:00:00+01:00"),   # Friday evening
    ("2026-12-24T18:30:00+01:00", "2026-12-28T09:00:00+01:00"),   # Christmas on Friday, then weekend
    ("2026-12-31T18:00:00+01:00", "2027-01-04T09:00:00+01:00"),   # New Year's Day on Friday
])
def test_next_opening(paris, instant, expected):
    result = paris.next_opening(at(instant))
    assert result.isoformat() == expected
    assert result.tzinfo == PARIS


def test_open_intervals_of_a_weekday(paris):
    assert paris.open_intervals(date(2026, 12, 7)) == [
        (at("2026-12-07T09:00:00+01:00"), at("2026-12-07T12:00:00+01:00")),
        (at("2026-12-07T14:00:00+01:00"), at("2026-12-07T18:00:00+01:00")),
    ]
    assert all(opens.tzinfo == PARIS for opens, _ in paris.open_intervals(date(2026, 12, 7)))


@pytest.mark.parametrize("day", [date(2026, 12, 5), date(2026, 12, 6)])
def test_open_intervals_weekend(paris, day):
    assert paris.open_intervals(day) == []


# Deadlines.

@pytest.mark.parametrize("start, minutes, expected", [
    ("2026-12-07T11:00:00+01:00", 60, "2026-12-07T12:00:00+01:00"),   # lands on the lunch closing
    ("2026-12-07T11:00:00+01:00", 61, "2026-12-07T14:01:00+01:00"),
    ("2026-12-07T17:00:00+01:00", 60, "2026-12-07T18:00:00+01:00"),   # lands on the evening closing
    ("2026-12-07T09:00:00+01:00", 180, "2026-12-07T12:00:00+01:00"),
    ("2026-12-07T09:00:00+01:00", 420, "2026-12-07T18:00:00+01:00"),  # the whole day
    ("2026-12-07T09:00:00+01:00", 421, "2026-12-08T09:01:00+01:00"),
    ("2026-12-07T12:30:00+01:00", 30, "2026-12-07T14:30:00+01:00"),   # starts in the lunch break
    ("2026-12-07T06:00:00+01:00", 30, "2026-12-07T09:30:00+01:00"),   # starts before opening
    ("2026-12-07T18:00:00+01:00", 1, "2026-12-08T09:01:00+01:00"),    # starts at closing time
    ("2026-12-04T17:30:00+01:00", 60, "2026-12-07T09:30:00+01:00"),   # Friday to Monday
    ("2026-12-04T17:30:00+01:00", 120, "2026-12-07T10:30:00+01:00"),
    ("2026-12-05T10:00:00+01:00", 30, "2026-12-07T09:30:00+01:00"),   # starts on Saturday
    ("2026-12-07T10:00:00+01:00", 0.5, "2026-12-07T10:00:30+01:00"),  # fractional minutes
    ("2026-12-07T10:00:00+01:00", 2100, "2026-12-14T10:00:00+01:00"),  # one business week
])
def test_add_business_minutes(paris, start, minutes, expected):
    result = paris.add_business_minutes(at(start), minutes)
    assert result.isoformat() == expected


@pytest.mark.parametrize("start", ["2026-12-07T10:00:00+01:00", "2026-12-05T10:00:00+01:00", "2026-12-07T08:00:00Z"])
def test_zero_minutes_return_start(paris, start):
    result = paris.add_business_minutes(at(start), 0)
    assert result == at(start)
    assert result.tzinfo == PARIS


def test_start_given_in_utc(paris):
    # Friday 27 March 2026 17:30 in Paris (UTC+1); clocks go forward on Sunday 29 March.
    result = paris.add_business_minutes(at("2026-03-27T16:30:00Z"), 60)
    assert result.isoformat() == "2026-03-30T09:30:00+02:00"


def test_start_given_in_another_offset(paris):
    result = paris.add_business_minutes(at("2026-12-07T06:00:00-05:00"), 30)  # 12:00 in Paris
    assert result.isoformat() == "2026-12-07T14:30:00+01:00"


# Daylight-saving changes of Europe/Paris: 2026-03-29 (02:00 -> 03:00) and 2026-10-25 (03:00 -> 02:00).

def test_office_hours_keep_wall_clock_across_spring_change(paris):
    friday = paris.open_intervals(date(2026, 3, 27))
    monday = paris.open_intervals(date(2026, 3, 30))
    assert friday[0][0].isoformat() == "2026-03-27T09:00:00+01:00"
    assert monday[0][0].isoformat() == "2026-03-30T09:00:00+02:00"
    assert friday[0][0].astimezone(UTC).time() == time(8, 0)
    assert monday[0][0].astimezone(UTC).time() == time(7, 0)
    assert [utc_length(interval) for interval in monday] == [timedelta(hours=3), timedelta(hours=4)]


def test_office_hours_keep_wall_clock_across_autumn_change(paris):
    friday = paris.open_intervals(date(2026, 10, 23))
    monday = paris.open_intervals(date(2026, 10, 26))
    assert friday[1][1].isoformat() == "2026-10-23T18:00:00+02:00"
    assert monday[1][1].isoformat() == "2026-10-26T18:00:00+01:00"
    assert friday[1][1].astimezone(UTC).time() == time(16, 0)
    assert monday[1][1].astimezone(UTC).time() == time(17, 0)


@pytest.mark.parametrize("instant, expected", [
    ("2026-03-27T08:30:00Z", True),   # Friday 09:30 CET
    ("2026-03-27T07:30:00Z", False),  # Friday 08:30 CET
    ("2026-03-30T07:30:00Z", True),   # Monday 09:30 CEST
    ("2026-03-30T06:30:00Z", False),  # Monday 08:30 CEST
    ("2026-03-30T16:30:00Z", False),  # Monday 18:30 CEST
    ("2026-10-23T15:30:00Z", True),   # Friday 17:30 CEST
    ("2026-10-26T16:30:00Z", True),   # Monday 17:30 CET
    ("2026-10-26T17:30:00Z", False),  # Monday 18:30 CET
])
def test_is_open_on_both_sides_of_changes(paris, instant, expected):
    assert paris.is_open(at(instant)) is expected


@pytest.mark.parametrize("start, minutes, expected", [
    ("2026-03-27T17:00:00+01:00", 120, "2026-03-30T10:00:00+02:00"),
    ("2026-10-23T17:00:00+02:00", 120, "2026-10-26T10:00:00+01:00"),
    ("2026-10-23T15:00:00Z", 600, "2026-10-27T11:00:00+01:00"),
])
def test_deadline_across_change_weekend(paris, start, minutes, expected):
    assert paris.add_business_minutes(at(start), minutes).isoformat() == expected


@pytest.mark.parametrize("start, end, minutes", [
    ("2026-03-27T17:00:00+01:00", "2026-03-30T10:00:00+02:00", 120.0),
    ("2026-10-23T17:00:00+02:00", "2026-10-26T10:00:00+01:00", 120.0),
    ("2026-03-27T16:00:00Z", "2026-03-30T08:00:00Z", 120.0),
])
def test_business_minutes_across_change_weekend(paris, start, end, minutes):
    assert paris.business_minutes_between(at(start), at(end)) == minutes


def sunday_calendar(*intervals):
    """Return a Europe/Paris calendar open on Sundays only, in the given intervals."""
    return BusinessCalendar.from_json({
        "timezone": "Europe/Paris", "hours": {"sun": [list(interval) for interval in intervals]}, "holidays": None,
    })


@pytest.fixture(scope="module")
def night_shift():
    """Open 01:00-04:00 every night, across the hours that clocks skip or repeat."""
    return BusinessCalendar.from_json({
        "timezone": "Europe/Paris",
        "hours": {name: [["01:00", "04:00"]] for name in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
        "holidays": None,
    })


def test_night_interval_is_two_hours_in_spring(night_shift):
    interval = night_shift.open_intervals(date(2026, 3, 29))[0]
    assert interval[0].isoformat() == "2026-03-29T01:00:00+01:00"
    assert interval[1].isoformat() == "2026-03-29T04:00:00+02:00"
    assert utc_length(interval) == timedelta(hours=2)
    assert night_shift.business_minutes_between(*interval) == 120.0


def test_night_interval_is_four_hours_in_autumn(night_shift):
    interval = night_shift.open_intervals(date(2026, 10, 25))[0]
    assert interval[0].isoformat() == "2026-10-25T01:00:00+02:00"
    assert interval[1].isoformat() == "2026-10-25T04:00:00+01:00"
    assert utc_length(interval) == timedelta(hours=4)
    assert night_shift.business_minutes_between(*interval) == 240.0


@pytest.mark.parametrize("start, minutes, expected", [
    ("2026-03-29T01:00:00+01:00", 60, "2026-03-29T03:00:00+02:00"),   # 02:00 does not exist
    ("2026-03-29T01:00:00+01:00", 90, "2026-03-29T03:30:00+02:00"),
    ("2026-03-29T01:00:00+01:00", 120, "2026-03-29T04:00:00+02:00"),  # the closing time
    ("2026-03-29T01:00:00+01:00", 121, "2026-03-30T01:01:00+02:00"),
    ("2026-10-25T01:00:00+02:00", 60, "2026-10-25T02:00:00+02:00"),   # first 02:00
    ("2026-10-25T01:00:00+02:00", 120, "2026-10-25T02:00:00+01:00"),  # second 02:00
    ("2026-10-25T01:00:00+02:00", 240, "2026-10-25T04:00:00+01:00"),
])
def test_night_deadlines_across_changes(night_shift, start, minutes, expected):
    assert night_shift.add_business_minutes(at(start), minutes).isoformat() == expected


def test_boundary_in_skipped_hour_is_change_instant():
    calendar = sunday_calendar(("02:15", "02:45"), ("02:45", "05:00"))
    assert calendar.open_intervals(date(2026, 3, 22)) == [
        (at("2026-03-22T02:15:00+01:00"), at("2026-03-22T02:45:00+01:00")),
        (at("2026-03-22T02:45:00+01:00"), at("2026-03-22T05:00:00+01:00")),
    ]
    # On the change day 02:15 and 02:45 do not exist: both mean 03:00 CEST, so the first
    # interval is empty and the second opens at the change.
    intervals = calendar.open_intervals(date(2026, 3, 29))
    assert [(opens.isoformat(), closes.isoformat()) for opens, closes in intervals] == [
        ("2026-03-29T03:00:00+02:00", "2026-03-29T05:00:00+02:00"),
    ]
    assert calendar.business_minutes_between(at("2026-03-29T00:00:00Z"), at("2026-03-29T04:00:00Z")) == 120.0


def test_boundary_in_repeated_hour_is_first_occurrence():
    calendar = sunday_calendar(("02:30", "05:00"))
    opens, closes = calendar.open_intervals(date(2026, 10, 25))[0]
    assert opens.isoformat() == "2026-10-25T02:30:00+02:00"
    assert closes.isoformat() == "2026-10-25T05:00:00+01:00"
    assert utc_length((opens, closes)) == timedelta(hours=3, minutes=30)
    assert calendar.is_open(at("2026-10-25T02:10:00+01:00"))  # the second 02:10 is inside too


# French public holidays.

NATIONAL_HOLIDAYS_ON_WEEKDAYS = [
    date(2026, 1, 1),    # New Year's Day, Thursday
    date(2026, 4, 6),    # Easter Monday
    date(2026, 5, 1),    # Labour Day, Friday
    date(2026, 5, 8),    # Victory in Europe Day, Friday
    date(2026, 5, 14),   # Ascension Thursday
    date(2026, 5, 25),   # Whit Monday (lundi de Pentecôte)
    date(2026, 7, 14),   # Bastille Day, Tuesday
    date(2025, 8, 15),   # Assumption, Friday
    date(2027, 11, 1),   # All Saints' Day, Monday
    date(2026, 11, 11),  # Armistice Day, Wednesday
    date(2026, 12, 25),  # Christmas Day, Friday
]


@pytest.mark.parametrize("day", NATIONAL_HOLIDAYS_ON_WEEKDAYS, ids=str)
def test_national_holiday_closed(paris, day):
    assert day.weekday() < 5
    assert paris.open_intervals(day) == []
    assert not paris.is_open(datetime.combine(day, time(10, 0), tzinfo=PARIS))


@pytest.mark.parametrize("day", NATIONAL_HOLIDAYS_ON_WEEKDAYS, ids=str)
def test_national_holiday_matches_holidays_package(day):
    assert day in holidays.country_holidays("FR", years=day.year)


@pytest.mark.parametrize("start, minutes, expected", [
    ("2026-05-22T17:00:00+02:00", 120, "2026-05-26T10:00:00+02:00"),  # over Whit Monday
    ("2026-05-13T17:00:00+02:00", 120, "2026-05-15T10:00:00+02:00"),  # over Ascension Thursday
    ("2026-04-30T17:00:00+02:00", 120, "2026-05-04T10:00:00+02:00"),  # over 1 May on a Friday
    ("2026-12-24T17:00:00+01:00", 120, "2026-12-28T10:00:00+01:00"),  # over Christmas
    ("2026-07-13T17:30:00+02:00", 60, "2026-07-15T09:30:00+02:00"),   # over 14 July
])
def test_deadline_over_national_holiday(paris, start, minutes, expected):
    assert paris.add_business_minutes(at(start), minutes).isoformat() == expected


def test_window_over_ascension_long_weekend():
    """Ascension Thursday, the Friday bridge as a closed day, then the weekend: four days closed."""
    calendar = make_calendar(closed_days=["2026-05-15"])
    start = at("2026-05-13T17:00:00+02:00")
    deadline = calendar.add_business_minutes(start, 120)

    assert deadline.isoformat() == "2026-05-18T10:00:00+02:00"
    assert calendar.business_minutes_between(start, deadline) == 120.0
    for day in (date(2026, 5, 14), date(2026, 5, 15), date(2026, 5, 16), date(2026, 5, 17)):
        assert calendar.open_intervals(day) == []


def test_window_over_easter_in_moselle():
    """Moselle, Easter 2026: Good Friday, the weekend and Easter Monday are four closed days."""
    calendar = make_calendar(holidays={"country": "FR", "subdivision": "57"})
    assert calendar.add_business_minutes(at("2026-04-02T17:00:00+02:00"), 120).isoformat() == "2026-04-07T10:00:00+02:00"
    national = BusinessCalendar.default()
    assert national.add_business_minutes(at("2026-04-02T17:00:00+02:00"), 120).isoformat() == "2026-04-03T10:00:00+02:00"


# Moselle ("57") and Alsace ("6AE") add Good Friday and 26 December; holidays 0.109 has no
# separate "67" or "68" (rejected above) but accepts the names "Moselle" and "Alsace".
LOCAL_EXTRA_DAYS = [date(2026, 4, 3), date(2027, 3, 26), date(2025, 12, 26), date(2028, 12, 26)]


@pytest.mark.parametrize("subdivision", ["57", "6AE", "Moselle", "Alsace"])
@pytest.mark.parametrize("day", LOCAL_EXTRA_DAYS, ids=str)
def test_alsace_moselle_extra_days_closed(subdivision, day):
    calendar = make_calendar(holidays={"country": "FR", "subdivision": subdivision})
    assert day.weekday() < 5
    assert calendar.open_intervals(day) == []


@pytest.mark.parametrize("day", LOCAL_EXTRA_DAYS, ids=str)
def test_alsace_moselle_extra_days_open_nationally(paris, day):
    assert len(paris.open_intervals(day)) == 2


@pytest.mark.parametrize("subdivision", ["57", "6AE"])
def test_alsace_moselle_keep_national_holidays(subdivision):
    calendar = make_calendar(holidays={"country": "FR", "subdivision": subdivision})
    for day in NATIONAL_HOLIDAYS_ON_WEEKDAYS:
        assert calendar.open_intervals(day) == [], day


def test_subdivision_written_back_as_given():
    calendar = make_calendar(holidays={"country": "FR", "subdivision": "Alsace"})
    assert calendar.to_json()["holidays"] == {"country": "FR", "subdivision": "Alsace"}


# Extensions: worked holidays, special days.

def test_worked_holiday_uses_weekday_hours():
    """The solidarity day: support works on Whit Monday 2027 (17 May)."""
    calendar = make_calendar(worked_holidays=["2027-05-17"])
    assert calendar.open_intervals(date(2027, 5, 17)) == [
        (at("2027-05-17T09:00:00+02:00"), at("2027-05-17T12:00:00+02:00")),
        (at("2027-05-17T14:00:00+02:00"), at("2027-05-17T18:00:00+02:00")),
    ]
    assert calendar.add_business_minutes(at("2027-05-14T17:00:00+02:00"), 120).isoformat() == "2027-05-17T10:00:00+02:00"
    assert BusinessCalendar.default().open_intervals(date(2026, 5, 25)) == []


def test_worked_holiday_on_weekend_stays_closed():
    # 15 August 2026 is a Saturday: working it opens nothing, since Saturday has no hours.
    calendar = make_calendar(worked_holidays=["2026-08-15"])
    assert calendar.open_intervals(date(2026, 8, 15)) == []


def test_special_day_half_day_closure():
    calendar = make_calendar(special_days={"2026-12-31": [["09:00", "12:00"]]})
    assert calendar.open_intervals(date(2026, 12, 31)) == [
        (at("2026-12-31T09:00:00+01:00"), at("2026-12-31T12:00:00+01:00")),
    ]
    # 60 minutes on the 31st, then New Year's Day (Friday) and the weekend.
    assert calendar.add_business_minutes(at("2026-12-31T11:00:00+01:00"), 120).isoformat() == "2027-01-04T10:00:00+01:00"
    assert calendar.add_business_minutes(at("2026-12-31T11:00:00+01:00"), 60).isoformat() == "2026-12-31T12:00:00+01:00"


def test_special_day_empty_closes_day():
    calendar = make_calendar(special_days={"2026-12-07": []})
    assert calendar.open_intervals(date(2026, 12, 7)) == []
    assert calendar.next_opening(at("2026-12-07T10:00:00+01:00")).isoformat() == "2026-12-08T09:00:00+01:00"


def test_special_day_overrides_holiday_and_weekend():
    calendar = make_calendar(special_days={"2026-12-25": [["10:00", "11:00"]], "2026-12-26": [["10:00", "12:00"]]})
    assert calendar.open_intervals(date(2026, 12, 25)) == [(at("2026-12-25T10:00:00+01:00"), at("2026-12-25T11:00:00+01:00"))]
    assert calendar.is_open(at("2026-12-26T11:00:00+01:00"))
    assert calendar.add_business_minutes(at("2026-12-24T17:30:00+01:00"), 120).isoformat() == "2026-12-26T10:30:00+01:00"


def test_closed_day_closes_weekday():
    calendar = make_calendar(closed_days=["2026-12-24"])
    assert calendar.open_intervals(date(2026, 12, 24)) == []
    assert calendar.add_business_minutes(at("2026-12-23T17:00:00+01:00"), 120).isoformat() == "2026-12-28T10:00:00+01:00"


def test_moselle_sample_file():
    calendar = BusinessCalendar.from_json(load_sample("moselle-extended.json"))
    # Wednesday 30 December 17:30; the 31st is a half day, 1 January a holiday, Saturday 2 January
    # a special morning.
    assert calendar.add_business_minutes(at("2026-12-30T16:30:00Z"), 240).isoformat() == "2027-01-02T09:30:00+01:00"
    assert calendar.open_intervals(date(2027, 3, 26)) == []   # Good Friday in Moselle
    assert calendar.open_intervals(date(2027, 5, 7)) == []    # bridge after Ascension
    assert len(calendar.open_intervals(date(2027, 5, 17))) == 2  # solidarity day worked


# Business minutes between two instants.

@pytest.mark.parametrize("start, end, minutes", [
    ("2026-12-07T10:00:00+01:00", "2026-12-07T11:30:00+01:00", 90.0),
    ("2026-12-07T11:00:00+01:00", "2026-12-07T15:00:00+01:00", 120.0),   # lunch not counted
    ("2026-12-07T07:00:00+01:00", "2026-12-07T20:00:00+01:00", 420.0),
    ("2026-12-07T09:00:00+01:00", "2026-12-14T09:00:00+01:00", 2100.0),  # one week
    ("2026-12-05T09:00:00+01:00", "2026-12-06T20:00:00+01:00", 0.0),     # weekend
    ("2026-12-07T10:00:00+01:00", "2026-12-07T10:00:30+01:00", 0.5),
    ("2026-12-07T11:00:00+01:00", "2026-12-07T10:00:00+01:00", 0.0),     # end before start
    ("2026-12-07T10:00:00+01:00", "2026-12-07T10:00:00+01:00", 0.0),
    ("2026-12-07T09:00:00Z", "2026-12-07T10:00:00+01:00", 0.0),          # same instant
])
def test_business_minutes_between(paris, start, end, minutes):
    assert paris.business_minutes_between(at(start), at(end)) == minutes


def test_between_inverts_add(paris):
    generator = random.Random(5)
    base = at("2026-01-01T00:00:00+01:00")
    for _ in range(300):
        start = base + timedelta(minutes=generator.randrange(0, 2 * 365 * 24 * 60))
        minutes = generator.choice([1, 15, 59, 60, 61, 180, 420, 421, 2100, generator.randrange(1, 20000)])
        deadline = paris.add_business_minutes(start, minutes)
        assert paris.business_minutes_between(start, deadline) == minutes, (start, minutes)
        just_before = deadline.astimezone(UTC) - timedelta(seconds=1)
        assert paris.business_minutes_between(start, just_before) < minutes


# An independent check: count business minutes one UTC minute at a time from the rules in plain
# words (local weekday, local time, French holidays), and compare with the calendar's deadlines.

def oracle_deadlines(start, minute_counts, closed_days):
    """Return {minutes: deadline} by walking UTC minutes from `start`, for the default hours."""
    holiday_dates = holidays.country_holidays("FR", years=range(start.year, start.year + 2))
    instant = start.astimezone(UTC)
    counted = 0
    deadlines = {}
    while len(deadlines) < len(minute_counts):
        local = instant.astimezone(PARIS)
        open_now = (
            local.weekday() < 5
            and local.date() not in holiday_dates
            and local.date() not in closed_days
            and (time(9) <= local.time() < time(12) or time(14) <= local.time() < time(18))
        )
        instant += timedelta(minutes=1)
        if open_now:
            counted += 1
            if counted in minute_counts:
                deadlines[counted] = instant
    return deadlines


@pytest.mark.parametrize("start", [
    "2026-03-26T10:17:00+01:00",  # spring change weekend
    "2026-10-22T16:03:00+02:00",  # autumn change weekend
    "2026-05-12T11:41:00+02:00",  # Ascension with its bridge, then Whit Monday
    "2026-12-22T09:00:00+01:00",  # Christmas and New Year
    "2026-07-10T13:00:00+02:00",  # 14 July
])
def test_deadlines_match_minute_by_minute_count(start):
    calendar = make_calendar(closed_days=["2026-05-15"])
    minute_counts = (1, 179, 180, 181, 420, 1000, 3000, 12600)
    expected = oracle_deadlines(at(start), minute_counts, closed_days={date(2026, 5, 15)})
    for minutes in minute_counts:
        assert calendar.add_business_minutes(at(start), minutes) == expected[minutes], minutes


# Long windows and calendars without opening hours.

def test_window_of_several_weeks(paris):
    start = at("2026-09-07T09:00:00+02:00")  # a Monday
    deadline = paris.add_business_minutes(start, 6 * 5 * 420)  # six full business weeks
    assert deadline.isoformat() == "2026-10-16T18:00:00+02:00"
    assert paris.business_minutes_between(start, deadline) == 6 * 5 * 420


def test_window_of_many_years(paris):
    start = at("2026-01-05T09:00:00+01:00")
    minutes = 15 * 52 * 5 * 420  # about fifteen years of business minutes
    deadline = paris.add_business_minutes(start, minutes)
    assert deadline.year in (2041, 2042)
    assert paris.business_minutes_between(start, deadline) == minutes


def test_calendar_out_of_opening_hours_raises():
    # Open on Mondays only, and every Monday of the next 400 days is a closed day.
    mondays = [date(2026, 12, 7) + timedelta(weeks=week) for week in range(60)]
    calendar = make_calendar(hours={"mon": [["09:00", "18:00"]]}, closed_days=[day.isoformat() for day in mondays])
    start = at("2026-12-07T10:00:00+01:00")

    with pytest.raises(CalendarError, match=f"no opening hours within {MAX_CLOSED_DAYS} days after 2026-12-07T10:00:00"):
        calendar.add_business_minutes(start, 60)
    with pytest.raises(CalendarError, match="no opening hours within"):
        calendar.next_opening(start)
    assert calendar.business_minutes_between(start, start + timedelta(days=400)) == 0.0


def test_calendar_runs_out_after_some_hours():
    calendar = make_calendar(
        hours={"mon": [["09:00", "18:00"]]},
        closed_days=[(date(2026, 12, 14) + timedelta(weeks=week)).isoformat() for week in range(60)],
    )
    with pytest.raises(CalendarError, match="no opening hours within 366 days after 2026-12-07T18:00:00\\+01:00"):
        calendar.add_business_minutes(at("2026-12-07T10:00:00+01:00"), 600)
    assert calendar.add_business_minutes(at("2026-12-07T10:00:00+01:00"), 480).isoformat() == "2026-12-07T18:00:00+01:00"
