"""Fire times of systemd ``OnCalendar=`` expressions, for simulating the shipped timer.

Covers the forms a timer for this service would use (systemd.time(7)): the shorthands
(``hourly``, ``daily``, ...), ``[Weekdays] YYYY-MM-DD HH:MM[:SS] [Zone]`` where each
number is ``*``, a value, a list ``a,b``, a range ``a..b`` or a repetition ``a/b``.
Anything else raises ValueError, so a timer the simulation cannot read fails the test
instead of being half-understood. ``tests/test_nightly_timer.py`` holds this reading
to ``systemd-analyze calendar`` where that is installed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, available_timezones

SHORTHANDS = {
    "minutely": "*-*-* *:*:00",
    "hourly": "*-*-* *:00:00",
    "daily": "*-*-* 00:00:00",
    "monthly": "*-*-01 00:00:00",
    "weekly": "Mon *-*-* 00:00:00",
    "yearly": "*-01-01 00:00:00",
    "annually": "*-01-01 00:00:00",
    "quarterly": "*-01,04,07,10-01 00:00:00",
    "semiannually": "*-01,07-01 00:00:00",
}
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_DATE = re.compile(r"^([^-]+)-([^-]+)-([^-]+)$")


def _values(field: str, low: int, high: int) -> set[int]:
    found: set[int] = set()
    for part in field.split(","):
        if not part:
            raise ValueError(f"empty list item in {field!r}")
        step = 0
        if "/" in part:
            part, _, step_text = part.partition("/")
            step = int(step_text)
            if step <= 0:
                raise ValueError(f"bad repetition in {field!r}")
        if part == "*":
            first, last = low, high
        elif ".." in part:
            a, _, b = part.partition("..")
            first, last = int(a), int(b)
        else:
            first = int(part)
            last = high if step else first
        if not (low <= first <= high and low <= last <= high):
            raise ValueError(f"{field!r} is outside {low}..{high}")
        found.update(range(first, last + 1, step or 1))
    return found


def _weekdays(field: str) -> set[int]:
    days: set[int] = set()
    for part in field.lower().split(","):
        a, _, b = part.partition("..")
        if a[:3] not in WEEKDAYS or (b and b[:3] not in WEEKDAYS):
            raise ValueError(f"unknown weekday in {field!r}")
        start = WEEKDAYS.index(a[:3])
        end = WEEKDAYS.index(b[:3]) if b else start
        days.update(range(start, end + 1))
    return days


@dataclass(frozen=True)
class Calendar:
    weekdays: set[int]
    years: set[int]
    months: set[int]
    days: set[int]
    hours: set[int]
    minutes: set[int]
    seconds: set[int]
    zone: str | None  # the expression's own zone; None: the machine's

    @classmethod
    def parse(cls, expression: str) -> Calendar:
        text = SHORTHANDS.get(expression.strip().lower(), expression.strip())
        words = text.split()
        zone = None
        if words and (words[-1] in available_timezones() or words[-1] == "UTC"):
            zone = words.pop()
        weekdays = set(range(7))
        if words and words[0][:3].lower() in WEEKDAYS:
            weekdays = _weekdays(words.pop(0))
        if any(c in text for c in "~+"):
            raise ValueError(f"unsupported OnCalendar form: {expression!r}")
        date_part, time_part = "*-*-*", "00:00:00"
        for word in words:
            if ":" in word:
                time_part = word
            elif "-" in word:
                date_part = word
            else:
                raise ValueError(f"cannot read {word!r} in OnCalendar={expression}")
        match = _DATE.match(date_part)
        if not match:
            raise ValueError(f"cannot read the date of OnCalendar={expression}")
        year, month, day = match.groups()
        clock = time_part.split(":")
        if len(clock) == 2:
            clock.append("00")
        if len(clock) != 3:
            raise ValueError(f"cannot read the time of OnCalendar={expression}")
        return cls(weekdays,
                   _values(year, 1970, 2199), _values(month, 1, 12), _values(day, 1, 31),
                   _values(clock[0], 0, 23), _values(clock[1], 0, 59),
                   _values(clock[2].split(".")[0], 0, 59), zone)

    def fires(self, start: datetime, end: datetime, machine_zone: str) -> Iterator[datetime]:
        """Elapse times in (start, end], aware UTC, in order. Wall-clock times that do not
        exist (a spring-forward gap) are skipped; a repeated autumn time fires once."""
        tz = ZoneInfo(self.zone or machine_zone)
        utc = ZoneInfo("UTC")
        day = start.astimezone(tz).date() - timedelta(days=1)
        last_day = end.astimezone(tz).date()
        while day <= last_day:
            if self._matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        for second in sorted(self.seconds):
                            wall = datetime.combine(day, time(hour, minute, second))
                            moment = wall.replace(tzinfo=tz).astimezone(utc)
                            if moment.astimezone(tz).replace(tzinfo=None) != wall:
                                continue  # in a DST gap: this wall time never shows
                            if start < moment <= end:
                                yield moment
            day += timedelta(days=1)

    def _matches(self, day: date) -> bool:
        return (day.year in self.years and day.month in self.months and day.day in self.days
                and day.weekday() in self.weekdays)


def fire_times(expressions: list[str], start: datetime, end: datetime,
               machine_zone: str) -> list[datetime]:
    """Every elapse of a timer with these OnCalendar= lines (systemd fires once for
    coinciding ones), aware UTC, in order."""
    moments: set[datetime] = set()
    for expression in expressions:
        moments.update(Calendar.parse(expression).fires(start, end, machine_zone))
    return sorted(moments)
