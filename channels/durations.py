"""Durations as marketers write them: ``90d``, ``2h``, ``30m``, ``1w``, ``45s``, ``1d12h``.

Values that make no sense are refused where they are written, not when they first
break something: a duration longer than a century (``99999999999d`` overflowed
Python's date arithmetic), a negative duration where an amount of time is meant, a
rate of zero, below zero, NaN or infinite (``0/s`` read as "no limit", ``-5`` crashed
``run-once``), a timeout that never ends.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

_PART = re.compile(r"(\d+)\s*([wdhms])")
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
# Longer than any retention window; short enough that ``now - duration`` stays a date.
MAX_DAYS = 36500
_MAX_SECONDS = MAX_DAYS * 86400


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """Parse ``"90d"``-style text (a leading ``-`` or ``+`` is kept: step offsets use it);
    raise ValueError with the accepted forms."""
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
    seconds = 0
    for number, unit in parts:
        # Whole-number digits only (the regex), and far fewer than int() refuses.
        if len(number.lstrip("0")) > 12:
            raise ValueError(f"a duration is at most {MAX_DAYS}d; got {text!r}")
        seconds += int(number) * _UNIT_SECONDS[unit]
    if seconds > _MAX_SECONDS:
        raise ValueError(f"a duration is at most {MAX_DAYS}d; got {text!r}")
    return sign * timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$")
_RATE_SECONDS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600,
                 "hour": 3600}
MIN_RATE = 1 / 3600  # one message an hour
MAX_RATE = 1_000_000.0


def parse_rate(value: Any) -> float:
    """``"25/s"`` -> 25.0 messages per second; a bare number is per second.

    Between one an hour and a million a second: ``0/s`` is not "no limit" (leave
    ``rate`` out for that), and a negative, NaN or infinite rate is a typo."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        rate = float(value)
    else:
        match = _RATE.match(str(value))
        if not match:
            raise ValueError(f"expected a rate like 25/s or 600/min; got {value!r}")
        rate = float(match.group(1)) / _RATE_SECONDS[match.group(2)]
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError(f"a rate must be more than 0 (leave 'rate' out for no limit); "
                         f"got {value!r}")
    if rate < MIN_RATE * (1 - 1e-9) or rate > MAX_RATE:
        raise ValueError(f"a rate must be between 1/h and {MAX_RATE:.0f}/s; got {value!r}")
    return rate


def _not_negative(delta: timedelta) -> timedelta:
    if delta < timedelta(0):
        raise ValueError(f"must not be negative; got -{format_duration(-delta)}")
    return delta


def _positive(delta: timedelta) -> timedelta:
    if delta <= timedelta(0):
        raise ValueError("must be longer than 0s")
    return delta


Rate = Annotated[float, BeforeValidator(parse_rate)]

# An amount of time: 0 or more, at most MAX_DAYS.
Duration = Annotated[timedelta, BeforeValidator(parse_duration), AfterValidator(_not_negative)]
# An amount of time that must not be zero (a window, a lease, a poll interval).
PositiveDuration = Annotated[timedelta, BeforeValidator(parse_duration),
                             AfterValidator(_positive)]
# Seconds a network operation may take: more than 0, at most an hour, never NaN/inf.
Timeout = Annotated[float, Field(gt=0, le=3600, allow_inf_nan=False)]
