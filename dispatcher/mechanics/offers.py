"""Time-limited offers in the customer's own words (locale + time zone) for templates;
the expiry itself is ``CampaignConfig.expiry_utc`` / ``expired_at``."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

UTC = ZoneInfo("UTC")


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
