"""The JSON form of a business calendar: parsing, validation and the error it raises.

Times are kept as minutes since midnight (0 to 1440) and intervals as (start, end) pairs of those
minutes, sorted by start. Every error message starts with the path of the invalid value, states
what is wrong with it and what to write instead. Every error also carries a machine `code` and its
`params`, so that a screen can word it in its own language.
"""

import calendar
import json
import re
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# English month names for the messages, fixed so that the process locale never changes them.
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
               "October", "November", "December")
MINUTES_PER_DAY = 24 * 60

REQUIRED_KEYS = ("timezone", "hours", "holidays")
OPTIONAL_KEYS = ("closed_days", "worked_holidays", "special_days")
HOLIDAY_KEYS = ("country", "subdivision")

_TIME_PATTERN = re.compile(r"(\d\d):(\d\d)")
_DATE_PATTERN = re.compile(r"\d{4}-\d\d-\d\d")


class CalendarError(ValueError):
    """An invalid calendar, or a calendar with no opening hours where some are needed.

    `field` is the path of the offending JSON value (`"hours.mon[1]"`), or None when the error is
    about the calendar as a whole. The English message starts with that path. `code` names the
    problem (`"bad_time"`) and `params` contains the values a translated sentence needs, as text
    (`{"value": "25:00", "role": "end"}`).
    """

    def __init__(self, message, field=None, code="invalid_calendar", params=None):
        super().__init__(message)
        self.field = field
        self.code = code
        self.params = dict(params or {})


def invalid(field, problem, code, **params):
    """Return a CalendarError about the JSON value at path `field`."""
    return CalendarError(f"{field}: {problem}", field=field, code=code, params=params)


def show(value):
    """Render a JSON value for an error message, shortened when long."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def as_param(value):
    """Render a JSON value as an error parameter: a string as it is, anything else as JSON."""
    if isinstance(value, str):
        return value if len(value) <= 60 else value[:57] + "..."
    return show(value)


def _parse_time(text, field, role):
    match = _TIME_PATTERN.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise invalid(field, f'{role} {show(text)} is not a time in "HH:MM" form; write e.g. "09:00"',
                      "bad_time_format", value=as_param(text), role=role)
    hours, minutes = int(match[1]), int(match[2])
    if role == "end" and (hours, minutes) == (24, 0):
        return MINUTES_PER_DAY
    if hours > 23 or minutes > 59:
        raise invalid(
            field, f'{role} {show(text)} is not a valid time; use 00:00 to 23:59, '
            f'and "24:00" only as an end for midnight at the end of the day',
            "bad_time", value=as_param(text), role=role,
        )
    return hours * 60 + minutes


def format_time(minute):
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _format_interval(interval):
    return f"{format_time(interval[0])}-{format_time(interval[1])}"


def parse_intervals(value, field):
    """Parse a list of ["HH:MM", "HH:MM"] pairs, rejecting bad times, empty and overlapping intervals."""
    if not isinstance(value, list):
        raise invalid(
            field, f'{show(value)} is not a list of [start, end] intervals; '
            f'write e.g. [["09:00", "12:00"], ["14:00", "18:00"]], or [] for closed',
            "not_interval_list", value=as_param(value),
        )
    intervals = []
    for index, pair in enumerate(value):
        where = f"{field}[{index}]"
        if not isinstance(pair, list) or len(pair) != 2:
            raise invalid(where, f'{show(pair)} is not a [start, end] pair; write e.g. ["09:00", "12:00"]',
                          "not_interval_pair", value=as_param(pair))
        start = _parse_time(pair[0], where, "start")
        end = _parse_time(pair[1], where, "end")
        if end <= start:
            raise invalid(
                where, f"end {pair[1]} is not after start {pair[0]}; write the opening time first, "
                f'and split an interval that crosses midnight into one ending at "24:00" and one '
                f'starting at "00:00" the next day',
                "end_not_after_start", start=pair[0], end=pair[1], role="end",
            )
        intervals.append((start, end, where))

    intervals.sort()
    for (_, previous_end, previous_where), (start, end, where) in zip(intervals, intervals[1:]):
        if start < previous_end:
            raise invalid(
                where, f"{_format_interval((start, end))} overlaps {previous_where}, which ends at "
                f"{format_time(previous_end)}; merge the two intervals or make one end before "
                "the other starts",
                "overlap", start=format_time(start), end=format_time(end), previous_end=format_time(previous_end),
            )
    return tuple((start, end) for start, end, _ in intervals)


def _parse_date(text, field):
    if isinstance(text, str) and _DATE_PATTERN.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            _check_day_exists(text, field)
    raise invalid(field, f'{show(text)} is not a valid date in "YYYY-MM-DD" form; write e.g. "2026-12-24"',
                  "bad_date", value=as_param(text))


def _check_day_exists(text, field):
    """Raise `no_such_date` for a well-formed date past its month's last day, such as "2026-02-30"."""
    year, month, day = (int(part) for part in text.split("-"))
    if not (1 <= year and 1 <= month <= 12 and day >= 1):
        return
    days_in_month = calendar.monthrange(year, month)[1]
    if day > days_in_month:
        raise invalid(
            field, f"{show(text)} does not exist: {MONTH_NAMES[month - 1]} {year} has {days_in_month} days; "
            "write a date that exists",
            "no_such_date", value=text, year=str(year), month=str(month), day=str(day),
            days_in_month=str(days_in_month),
        )


def parse_dates(value, field):
    """Parse a list of "YYYY-MM-DD" dates into a frozenset."""
    if not isinstance(value, list):
        raise invalid(field, f'{show(value)} is not a list of dates; write e.g. ["2026-12-24"], or []',
                      "not_date_list", value=as_param(value))
    return frozenset(_parse_date(text, f"{field}[{index}]") for index, text in enumerate(value))


def parse_special_days(value):
    """Parse special_days: a dict from date to that day's intervals."""
    if not isinstance(value, dict):
        raise invalid(
            "special_days", f'{show(value)} is not an object of dates to intervals; '
            f'write e.g. {{"2026-12-31": [["09:00", "12:00"]]}}',
            "not_special_days_object", value=as_param(value),
        )
    return {
        _parse_date(text, f"special_days.{text}"): parse_intervals(intervals, f"special_days.{text}")
        for text, intervals in value.items()
    }


def parse_hours(value):
    """Parse the weekly hours into a tuple of seven interval tuples, Monday first. A missing
    weekday is closed, but at least one weekday must have opening hours."""
    if not isinstance(value, dict):
        raise invalid(
            "hours", f'{show(value)} is not an object of weekdays; write e.g. {{"mon": [["09:00", "18:00"]]}}',
            "not_hours_object", value=as_param(value),
        )
    for name in value:
        if name not in WEEKDAYS:
            raise invalid(
                f"hours.{name}", f"unknown weekday {show(name)}; the weekday keys are {', '.join(WEEKDAYS)}",
                "unknown_weekday", value=name, allowed=", ".join(WEEKDAYS),
            )
    hours = tuple(parse_intervals(value.get(name, []), f"hours.{name}") for name in WEEKDAYS)
    if not any(hours):
        raise invalid(
            "hours", 'no weekday has opening hours; give at least one interval, e.g. "mon": [["09:00", "18:00"]]',
            "no_opening_hours",
        )
    return hours


def parse_timezone(value):
    """Return the ZoneInfo named by an IANA key such as "Europe/Paris"."""
    if isinstance(value, str):
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    raise invalid("timezone", f'{show(value)} is not a known IANA time zone; write e.g. "Europe/Paris"',
                  "bad_timezone", value=as_param(value))


def parse_holidays(value):
    """Return (country, subdivision) of the public holiday table, or (None, None) for none."""
    if value is None:
        return None, None
    if not isinstance(value, dict):
        raise invalid(
            "holidays", f'{show(value)} is not an object; write e.g. {{"country": "FR", "subdivision": null}}, '
            "or null for no public holidays",
            "not_holidays_object", value=as_param(value),
        )
    for key in value:
        if key not in HOLIDAY_KEYS:
            raise invalid(f"holidays.{key}", f"unknown key; the keys of holidays are {', '.join(HOLIDAY_KEYS)}",
                          "unknown_key", key=key, allowed=", ".join(HOLIDAY_KEYS))
    country = value.get("country")
    subdivision = value.get("subdivision")
    if country is None:
        if subdivision is not None:
            raise invalid(
                "holidays.subdivision", f"{show(subdivision)} is given without a country; set holidays.country too",
                "subdivision_without_country", value=as_param(subdivision),
            )
        return None, None

    version = f"holidays {holidays.__version__}"
    try:
        table = holidays.country_holidays(country, years=()) if isinstance(country, str) else None
    except NotImplementedError:
        table = None
    if table is None:
        raise invalid(
            "holidays.country", f"{show(country)} is not a country supported by {version}; "
            'use an upper-case ISO 3166-1 alpha-2 code such as "FR", or null for no public holidays',
            "unknown_country", value=as_param(country),
        )
    if subdivision is None:
        return country, None
    if not isinstance(subdivision, str):
        raise invalid(
            "holidays.subdivision", f'{show(subdivision)} is not a string; write the code in quotes, e.g. "57"',
            "subdivision_not_string", value=as_param(subdivision),
        )

    # Checked here rather than left to the holidays package, because the package also accepts
    # deprecated names (with a DeprecationWarning) that later versions drop.
    aliases = getattr(table, "subdivisions_aliases", {}) or {}
    if subdivision not in table.subdivisions and subdivision not in aliases:
        known = ", ".join(table.subdivisions) or "none"
        named = ", ".join(f"{alias} ({code})" for alias, code in aliases.items())
        raise invalid(
            "holidays.subdivision", f"{show(subdivision)} is not a subdivision of {country} in {version}; "
            f"the subdivisions are {known}" + (f"; accepted names: {named}" if named else "")
            + "; or use null for the national holidays only",
            "unknown_subdivision", value=subdivision, country=country, allowed=known,
        )
    return country, subdivision


def check_keys(data):
    """Reject a calendar that is not an object, lacks a required key or has an unknown one."""
    if not isinstance(data, dict):
        raise CalendarError(f"calendar: {show(data)} is not a JSON object; see docs/sla-calendar.md",
                            code="not_calendar_object", params={"value": as_param(data)})
    known_keys = REQUIRED_KEYS + OPTIONAL_KEYS
    for key in data:
        if key not in known_keys:
            raise invalid(key, f"unknown key; the keys of a calendar are {', '.join(known_keys)}",
                          "unknown_key", key=key, allowed=", ".join(known_keys))
    for key in REQUIRED_KEYS:
        if key not in data:
            raise invalid(key, "missing; see docs/sla-calendar.md for the calendar format", "missing_key", key=key)


def format_intervals(intervals):
    """Return intervals in their JSON form, e.g. [["09:00", "12:00"]]."""
    return [[format_time(start), format_time(end)] for start, end in intervals]
