"""Quiet hours: the next minute a message may go out, in the customer's own time zone.

Computed in Python once per distinct time zone (a shop has a handful) and joined in
SQL as a CASE, so planning stays one statement and works on SQLite and PostgreSQL
alike (SQLite has no time-zone database). zoneinfo does the DST arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from ..config.load import LoadedConfig
from ..config.policy_models import SendWindow
from ..store.schema import customers


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
    # Wall-clock 09:00 on that date in that zone; zoneinfo picks the right offset,
    # so a DST change overnight moves the UTC instant, not the local time.
    opens = datetime.combine(day, window.start, tzinfo=tz)
    # A window opening inside a DST gap (e.g. 02:30 on spring-forward day) does not
    # exist locally; round-tripping through UTC moves it past the gap.
    opens = opens.astimezone(UTC).astimezone(tz)
    return Slot(opens.astimezone(UTC).replace(tzinfo=None), True)


def known_zones(conn: Connection) -> list[str]:
    """Distinct customer time zones in the store (NULL means the config's zone)."""
    rows = conn.execute(select(customers.c.timezone).where(customers.c.timezone.is_not(None))
                        .distinct())
    return sorted(str(zone) for (zone,) in rows)


def to_utc(moment: datetime, zone: str) -> datetime:
    """A config datetime (naive = ``zone``) as naive UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment.astimezone(UTC).replace(tzinfo=None)


def campaign_deadline(loaded: LoadedConfig, campaign_name: str) -> datetime | None:
    """The campaign's deadline as naive UTC (``deadline``, or ``expires_at`` if a
    campaign model carries one)."""
    campaign = loaded.config.campaigns[campaign_name]
    deadline = campaign.deadline or getattr(campaign, "expires_at", None)
    return to_utc(deadline, loaded.config.timezone) if deadline is not None else None
