"""Which runs of a campaign are due now: its cron's latest fire time, or for a
sequence each step whose time has come (within the campaign's ``grace``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from dispatcher.app import latest_fire_time
from dispatcher.config.load import LoadedConfig
from dispatcher.mechanics.sequences import due_steps
from dispatcher.plan.planner import PlanResult, plan_run


def due_runs(loaded: LoadedConfig, campaign: str, now: datetime) -> list[tuple[str, datetime]]:
    """(step, scheduled_for) pairs; step is "" for single-message campaigns."""
    config = loaded.config.campaigns[campaign]
    if config.steps:
        return [(t.step.name, t.at) for t in due_steps(config, loaded.config.timezone, now)]
    return [("", latest_fire_time(loaded, campaign, now))]


def plan_due(engine: Engine, loaded: LoadedConfig, campaign: str,
             now: datetime) -> list[PlanResult]:
    return [plan_run(engine, loaded, campaign, scheduled, now, step=step)
            for step, scheduled in due_runs(loaded, campaign, now)]
