"""Where decisions get "now" from.

Quiet hours, cron schedules, the demo, reports and promo validity all decide by the
time of day. Each takes a ``Clock`` (a callable returning naive UTC, the store's one
representation of time) instead of reading the system clock, so a test or a
simulation can pin it, and the suite passes at 02:30 as it does at noon. (``--at``
sets only the time a command plans or reports as of; sending and quiet hours at send
time always go by the clock.)

- ``system_clock``: the machine's clock; what production runs on.
- ``clock_at(moment)``: starts at ``moment`` and advances with real (monotonic) time,
  so waits for retries and lease renewals still elapse under a pinned clock.

The CLI commands take their clock from ``current_clock()`` (the system's unless a
caller pinned one with ``using_clock``: tests, or a program embedding the CLI) and
pass it down explicitly; below the CLI nothing reads an ambient clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from zoneinfo import ZoneInfo


def utcnow() -> datetime:
    """Naive UTC: the one representation of time the store uses."""
    return datetime.now(UTC).replace(tzinfo=None)


Clock = Callable[[], datetime]


def local_to_utc(value: date | datetime, zone: str, end_of_day: bool = False) -> datetime:
    """A config date/time (naive = in ``zone``) as naive UTC: the one conversion.

    A bare date means the start of that day, or its last second with ``end_of_day``
    (an offer that "expires on 31 December" is still good on the 31st).
    """
    if not isinstance(value, datetime):
        value = datetime.combine(value, clock_time(23, 59, 59) if end_of_day else clock_time(0, 0))
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(zone))
    return value.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)

system_clock: Clock = utcnow


def clock_at(moment: datetime, source: Callable[[], float] = time.monotonic) -> Clock:
    """A clock showing ``moment`` (naive UTC) now and advancing from there in real time."""
    origin = source()

    def now() -> datetime:
        return moment + timedelta(seconds=source() - origin)

    return now


_CURRENT: ContextVar[Clock] = ContextVar("dispatcher_clock", default=system_clock)


def current_clock() -> Clock:
    """The clock CLI commands decide by."""
    return _CURRENT.get()


@contextmanager
def using_clock(clock: Clock) -> Iterator[Clock]:
    """Run CLI commands inside this block on ``clock``."""
    token = _CURRENT.set(clock)
    try:
        yield clock
    finally:
        _CURRENT.reset(token)
