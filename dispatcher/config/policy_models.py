"""Config for the customer-protection policy: frequency caps, quiet hours, bounces.

    caps:
      global: 3 per 7d            # all marketing messages, every channel
      channels: {sms: 2 per 7d}   # per channel
    campaigns:
      win_back: {cap: 1 per 30d, priority: 200, deadline: 2026-12-31T20:00}
    quiet_hours:
      allowed: "09:00-21:00"      # customer's local time; else the config's timezone
      channels: {sms: "09:00-20:00"}
    bounces: {soft_threshold: 3, soft_window: 30d}
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from channels.durations import PositiveDuration, format_duration, parse_duration

_CAP = re.compile(r"^\s*(\d+)\s*(?:per|/)\s*(\S+)\s*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Cap(_Strict):
    """At most ``max`` marketing messages in any rolling window of ``per``."""

    # 0 would never let a message through; the upper bound keeps counts in 64 bits.
    max: int = Field(ge=1, le=1_000_000)
    per: PositiveDuration

    def label(self) -> str:
        """``3/7d``: what a skip reason and the plan funnel show."""
        seconds = int(self.per.total_seconds())
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if seconds % size == 0:
                return f"{self.max}/{seconds // size}{unit}"
        return f"{self.max}/{format_duration(self.per)}"


def _cap(value: Any) -> Any:
    if isinstance(value, str):
        match = _CAP.match(value)
        if not match:
            raise ValueError(f"expected a cap like '3 per 7d'; got {value!r}")
        per = parse_duration(match.group(2))
        if per <= timedelta(0):
            raise ValueError(f"the cap's window must be positive; got {value!r}")
        count = match.group(1).lstrip("0")
        if not count or len(count) > 7 or int(count) > 1_000_000:
            raise ValueError(f"a cap allows 1 to 1000000 messages (0 would never let one "
                             f"through; leave the cap out for none); got {value!r}")
        return {"max": int(count), "per": per}
    return value


CapSpec = Annotated[Cap, BeforeValidator(_cap)]


class CapsConfig(_Strict):
    global_: CapSpec | None = Field(default=None, alias="global")
    channels: dict[str, CapSpec] = Field(default_factory=dict)


_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class SendWindow(_Strict):
    """Local times when messages may go out; ``start > end`` wraps past midnight."""

    start: time
    end: time

    def allows(self, moment: time) -> bool:
        if self.start == self.end:
            return True
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


def _window(value: Any) -> Any:
    if isinstance(value, str):
        match = _WINDOW.match(value)
        if not match:
            raise ValueError(f"expected allowed hours like '09:00-21:00'; got {value!r}")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59:
            raise ValueError(f"not a time of day in {value!r}")
        return {"start": time(h1, m1), "end": time(0, 0) if h2 == 24 else time(h2, m2)}
    return value


WindowSpec = Annotated[SendWindow, BeforeValidator(_window)]


class QuietHoursConfig(_Strict):
    allowed: WindowSpec | None = None
    # A channel's own window replaces the global one for that channel.
    channels: dict[str, WindowSpec] = Field(default_factory=dict)

    def window_for(self, channel: str) -> SendWindow | None:
        return self.channels.get(channel, self.allowed)


class BouncesConfig(_Strict):
    soft_threshold: int = Field(default=3, ge=1)
    soft_window: PositiveDuration = timedelta(days=30)
