"""Quiet hours: the next minute a message may go out, in the customer's own time zone.

Computed in Python once per distinct time zone (a shop has a handful) and joined in
SQL as a CASE, so planning stays one statement and works on SQLite and PostgreSQL
alike (SQLite has no time-zone database). zoneinfo does the DST arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from dispatcher.config.policy_models import SendWindow
from dispatcher.store.schema import customers

# The reason a row waiting for the customer's allowed hours carries (set when the
# sender puts a claimed row back; rows deferred at planning show it by not_before).
QUIET_HOURS_REASON = "waiting for the customer's quiet hours to end"


@dataclass(frozen=True)
class Slot:
    not_before: datetime  # naive UTC
    deferred: bool  # waits for the window to open


def next_allowed(now: datetime, zone: str, window: SendWindow | None) -> Slot:
    """The first moment at or after ``now`` (naive UTC) inside ``window`` in ``zone``."""
    if window is None:
        return Slot(now, False)
    tz = ZoneInfo(zone)
    local = now.replace(tzinfo=UTC).astimezone(tz)
    if window.allows(local.time().replace(tzinfo=None)):
        return Slot(now, False)
    day = local.date()
    if local.time().replace(tzinfo=None) >= window.start:
        day += timedelta(days=1)
    return Slot(opening(day, window.start, tz), True)


def opening(day: date, start: time, tz: ZoneInfo) -> datetime:
    """The first instant (naive UTC) at which the wall clock in ``tz`` shows ``start``
    or later on ``day``.

    zoneinfo picks the offset of that date, so a DST change overnight moves the UTC
    instant, not the local time. When ``start`` falls in a spring-forward gap (03:30
    on a day whose clocks jump from 03:00 to 04:00) the wall clock never shows it; the
    first allowed instant is the jump itself (04:00 summer time), not ``start`` read
    with the old offset (04:30).
    """
    wanted = datetime.combine(day, start)
    # fold=0: the earlier reading of a repeated autumn time; in a gap, the old offset.
    after = wanted.replace(tzinfo=tz).astimezone(UTC)
    if _wall(after, tz) == wanted:
        return after.replace(tzinfo=None)
    # In the gap: with the new offset we land before the jump, with the old one after
    # it. The jump is the first second in between whose wall clock reaches ``start``.
    before = wanted.replace(tzinfo=tz, fold=1).astimezone(UTC)
    low, high = 0, int((after - before).total_seconds())
    while low < high:
        middle = (low + high) // 2
        if _wall(before + timedelta(seconds=middle), tz) >= wanted:
            high = middle
        else:
            low = middle + 1
    return (before + timedelta(seconds=low)).replace(tzinfo=None)


def _wall(instant: datetime, tz: ZoneInfo) -> datetime:
    """The local wall-clock reading of an aware instant, naive."""
    return instant.astimezone(tz).replace(tzinfo=None)


def known_zones(conn: Connection) -> list[str]:
    """Distinct customer time zones in the store (NULL means the config's zone)."""
    rows = conn.execute(select(customers.c.timezone).where(customers.c.timezone.is_not(None))
                        .distinct())
    return sorted(str(zone) for (zone,) in rows)


