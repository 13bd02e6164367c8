"""APScheduler 3 jobs: one cron job per scheduled campaign, in the config's time zone.

A job plans the run its fire time belongs to; the run key (campaign, step,
scheduled_for) makes that idempotent, so several daemons may fire the same job.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from dispatcher.config.load import LoadedConfig

log = logging.getLogger("dispatcher.schedule")


def make_scheduler(loaded: LoadedConfig) -> AsyncIOScheduler:
    return AsyncIOScheduler(timezone=ZoneInfo(loaded.config.timezone),
                            event_loop=asyncio.get_running_loop())


def install_jobs(scheduler: AsyncIOScheduler, loaded: LoadedConfig,
                 fire: Callable[[str], Awaitable[None]]) -> list[str]:
    """(Re)place one job per enabled, scheduled campaign; return their names."""
    tz = ZoneInfo(loaded.config.timezone)
    wanted = {name: c for name, c in loaded.config.campaigns.items()
              if c.enabled and c.schedule}
    for job in scheduler.get_jobs():
        if job.id not in wanted:
            job.remove()
    for name, campaign in wanted.items():
        assert campaign.schedule is not None
        scheduler.add_job(
            fire, CronTrigger.from_crontab(campaign.schedule, timezone=tz), args=[name],
            id=name, name=f"campaign {name}", replace_existing=True,
            # A fire delayed (a busy loop, a slow plan) by less than the grace still
            # runs, once; later ones are left to the missed-run bookkeeping.
            coalesce=True, max_instances=1,
            misfire_grace_time=max(1, int(campaign.grace.total_seconds())),
        )
    log.info("scheduled %d campaign(s): %s", len(wanted), ", ".join(sorted(wanted)) or "-")
    return sorted(wanted)
