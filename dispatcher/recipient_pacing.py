"""Per-recipient pacing: at most ``rate`` messages a second to one chat (Telegram: 1/s).

The channel-wide token bucket (``ratelimit.RateLimiter``) keeps the bot under its
global limit; this keeps two messages to the same chat a second apart. Memory
stays flat: entries whose time has passed are dropped as the map grows.
"""

from __future__ import annotations

import asyncio
import time


class RecipientPacing:
    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self._next: dict[str, float] = {}

    async def acquire(self, recipient: str) -> None:
        now = time.monotonic()
        if len(self._next) > 10_000:
            self._next = {k: t for k, t in self._next.items() if t > now}
        start = max(now, self._next.get(recipient, now))
        # Reserve the slot before sleeping, so concurrent sends to one chat queue up.
        self._next[recipient] = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)
