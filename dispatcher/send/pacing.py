"""Per-recipient pacing: at most ``rate`` messages a second to one chat (Telegram: 1/s).

The channel-wide token bucket (``ratelimit.RateLimiter``) keeps the bot under its
global limit; this keeps messages to the same chat apart. The interval counts from
the end of the previous call to that chat (when the provider has certainly seen
it), so network delays can never squeeze two messages closer together than the
provider allows. Memory stays flat: expired entries are dropped as the map grows.
"""

from __future__ import annotations

import asyncio
import math
import time

_BUSY = math.inf  # a call to this recipient is under way


class RecipientPacing:
    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self._next: dict[str, float] = {}

    async def acquire(self, recipient: str) -> None:
        """Wait for this recipient's turn; pair with ``release`` after the call."""
        while True:
            now = time.monotonic()
            if len(self._next) > 10_000:
                self._next = {k: t for k, t in self._next.items() if t > now}
            until = self._next.get(recipient, now)
            if until <= now:
                self._next[recipient] = _BUSY
                return
            await asyncio.sleep(self.interval / 4 if until == _BUSY else until - now)

    def release(self, recipient: str) -> None:
        self._next[recipient] = time.monotonic() + self.interval
