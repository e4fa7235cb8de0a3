"""Business calendars: when the support team is open, and business time counted on those hours.

A calendar contains a time zone, opening intervals per weekday, the public holidays of a country
(from the `holidays` package), extra closed days, public holidays that support works anyway, and
days with hours of their own. Its JSON form is described in docs/sla-calendar.md and parsed by
`calendar_json`; `from_json` validates it and `to_json` writes it back.

Opening hours are wall-clock times in the calendar's time zone, but business time is measured
between real instants (UTC). So an interval 01:00-04:00 lasts 2 hours on the night clocks go
forward and 4 hours on the night they go back, and office hours keep their wall-clock times while
their UTC offset changes. An opening or closing time that falls in the hour repeated when clocks
go back means its first occurrence. One that falls in the hour skipped when clocks go forward
means the instant of the change.

The module is pure: no Flask, no database. A calendar is immutable once built, and its caches
(holiday tables per year, intervals per day) are safe to share between threads.
"""

import math
from datetime import date, datetime, time, timedelta, timezone

import holidays

from .calendar_json import (
    MINUTES_PER_DAY,
    WEEKDAYS,
    CalendarError,
    check_keys,
    format_intervals,
    invalid,
    parse_dates,
    parse_holidays,
    parse_hours,
    parse_special_days,
    parse_timezone,
)

__all__ = ["BusinessCalendar", "CalendarError", "DEFAULT_CALENDAR", "MAX_CLOSED_DAYS"]

# Searching forward for opening hours stops after this many days in a row without any.
MAX_CLOSED_DAYS = 366

DEFAULT_CALENDAR = {
    "timezone": "Europe/Paris",
    "hours": {
        **{name: [["09:00", "12:00"], ["14:00", "18:00"]] for name in WEEKDAYS[:5]},
        "sat": [],
        "sun": [],
    },
    "holidays": {"country": "FR", "subdivision": None},
    "closed_days": [],
}

_DAY_CACHE_MAX_ENTRIES = 4096
_UTC = timezone.utc


class BusinessCalendar:
    """The opening hours of a support team, and business time measured on them.

    Build one with `from_json` or `default`. Every method taking a datetime requires an aware one
    (ValueError otherwise) and returns datetimes in the calendar's time zone.
    """

    def __init__(self, *, timezone, hours, country, subdivision, closed_days=frozenset(),
                 worked_holidays=frozenset(), special_days=None):
        """Store already validated parts. Use `from_json` to build a calendar from its JSON form."""
        self.timezone = timezone
        self._hours = hours  # one tuple of (start, end) minutes per weekday, Monday first
        self._country = country
        self._subdivision = subdivision
        self._closed_days = frozenset(closed_days)
        self._worked_holidays = frozenset(worked_holidays)
        self._special_days = dict(special_days or {})
        self._holiday_years = {}
        self._day_intervals = {}

    @classmethod
    def from_json(cls, data):
        """Build a calendar from its JSON form, or raise CalendarError naming the first invalid field."""
        check_keys(data)
        zone = parse_timezone(data["timezone"])
        hours = parse_hours(data["hours"])
        country, subdivision = parse_holidays(data["holidays"])
        calendar = cls(
            timezone=zone,
            hours=hours,
            country=country,
            subdivision=subdivision,
            closed_days=parse_dates(data.get("closed_days", []), "closed_days"),
            worked_holidays=parse_dates(data.get("worked_holidays", []), "worked_holidays"),
            special_days=parse_special_days(data.get("special_days", {})),
        )
        calendar._check_day_lists(data)
        return calendar

    def _check_day_lists(self, data):
        """Reject a date named in two of closed_days, worked_holidays and special_days, and a
        worked holiday that is not a public holiday, since both are most likely typing mistakes."""
        lists = {
            "closed_days": self._closed_days,
            "worked_holidays": self._worked_holidays,
            "special_days": frozenset(self._special_days),
        }
        names = list(lists)
        for position, first in enumerate(names):
            for second in names[position + 1:]:
                both = sorted(lists[first] & lists[second])
                if both:
                    raise invalid(
                        second, f"{both[0].isoformat()} is also listed in {first}; keep it in one list only",
                        "day_in_two_lists", day=both[0].isoformat(), other=first,
                    )

        for index, text in enumerate(data.get("worked_holidays", [])):
            day = date.fromisoformat(text)
            if day not in self._public_holidays(day.year):
                where = self._country or "this calendar, which has no public holidays"
                raise invalid(
                    f"worked_holidays[{index}]", f"{text} is not a public holiday in {where}; "
                    "list only public holidays that support works",
                    "not_public_holiday", day=text, country=self._country or "",
                )

    @classmethod
    def default(cls):
        """Return the product's default calendar: Europe/Paris, Monday to Friday 09:00-12:00 and
        14:00-18:00, French public holidays."""
        return cls.from_json(DEFAULT_CALENDAR)

    def to_json(self):
        """Return the JSON form, which `from_json` reads back into an equal calendar.

        Every weekday is written, closed ones as []. The extension keys worked_holidays and
        special_days are written only when not empty, so a calendar in the basic form stays in it.
        """
        data = {
            "timezone": self.timezone.key,
            "hours": {name: format_intervals(hours) for name, hours in zip(WEEKDAYS, self._hours)},
            "holidays": None,
            "closed_days": sorted(day.isoformat() for day in self._closed_days),
        }
        if self._country:
            data["holidays"] = {"country": self._country, "subdivision": self._subdivision}
        if self._worked_holidays:
            data["worked_holidays"] = sorted(day.isoformat() for day in self._worked_holidays)
        if self._special_days:
            data["special_days"] = {
                day.isoformat(): format_intervals(self._special_days[day])
                for day in sorted(self._special_days)
            }
        return data

    def __eq__(self, other):
        if not isinstance(other, BusinessCalendar):
            return NotImplemented
        return self.to_json() == other.to_json()

    __hash__ = None

    def __repr__(self):
        return f"BusinessCalendar.from_json({self.to_json()!r})"

    # Questions about instants and days.

    def is_open(self, instant):
        """Tell whether support is open at `instant`. An interval includes its opening time and
        excludes its closing time."""
        instant = _as_utc(instant, "instant")
        day = instant.astimezone(self.timezone).date()
        return any(opens <= instant < closes for opens, closes in self._utc_intervals(day))

    def next_opening(self, instant):
        """Return `instant` itself if support is open then, else the start of the next opening
        interval. Raise CalendarError if none starts within MAX_CLOSED_DAYS days."""
        instant = _as_utc(instant, "instant")
        opens, _ = next(self._open_intervals_after(instant))
        return opens.astimezone(self.timezone)

    def open_intervals(self, day):
        """Return the opening intervals of the local date `day` as (opens, closes) pairs of aware
        datetimes in the calendar's time zone, in order, or [] when support is closed all day.

        Python subtracts two datetimes that share a tzinfo by wall-clock time, so convert them to
        UTC before measuring an interval that spans a daylight-saving change.
        """
        if isinstance(day, datetime) or not isinstance(day, date):
            raise TypeError(f"day must be a date, not {type(day).__name__}")
        return [
            (opens.astimezone(self.timezone), closes.astimezone(self.timezone))
            for opens, closes in self._utc_intervals(day)
        ]

    # Business time.

    def add_business_minutes(self, start, minutes):
        """Return the instant at which `minutes` of business time have passed since `start`.

        Counting begins at the next opening when `start` is outside opening hours. A deadline that
        uses up an interval exactly is that interval's closing time, not the next opening. Zero
        minutes return `start` itself, open or not. Raise ValueError for a negative or non-finite
        number of minutes, and CalendarError when the calendar runs out of opening hours.
        """
        start = _as_utc(start, "start")
        remaining = _as_duration(minutes)
        if not remaining:
            return start.astimezone(self.timezone)

        for opens, closes in self._open_intervals_after(start):
            available = closes - opens
            if remaining <= available:
                return (opens + remaining).astimezone(self.timezone)
            remaining -= available

    def business_minutes_between(self, start, end):
        """Return the business minutes between `start` and `end` (0.0 when `end` <= `start`)."""
        start = _as_utc(start, "start")
        end = _as_utc(end, "end")
        if end <= start:
            return 0.0

        total = timedelta()
        for opens, closes in self._open_intervals_after(start, until=end):
            if opens >= end:
                break
            total += min(closes, end) - opens
        return total / timedelta(minutes=1)

    # Internals. All instants below are UTC datetimes, because arithmetic on aware datetimes
    # that share a ZoneInfo is wall-clock arithmetic and would be wrong across DST changes.

    def _open_intervals_after(self, instant, until=None):
        """Yield the opening intervals that end after `instant`, the first one cut to start at
        `instant`, in order. Stop after the local date of `until` when given. Without `until`, raise
        CalendarError after MAX_CLOSED_DAYS days in a row without opening hours."""
        day = instant.astimezone(self.timezone).date()
        last_day = until.astimezone(self.timezone).date() if until is not None else None
        searched_from = instant
        closed_days = 0
        while last_day is None or day <= last_day:
            found = False
            for opens, closes in self._utc_intervals(day):
                if closes > instant:
                    found = True
                    yield max(opens, instant), closes
                    searched_from = closes
            closed_days = 0 if found else closed_days + 1
            if last_day is None and closed_days > MAX_CLOSED_DAYS:
                raise CalendarError(
                    f"calendar: no opening hours within {MAX_CLOSED_DAYS} days after "
                    f"{searched_from.astimezone(self.timezone).isoformat()}; add opening hours or "
                    "remove closed days",
                    code="no_opening_ahead",
                    params={"days": str(MAX_CLOSED_DAYS), "after": searched_from.astimezone(self.timezone).isoformat()},
                )
            try:
                day += timedelta(days=1)
            except OverflowError:
                raise CalendarError("calendar: business time runs past the year 9999", code="past_year_9999") from None

    def _utc_intervals(self, day):
        """Return the opening intervals of the local date `day` as (opens, closes) UTC pairs."""
        intervals = self._day_intervals.get(day)
        if intervals is None:
            intervals = []
            for start, end in self._local_hours(day):
                opens, closes = self._instant(day, start), self._instant(day, end)
                if opens < closes:  # an interval inside the hour skipped in spring is empty
                    intervals.append((opens, closes))
            if len(self._day_intervals) >= _DAY_CACHE_MAX_ENTRIES:
                self._day_intervals.clear()
            self._day_intervals[day] = intervals
        return intervals

    def _local_hours(self, day):
        """Return the (start, end) wall-clock minutes of `day`: its special hours if any, none on
        a closed day or a public holiday that is not worked, else its weekday's hours."""
        special = self._special_days.get(day)
        if special is not None:
            return special
        if day in self._closed_days:
            return ()
        if day in self._public_holidays(day.year) and day not in self._worked_holidays:
            return ()
        return self._hours[day.weekday()]

    def _public_holidays(self, year):
        dates = self._holiday_years.get(year)
        if dates is None:
            if self._country is None:
                dates = frozenset()
            else:
                table = holidays.country_holidays(self._country, subdiv=self._subdivision, years=year)
                dates = frozenset(table)
            self._holiday_years[year] = dates
        return dates

    def _instant(self, day, minute):
        """Return the UTC instant at which local wall-clock time `minute` of `day` occurs."""
        if minute == MINUTES_PER_DAY:
            day, minute = day + timedelta(days=1), 0
        local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=self.timezone)
        instant = local.astimezone(_UTC)  # fold=0: the first occurrence of a repeated time
        if instant.astimezone(self.timezone).replace(tzinfo=None) == local.replace(tzinfo=None):
            return instant
        # `local` is skipped when clocks go forward: fold=0 maps it past the change and fold=1
        # before it, so the change lies between the two.
        return self._clock_change_between(local.replace(fold=1).astimezone(_UTC), instant)

    def _clock_change_between(self, before, after):
        """Return the first instant in (before, after] that has the UTC offset of `after`,
        found by bisection to the microsecond."""
        offset_after = after.astimezone(self.timezone).utcoffset()
        while after - before > timedelta(microseconds=1):
            middle = before + (after - before) / 2
            if middle.astimezone(self.timezone).utcoffset() == offset_after:
                after = middle
            else:
                before = middle
        return after


def _as_utc(instant, name):
    if not isinstance(instant, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(instant).__name__}")
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{name} {instant.isoformat()} has no UTC offset; give a timezone-aware datetime")
    return instant.astimezone(_UTC)


def _as_duration(minutes):
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)):
        raise TypeError(f"minutes must be a number, not {type(minutes).__name__}")
    if not math.isfinite(minutes) or minutes < 0:
        raise ValueError(f"minutes must be a finite number of 0 or more, got {minutes}")
    try:
        return timedelta(minutes=minutes)
    except OverflowError:
        raise ValueError(f"minutes {minutes} is too large for a duration") from None
