"""Time-limited offers: ``expires_at`` in UTC for the planner and sender, and in the
customer's own words (locale + time zone) for templates."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from ..config.models import CampaignConfig

UTC = ZoneInfo("UTC")


def local_to_utc(value: date | datetime, timezone: str, end_of_day: bool = False) -> datetime:
    """A config date/time (naive = in ``timezone``) as naive UTC.

    A bare date means the start of that day, or its last second with ``end_of_day``
    (an offer that "expires on 31 December" is still good on the 31st).
    """
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(23, 59, 59) if end_of_day else time(0, 0))
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(timezone))
    return value.astimezone(UTC).replace(tzinfo=None)


def expires_at_utc(campaign: CampaignConfig, timezone: str) -> datetime | None:
    if campaign.expires_at is None:
        return None
    return local_to_utc(campaign.expires_at, timezone, end_of_day=True)


def is_expired(campaign: CampaignConfig, timezone: str, now: datetime) -> bool:
    deadline = expires_at_utc(campaign, timezone)
    return deadline is not None and now >= deadline


def format_local(moment: datetime | None, locale: str | None, timezone: str | None,
                 default_timezone: str, with_time: bool = True, short: bool = False) -> str:
    """``31 грудня 2026 р., 23:59`` / ``December 31, 2026, 11:59 PM`` in the customer's
    zone; ``short``: the day and month only (``31 грудня`` / ``December 31``), for SMS."""
    if moment is None:
        return ""
    from babel.core import Locale, UnknownLocaleError
    from babel.dates import format_date, format_skeleton, format_time

    zone = ZoneInfo(timezone or default_timezone)
    local = moment.replace(tzinfo=UTC).astimezone(zone)
    try:
        babel_locale = Locale.parse((locale or "en").replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        babel_locale = Locale.parse("en")
    if short:
        return format_skeleton("MMMMd", local.date(), locale=babel_locale)
    day = format_date(local.date(), "long", locale=babel_locale)
    if not with_time:
        return day
    return f"{day}, {format_time(local.time(), 'short', locale=babel_locale)}"
