"""A provider's retry_after stops the limiter at once, even with workers queued."""

from __future__ import annotations

import asyncio
import itertools
import time

from dispatcher.send.ratelimit import RateLimiter


async def test_pause_holds_back_workers_already_waiting_for_a_token() -> None:
    limiter = RateLimiter(10)  # a token every 100 ms
    granted: list[float] = []

    async def worker() -> None:
        await limiter.acquire()
        granted.append(time.monotonic())

    await limiter.acquire()  # the burst is spent
    tasks = [asyncio.create_task(worker()) for _ in range(5)]
    await asyncio.sleep(0.01)  # all five are queued on the limiter now
    paused_at = time.monotonic()
    await limiter.pause(0.5)
    await asyncio.gather(*tasks)
    # nobody got through during the pause, and afterwards the rate holds again
    assert min(granted) >= paused_at + 0.5
    gaps = [b - a for a, b in itertools.pairwise(granted)]
    assert all(gap >= 0.09 for gap in gaps)
