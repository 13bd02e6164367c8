"""A token bucket for per-channel send rates, enforced by the sender (not by adapters)."""

from __future__ import annotations

import asyncio
import time


class RateLimiter:
    """Allows ``rate`` acquisitions per second on average, with a burst of ``burst``."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate / 10)
        self._tokens = self.capacity
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self.rate)

    async def pause(self, seconds: float) -> None:
        """The provider told us to wait (HTTP 429 / RetryAfter): drain the bucket."""
        async with self._lock:
            self._tokens = min(self._tokens, 0) - seconds * self.rate
            self._updated = time.monotonic()
