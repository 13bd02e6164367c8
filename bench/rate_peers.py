"""The loopback Telegram and Twilio peers of the test suite, enforcing a send rate.

Each peer keeps a provider-style token bucket (one second's worth of messages) and
answers over-rate requests the way the provider does: Telegram 429 with
``parameters.retry_after``, Twilio 429 / error 20429 with ``Retry-After``. One 429
can be injected after a given number of accepted messages, to time the recovery.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tests.http_peer import Reply, Request
from tests.telegram_peer import TelegramPeer
from tests.twilio_peer import TwilioPeer


@dataclass
class Meter:
    rate: float
    inject_after: int | None = None  # accepted messages before the injected 429
    retry_after: int = 2
    accepted: list[float] = field(default_factory=list)
    over_rate: int = 0  # 429s the bucket had to give (the sender went too fast)
    injected_at: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.tokens = self.rate
        self.updated = time.monotonic()

    def admit(self) -> str:
        """'ok', 'over' (rate exceeded) or 'inject' (the one injected 429)."""
        with self.lock:
            now = time.monotonic()
            if self.inject_after is not None and self.injected_at is None \
                    and len(self.accepted) >= self.inject_after:
                self.injected_at = now
                return "inject"
            self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens < 1:
                self.over_rate += 1
                return "over"
            self.tokens -= 1
            self.accepted.append(now)
            return "ok"


class RateTelegram(TelegramPeer):
    meter: Meter

    def handle(self, request: Request) -> Reply:
        if request.path.endswith("/sendMessage"):
            verdict = self.meter.admit()
            if verdict != "ok":
                wait = self.meter.retry_after if verdict == "inject" else 1
                return self._error(429, f"Too Many Requests: retry after {wait}", wait)
        return super().handle(request)


class RateTwilio(TwilioPeer):
    meter: Meter

    def handle(self, request: Request) -> Reply:
        if request.method == "POST" and request.path.endswith("/Messages.json"):
            verdict = self.meter.admit()
            if verdict != "ok":
                wait = self.meter.retry_after if verdict == "inject" else 1
                return self._error(429, 20429, {"Retry-After": str(wait)})
        return super().handle(request)


def peer(channel: str, meter: Meter) -> Any:
    made: Any = RateTelegram() if channel == "telegram" else RateTwilio()
    made.meter = meter
    return made
