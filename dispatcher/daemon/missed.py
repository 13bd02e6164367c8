"""Runs missed while no dispatcher was running.

On startup, for each scheduled campaign, the fire times between its last known
run and now are either

- caught up: the latest one, if it was missed by less than the campaign's
  ``grace`` (several misses inside the grace coalesce into that one run), or
- recorded as ``missed`` runs (status 'missed', with the reason in the funnel
  column) and logged: never silently dropped, never sent late.

Runs are keyed (campaign, step, scheduled_for), so two daemons starting at once
record and plan each run once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite

from dispatcher.app import latest_fire_time
from dispatcher.config.load import LoadedConfig
from dispatcher.plan.planner import PlanResult, plan_run
from dispatcher.store.schema import runs

log = logging.getLogger("dispatcher.missed")

# A campaign firing every minute that was down for months must not write millions of
# rows; past this many, the rest is summarised in one log line.
MAX_RECORDED = 10_000


@dataclass
class CatchUp:
    planned: list[PlanResult] = field(default_factory=list)
    missed: dict[str, list[datetime]] = field(default_factory=dict)


def fire_times_between(loaded: LoadedConfig, campaign: str, after: datetime,
                       until: datetime, limit: int = MAX_RECORDED + 1) -> list[datetime]:
    """Fire times in (after, until], naive UTC, in the config's time zone rules."""
    from apscheduler.triggers.cron import CronTrigger

    schedule = loaded.config.campaigns[campaign].schedule
    if not schedule:
        return []
    tz = ZoneInfo(loaded.config.timezone)
    utc = ZoneInfo("UTC")
    trigger = CronTrigger.from_crontab(schedule, timezone=tz)
    start = (after + timedelta(seconds=1)).replace(tzinfo=utc).astimezone(tz)
    end = until.replace(tzinfo=utc)
    fires: list[datetime] = []
    fire = trigger.get_next_fire_time(None, start)
    while fire is not None and fire <= end and len(fires) < limit:
        fires.append(fire.astimezone(utc).replace(tzinfo=None))
        # Step in UTC: wall-clock arithmetic in the zone repeats the autumn hour forever.
        probe = (fire.astimezone(utc) + timedelta(seconds=1)).astimezone(tz)
        fire = trigger.get_next_fire_time(fire, probe)
    return fires


def catch_up(engine: Engine, loaded: LoadedConfig, now: datetime) -> CatchUp:
    result = CatchUp()
    for name, campaign in loaded.config.campaigns.items():
        if not campaign.enabled or not campaign.schedule:
            continue
        with engine.connect() as conn:
            last = conn.execute(select(func.max(runs.c.scheduled_for))
                                .where(runs.c.campaign == name, runs.c.step == "")).scalar()
        if last is None:
            continue  # never ran here: nothing is known to be missed
        fires = fire_times_between(loaded, name, last, now)
        if not fires:
            continue
        if len(fires) > MAX_RECORDED:
            # Down for very long: record the first ones, find the latest directly.
            latest_fire = latest_fire_time(loaded, name, now)
            fires = [*fires[:MAX_RECORDED], latest_fire]
            log.error("more than %d runs missed", MAX_RECORDED, extra={"campaign": name})
        latest = fires[-1]
        older = fires[:-1]
        if now - latest <= campaign.grace:
            log.warning("catching up a run missed by %s", now - latest,
                        extra={"campaign": name, "reason": f"scheduled {latest:%Y-%m-%d %H:%M}"})
            result.planned.append(plan_run(engine, loaded, name, latest, now))
        else:
            older = fires
        if older:
            _record_missed(engine, name, older, now, campaign.grace)
            result.missed[name] = older
    return result


def _record_missed(engine: Engine, campaign: str, fires: list[datetime], now: datetime,
                   grace: timedelta) -> None:
    reason = f"dispatcher was not running (grace {grace})"
    rows = [{"campaign": campaign, "step": "", "scheduled_for": when, "status": "missed",
             "funnel": {"missed": reason}, "created_at": now, "finished_at": now}
            for when in fires]
    with engine.begin() as conn:
        builder = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        conn.execute(builder(runs).on_conflict_do_nothing(
            index_elements=["campaign", "step", "scheduled_for"]), rows)
    log.error("%d scheduled run(s) missed, from %s to %s; recorded as missed, not sent",
              len(fires), f"{fires[0]:%Y-%m-%d %H:%M}", f"{fires[-1]:%Y-%m-%d %H:%M}",
              extra={"campaign": campaign})
