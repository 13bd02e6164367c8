"""Durations as marketers write them: ``90d``, ``2h``, ``30m``, ``1w``, ``45s``, ``1d12h``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator

_PART = re.compile(r"(\d+)\s*([wdhms])")
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """Parse ``"90d"``-style text; raise ValueError with the accepted forms."""
    if isinstance(text, timedelta):
        return text
    if isinstance(text, bool) or not isinstance(text, str):
        raise ValueError(f"expected a duration like 90d, 2h, 30m; got {text!r}")
    compact = text.strip().lower().replace(" ", "")
    sign = 1
    if compact.startswith(("+", "-")):
        sign = -1 if compact[0] == "-" else 1
        compact = compact[1:]
    parts = _PART.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise ValueError(f"expected a duration like 90d, 2h, 30m, 1w; got {text!r}")
    total = timedelta()
    for number, unit in parts:
        total += timedelta(**{_UNITS[unit]: int(number)})
    return sign * total


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$")
_RATE_SECONDS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600,
                 "hour": 3600}


def parse_rate(value: Any) -> float:
    """``"25/s"`` -> 25.0 messages per second."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    match = _RATE.match(str(value))
    if not match:
        raise ValueError(f"expected a rate like 25/s or 600/min; got {value!r}")
    return float(match.group(1)) / _RATE_SECONDS[match.group(2)]


Rate = Annotated[float, BeforeValidator(parse_rate)]

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
