"""Sequences: a campaign's ordered steps at offsets from ``starts_at`` or after the
previous step, e.g. the closed-sale warm-up::

    starts_at: 2026-12-05            # the sale opens (config time zone)
    steps:
      - {name: announce, at: -3d}    # 2 Dec, at the default 10:00
      - {name: reminder, at: "-1d 18:00"}
      - {name: opens_today, at: 0d}
      - {name: last_day, after: "2d 09:00"}   # two days after "opens today", at 09:00

Each step is its own run, keyed (campaign, step, scheduled_for), so planning a
step twice plans it once, and ``once_per`` applies per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dispatcher.config.load import LoadedConfig
from dispatcher.config.mechanics import StepConfig, parse_offset
from dispatcher.config.models import CampaignConfig

DEFAULT_STEP_TIME = time(10, 0)


@dataclass(frozen=True)
class StepTime:
    index: int
    step: StepConfig
    at: datetime  # naive UTC


def step_times(campaign: CampaignConfig, timezone: str) -> list[StepTime]:
    if not campaign.steps or campaign.starts_at is None:
        return []
    zone = ZoneInfo(timezone)
    start = campaign.starts_at
    if isinstance(start, datetime):
        if start.tzinfo is not None:
            start = start.astimezone(zone).replace(tzinfo=None)
        base_day, base_time = start.date(), start.time()
    else:
        base_day, base_time = start, DEFAULT_STEP_TIME
    out: list[StepTime] = []
    previous: datetime | None = None
    for index, step in enumerate(campaign.steps):
        if step.at is not None:
            days, clock = parse_offset(step.at)
            local = datetime.combine(base_day + timedelta(days=days.days), clock or base_time)
        else:
            assert previous is not None and step.after is not None  # validated in config
            days, clock = parse_offset(step.after)
            local = previous + days
            if clock is not None:
                local = local.replace(hour=clock.hour, minute=clock.minute)
        previous = local
        utc = local.replace(tzinfo=zone).astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
        out.append(StepTime(index, step, utc))
    return out


def due_steps(campaign: CampaignConfig, timezone: str, now: datetime) -> list[StepTime]:
    """Steps whose time has come and is not more than ``grace`` ago."""
    return [t for t in step_times(campaign, timezone)
            if t.at <= now < t.at + campaign.grace]


def sequence_started(campaign: CampaignConfig, timezone: str) -> datetime | None:
    times = step_times(campaign, timezone)
    return times[0].at if times else None


def find_step(campaign: CampaignConfig, name: str) -> StepConfig | None:
    return next((s for s in campaign.steps if s.name == name), None)


def step_channels(campaign: CampaignConfig, step: str) -> list[str]:
    found = find_step(campaign, step) if step else None
    return list(found.channels) if found is not None and found.channels else \
        list(campaign.channels)


def step_folder(campaign_folder: str, campaign: CampaignConfig, step: str) -> str:
    """A step's template folder: its own ``template``, or <campaign folder>/<step>."""
    found = find_step(campaign, step) if step else None
    if found is None:
        return campaign_folder
    return found.template or f"{campaign_folder}/{found.name}"


def day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def preview_step(loaded: LoadedConfig, campaign: str, now: datetime,
                 default: datetime) -> tuple[str, datetime]:
    """For ``dispatcher plan``: (step, scheduled time) a preview should show: the latest
    step whose time has come, else the first; ("", default) for other campaigns."""
    config = loaded.config.campaigns[campaign]
    times = step_times(config, loaded.config.timezone)
    if not times:
        return "", default
    started = [t for t in times if t.at <= now]
    chosen = started[-1] if started else times[0]
    return chosen.step.name, chosen.at
