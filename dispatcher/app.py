"""Wiring shared by the CLI and the daemon: config -> engine -> channels."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from channels.base import Channel
from channels.registry import build_channel
from dispatcher.config.load import LoadedConfig, load_config
from dispatcher.store.db import open_engine

DEFAULT_CONFIG = "config.yaml"


def config_path(explicit: str | None) -> Path:
    return Path(explicit or os.environ.get("DISPATCHER_CONFIG") or DEFAULT_CONFIG)


def open_store(loaded: LoadedConfig) -> Engine:
    """The engine, schema up to date; DatabaseUnavailable (a message without the
    password) when the database cannot be opened."""
    return open_engine(loaded.database_url(), echo=loaded.config.database.echo)


def load(explicit: str | None) -> LoadedConfig:
    return load_config(config_path(explicit))


@asynccontextmanager
async def open_channels(loaded: LoadedConfig,
                        names: list[str] | None = None) -> AsyncIterator[dict[str, Channel]]:
    """Build the channels the campaigns use; close them however the block ends."""
    wanted = names or sorted({c for camp in loaded.config.campaigns.values()
                              for c in camp.channels})
    built: dict[str, Channel] = {}
    try:
        for name in wanted:
            built[name] = build_channel(name, loaded.channel_settings[name], loaded.base_dir)
        yield built
    finally:
        for channel in built.values():
            await channel.aclose()


def latest_fire_time(loaded: LoadedConfig, campaign: str, now: datetime) -> datetime:
    """The scheduled time a run at ``now`` belongs to (naive UTC).

    With a cron schedule: the latest fire time at or before now. Without one: the
    start of the current day in the config's time zone (at most one run a day).
    """
    tz = ZoneInfo(loaded.config.timezone)
    utc_now = now.replace(tzinfo=ZoneInfo("UTC"))
    # Compare fire times with the UTC instant: aware datetimes sharing one tzinfo are
    # compared by wall clock, which is wrong inside the repeated autumn hour.
    local_now = utc_now.astimezone(tz)
    schedule = loaded.config.campaigns[campaign].schedule
    if schedule:
        from apscheduler.triggers.cron import CronTrigger

        trigger = CronTrigger.from_crontab(schedule, timezone=tz)
        probe = local_now - timedelta(days=366)
        previous = None
        # Walk forward from a day back is enough for all but yearly schedules.
        start = local_now - timedelta(days=1)
        fire = trigger.get_next_fire_time(None, start)
        while fire is not None and fire <= utc_now:
            previous = fire
            fire = trigger.get_next_fire_time(fire, _after(fire))
        if previous is None:
            fire = trigger.get_next_fire_time(None, probe)
            while fire is not None and fire <= utc_now:
                previous = fire
                fire = trigger.get_next_fire_time(fire, _after(fire))
        if previous is not None:
            return previous.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
    midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def _after(fire: datetime) -> datetime:
    """One second after ``fire``, stepped in UTC: wall-clock arithmetic in the zone
    returns into the repeated autumn hour and never gets past it."""
    tz = fire.tzinfo
    return (fire.astimezone(ZoneInfo("UTC")) + timedelta(seconds=1)).astimezone(tz)
