"""What ``dispatcher status`` shows: runs, outbox by state, paused campaigns, uncertain
rows and the last errors. Customer ids only; addresses never leave the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select

from dispatcher.outbox.pauses import Pause, list_paused
from dispatcher.store.schema import outbox, runs
from dispatcher.store.states import OutboxStatus


@dataclass
class Status:
    runs: list[dict[str, Any]] = field(default_factory=list)
    outbox: dict[str, dict[str, int]] = field(default_factory=dict)  # campaign -> state -> n
    paused: list[Pause] = field(default_factory=list)
    uncertain: list[dict[str, Any]] = field(default_factory=list)
    uncertain_total: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    missed_total: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "runs": self.runs, "outbox": self.outbox, "uncertain_total": self.uncertain_total,
            "uncertain": self.uncertain, "errors": self.errors, "missed_total": self.missed_total,
            "paused": [{"campaign": p.campaign, "paused_at": p.paused_at, "by": p.paused_by,
                        "reason": p.reason} for p in self.paused],
        }


def collect(engine: Engine, recent_runs: int = 10, listed: int = 50) -> Status:
    status = Status(paused=list_paused(engine))
    with engine.connect() as conn:
        for row in conn.execute(select(runs.c.id, runs.c.campaign, runs.c.step,
                                       runs.c.scheduled_for, runs.c.status, runs.c.finished_at)
                                .order_by(runs.c.scheduled_for.desc(), runs.c.id.desc())
                                .limit(recent_runs)):
            status.runs.append(_row(row))
        status.missed_total = conn.execute(
            select(func.count()).select_from(runs).where(runs.c.status == "missed")).scalar_one()
        for campaign, state, count in conn.execute(
                select(outbox.c.campaign, outbox.c.status, func.count())
                .group_by(outbox.c.campaign, outbox.c.status)):
            status.outbox.setdefault(campaign, {})[state] = count
        uncertain = outbox.c.status == OutboxStatus.UNCERTAIN
        status.uncertain_total = conn.execute(
            select(func.count()).select_from(outbox).where(uncertain)).scalar_one()
        for row in conn.execute(select(outbox.c.id, outbox.c.campaign, outbox.c.customer_id,
                                       outbox.c.channel, outbox.c.updated_at, outbox.c.reason)
                                .where(uncertain).order_by(outbox.c.id).limit(listed)):
            status.uncertain.append(_row(row))
        for err in conn.execute(select(outbox.c.id, outbox.c.campaign, outbox.c.customer_id,
                                       outbox.c.channel, outbox.c.status, outbox.c.attempts,
                                       outbox.c.error_class, outbox.c.last_error,
                                       outbox.c.reason, outbox.c.updated_at)
                                .where(outbox.c.last_error.is_not(None))
                                .order_by(outbox.c.updated_at.desc(), outbox.c.id.desc())
                                .limit(10)):
            status.errors.append(_row(err))
    return status


def _row(row: Any) -> dict[str, Any]:
    return {k: (v.isoformat(sep=" ", timespec="seconds") if isinstance(v, datetime) else v)
            for k, v in row._mapping.items()}
