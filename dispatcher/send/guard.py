"""The error-rate guard: pause a campaign whose recent attempts mostly fail.

A wrong SMTP password or a provider outage fails every message the same way;
without a guard the sender would work through the whole list and mark it all
failed. The guard watches a sliding window of attempts per campaign and, past
the campaign's ``pause_on_error_rate`` (after at least ``pause_min_attempts``),
pauses the campaign in the database so that every worker stops claiming it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from datetime import datetime

from sqlalchemy import Engine

from dispatcher.config.load import LoadedConfig
from dispatcher.outbox.pauses import pause, paused_campaigns_query

log = logging.getLogger("dispatcher.send.guard")

# Judge on recent attempts only, so a long healthy history cannot hide a new outage.
WINDOW = 100


class ErrorRateGuard:
    def __init__(self, engine: Engine, loaded: LoadedConfig) -> None:
        self.engine = engine
        self.loaded = loaded
        self._recent: dict[str, deque[bool]] = {}
        self._paused: set[str] = set()

    def is_paused(self, campaign: str) -> bool:
        return campaign in self._paused

    def refresh(self) -> set[str]:
        """Re-read paused campaigns (an operator may have paused or resumed one)."""
        with self.engine.connect() as conn:
            now_paused = set(conn.execute(paused_campaigns_query()).scalars())
        for resumed in self._paused - now_paused:
            self._recent.pop(resumed, None)  # a fresh start after resume
        self._paused = now_paused
        return now_paused

    async def observe(self, campaign: str, failed: bool, reason: str | None,
                      now: datetime) -> bool:
        """Record one attempt; True when this attempt tipped the campaign into pause."""
        settings = self.loaded.config.campaigns.get(campaign)
        if settings is None or settings.pause_on_error_rate is None:
            return False
        if campaign in self._paused:
            return False
        window = self._recent.setdefault(
            campaign, deque(maxlen=max(WINDOW, settings.pause_min_attempts)))
        window.append(failed)
        if len(window) < settings.pause_min_attempts:
            return False
        rate = sum(window) / len(window)
        if rate < settings.pause_on_error_rate:
            return False
        self._paused.add(campaign)
        why = (f"error rate {rate:.0%} over the last {len(window)} attempts "
               f"(threshold {settings.pause_on_error_rate:.0%}); last error: {reason}")
        if await asyncio.to_thread(pause, self.engine, campaign, "error_rate", why, now):
            log.error("campaign paused: %s", why, extra={"campaign": campaign})
        return True

