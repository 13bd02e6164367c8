"""Planning: one set-based statement per campaign step turns a segment into outbox rows.

    audience (segment SQL)
      -> pick the first channel in the campaign's order with a consented, valid,
         unsuppressed address
      -> classify the rest: no_address | opted_out | no_consent | suppressed
      -> drop customers already handled for this once_per key
      -> INSERT INTO outbox ... SELECT ...

The run row (campaign, step, scheduled_for) is unique, so two planners firing the
same schedule plan once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    and_,
    case,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from channels.registry import SPECS
from dispatcher.clock import utcnow
from dispatcher.config.load import LoadedConfig
from dispatcher.experiments.assign import experiment_record
from dispatcher.experiments.plan import override_channels, with_experiment
from dispatcher.mechanics.audience import audience as mechanics_audience
from dispatcher.mechanics.sequences import step_channels
from dispatcher.plan.dedupe import dedupe_key, recently_handled
from dispatcher.policy.caps import serialize_planning
from dispatcher.policy.channel_room import ChannelChooser
from dispatcher.policy.gate import apply_policy
from dispatcher.policy.quiet import known_zones
from dispatcher.segments.sql import SegmentSQL
from dispatcher.store.addressable import usable_address
from dispatcher.store.schema import addresses, outbox, runs
from dispatcher.store.states import OutboxStatus
from dispatcher.store.stats import BULK_ROWS, refresh_statistics

# Plus "capped:<which> <max>/<window>" (dispatcher.policy.caps).
SKIP_REASONS = ("no_address", "opted_out", "no_consent", "suppressed", "topic_opted_out",
                "quiet_hours_expired", "expired")


@dataclass
class Funnel:
    segment: int = 0
    already_sent: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    by_channel: dict[str, int] = field(default_factory=dict)
    deferred: int = 0  # of to_send: waiting for the customer's quiet hours to end

    @property
    def to_send(self) -> int:
        return sum(self.by_channel.values())

    def add(self, status: str, reason: str | None, channel: str, deferred: bool,
            count: int, done: bool = False) -> None:
        """Count ``count`` rows of one kind: the one tally of a plan preview (``done``:
        handled before) and of a planned run."""
        self.segment += count
        if done:
            self.already_sent += count
        elif status in (OutboxStatus.SKIPPED, OutboxStatus.HELD_OUT):
            key = reason or ""
            self.skipped[key] = self.skipped.get(key, 0) + count
        else:
            self.by_channel[channel] = self.by_channel.get(channel, 0) + count
            self.deferred += count if deferred else 0

    def as_dict(self) -> dict[str, Any]:
        return {"segment": self.segment, "already_sent": self.already_sent,
                "skipped": dict(self.skipped), "by_channel": dict(self.by_channel),
                "to_send": self.to_send, "deferred": self.deferred}


@dataclass
class PlanResult:
    campaign: str
    run_id: int
    scheduled_for: datetime
    created: bool  # False when this run had been planned already
    funnel: Funnel
    step: str = ""  # a sequence step's name; "" for single-message campaigns


def channel_reach(channel: str) -> Any:
    """Per customer: the first usable address on ``channel``."""
    usable = and_(addresses.c.channel == channel, usable_address())
    spec = SPECS.get(channel)
    pick = func.max if spec is not None and spec.newest_address_first else func.min
    return (
        select(addresses.c.customer_id, pick(addresses.c.id).label("address_id"))
        .where(usable)
        .group_by(addresses.c.customer_id)
        .subquery(f"reach_{channel}")
    )


def candidates(loaded: LoadedConfig, campaign_name: str, scheduled_for: datetime,
               now: datetime, step: str = "", zones: Sequence[str] | None = None,
               customer_id: str | None = None) -> Any:
    """SELECT per audience member: channel, address_id, status, reason, dedupe_key, done,
    not_before, deferred (policy: topic opt-outs, caps, quiet hours; pass ``zones`` =
    ``known_zones(conn)`` so quiet hours use each customer's own zone). ``customer_id``:
    the same statement for that one customer (``preview``)."""
    campaign = loaded.config.campaigns[campaign_name]
    seg = SegmentSQL(loaded.segments, now, loaded.config.timezone)
    # Segment + trigger + sequence rules; carries the cart/order/tier once_per keys on.
    audience = mechanics_audience(loaded, campaign_name, step, seg, now, only=customer_id)
    cid = audience.c.customer_id
    channels = step_channels(campaign, step)

    reaches = [(name, channel_reach(name)) for name in channels]
    flags = (
        select(
            addresses.c.customer_id,
            func.max(case((addresses.c.consent == "granted", 1), else_=0)).label("granted"),
            func.max(case((addresses.c.consent == "withdrawn", 1), else_=0)).label("withdrawn"),
        )
        .where(addresses.c.channel.in_(channels))
        .group_by(addresses.c.customer_id)
        .subquery("address_flags")
    )
    source: Any = audience
    for _, reach in reaches:
        source = source.outerjoin(reach, reach.c.customer_id == cid)
    source = source.outerjoin(flags, flags.c.customer_id == cid)
    # The first channel that reaches the customer and has room under its channel cap.
    chooser = ChannelChooser(loaded, campaign_name, list(channels), dict(reaches), now)
    source = chooser.join(source, cid)
    channel, address_id = chooser.choose(list(channels))
    any_reach = func.coalesce(*[reach.c.address_id for _, reach in reaches], None).is_not(None) \
        if len(reaches) > 1 else reaches[0][1].c.address_id.is_not(None)
    reason = case(
        (any_reach, None),
        (flags.c.customer_id.is_(None), "no_address"),
        (and_(flags.c.granted == 0, flags.c.withdrawn == 1), "opted_out"),
        (flags.c.granted == 0, "no_consent"),
        else_="suppressed",
    )
    channel, address_id = override_channels(campaign_name, campaign, cid, chooser.choose,
                                            channel, address_id)
    key = dedupe_key(campaign.once_per, cid, scheduled_for, loaded.config.timezone,
                     audience.c.subject)
    done: ColumnElement[bool] = exists(select(literal(1)).where(
        outbox.c.campaign == campaign_name, outbox.c.step == step, outbox.c.dedupe_key == key))
    recent = recently_handled(campaign.once_per, campaign_name, step, cid, now)
    if recent is not None:
        done = done | recent
    base = (
        select(
            cid.label("customer_id"),
            channel.label("channel"),
            address_id.label("address_id"),
            case((any_reach, OutboxStatus.PENDING.value),
                 else_=OutboxStatus.SKIPPED.value).label("status"),
            reason.label("reason"),
            case((any_reach, key), else_=None).label("dedupe_key"),
            case((done, 1), else_=0).label("done"),
        )
        .select_from(source)
    )
    return apply_policy(loaded, campaign_name, base, now, zones)


def planned_rows(loaded: LoadedConfig, campaign_name: str, scheduled_for: datetime,
                 now: datetime, step: str = "", **options: Any) -> Any:
    """The candidates (``options`` go to candidates()) with the A/B arm applied:
    a ``variant`` column, and holdout rows 'held_out'."""
    campaign = loaded.config.campaigns[campaign_name]
    return with_experiment(campaign_name, campaign,
                           candidates(loaded, campaign_name, scheduled_for, now, step,
                                      **options)
                           ).subquery("candidates")


def preview_funnel(engine: Engine, loaded: LoadedConfig, campaign_name: str,
                   scheduled_for: datetime, now: datetime, step: str = "") -> Funnel:
    """The funnel without writing anything."""
    funnel = Funnel()
    with engine.connect() as conn:
        rows = planned_rows(loaded, campaign_name, scheduled_for, now, step,
                            zones=known_zones(conn))
        query = select(rows.c.status, rows.c.reason, rows.c.channel, rows.c.done,
                       rows.c.deferred, func.count()).group_by(
            rows.c.status, rows.c.reason, rows.c.channel, rows.c.done, rows.c.deferred)
        for status, reason, channel, done, deferred, count in conn.execute(query):
            funnel.add(status, reason, channel, bool(deferred), count, done=bool(done))
    return funnel


def plan_run(engine: Engine, loaded: LoadedConfig, campaign_name: str,
             scheduled_for: datetime, now: datetime | None = None,
             step: str = "") -> PlanResult:
    """Plan one run into the outbox; planning the same (campaign, scheduled_for) twice
    plans it once."""
    now = now or utcnow()
    campaign = loaded.config.campaigns[campaign_name]
    with engine.begin() as conn:
        try:
            with conn.begin_nested():
                run_id = conn.execute(
                    insert(runs).values(campaign=campaign_name, step=step,
                                        scheduled_for=scheduled_for, status="planning",
                                        experiment=experiment_record(campaign_name, campaign),
                                        created_at=now).returning(runs.c.id)
                ).scalar_one()
        except IntegrityError:
            existing = _existing_run(conn, campaign_name, scheduled_for, step)
            return PlanResult(campaign_name, existing[0], scheduled_for, False,
                              _funnel_from(existing[1]), step)
        serialize_planning(conn)  # caps count other plans' rows: no two at once
        rows = planned_rows(loaded, campaign_name, scheduled_for, now, step,
                            zones=known_zones(conn))
        columns = ["run_id", "campaign", "step", "customer_id", "channel", "address_id",
                   "topic", "kind", "status", "reason", "dedupe_key", "not_before",
                   "attempts", "created_at", "updated_at", "variant"]
        select_rows = select(
            literal(run_id), literal(campaign_name), literal(step), rows.c.customer_id,
            rows.c.channel, rows.c.address_id, literal(campaign.topic), literal(campaign.kind),
            rows.c.status, rows.c.reason, rows.c.dedupe_key, rows.c.not_before, literal(0),
            literal(now), literal(now), rows.c.variant,
        ).where(rows.c.done == 0)
        conn.execute(insert(outbox).from_select(columns, select_rows))
        funnel = _count_run(conn, run_id)
        conn.execute(update(runs).where(runs.c.id == run_id)
                     .values(status="planned", funnel=funnel.as_dict()))
    if funnel.segment - funnel.already_sent >= BULK_ROWS:  # the sender's claims plan on it
        refresh_statistics(engine, ("outbox",))
    return PlanResult(campaign_name, run_id, scheduled_for, True, funnel, step)


def _existing_run(conn: Connection, campaign: str, scheduled_for: datetime,
                  step: str = "") -> tuple[int, Any]:
    row = conn.execute(select(runs.c.id, runs.c.funnel).where(
        runs.c.campaign == campaign, runs.c.step == step,
        runs.c.scheduled_for == scheduled_for)).one()
    return int(row[0]), row[1]


def _count_run(conn: Connection, run_id: int) -> Funnel:
    funnel = Funnel()
    deferred = case((outbox.c.not_before > outbox.c.created_at, 1), else_=0)
    query = (select(outbox.c.status, outbox.c.reason, outbox.c.channel, deferred, func.count())
             .where(outbox.c.run_id == run_id)
             .group_by(outbox.c.status, outbox.c.reason, outbox.c.channel, deferred))
    for status, reason, channel, waits, count in conn.execute(query):
        funnel.add(status, reason, channel, bool(waits), count)
    return funnel


def _funnel_from(data: Any) -> Funnel:
    if not data:
        return Funnel()
    return Funnel(data.get("segment", 0), data.get("already_sent", 0),
                  dict(data.get("skipped", {})), dict(data.get("by_channel", {})),
                  data.get("deferred", 0))
