"""What the planner would do with one customer, asked of the planning statement itself.

``preview`` runs the planner's own SELECT (segment, trigger, reachability, channel order,
channel caps, topic opt-outs, caps, quiet hours, A/B arm; dispatcher/plan/planner.py)
restricted to one customer id, for the run ``plan`` would show, and writes nothing. The
answer is one of:

    not in the audience     why: outside the segment, the trigger does not fire, ...
    already handled         an earlier row holds this run's once_per key
    skipped / held out      the reason the outbox would record
    to send                 channel, address, variant, when (after quiet hours)

The words that explain a channel that was passed over come from the same "may we
message this address" rule the planner and the sender apply
(dispatcher/store/addressable.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, and_, select

from dispatcher.config.load import LoadedConfig
from dispatcher.experiments.assign import assign
from dispatcher.mechanics.sequences import find_step, preview_step, step_channels
from dispatcher.plan.planner import channel_reach, planned_rows
from dispatcher.policy.quiet import known_zones
from dispatcher.segments.sql import SegmentSQL
from dispatcher.store.addressable import address_refusal
from dispatcher.store.schema import addresses, customers, suppressions
from dispatcher.store.states import OutboxStatus


@dataclass
class Verdict:
    campaign: str
    customer_id: str
    step: str
    scheduled_for: datetime
    not_in_audience: str | None = None  # why the run does not consider them at all
    status: str | None = None  # pending | skipped | held_out
    reason: str | None = None  # the outbox's reason for a skip
    channel: str | None = None
    address_id: int | None = None
    variant: str | None = None
    done: bool = False  # an earlier row holds this run's once_per key
    not_before: datetime | None = None
    deferred: bool = False  # waits for the customer's quiet hours
    order: list[str] = field(default_factory=list)  # the channel order that applied
    channel_states: dict[str, str] = field(default_factory=dict)  # channel -> why unusable

    @property
    def sends(self) -> bool:
        return self.not_in_audience is None and not self.done \
            and self.status == OutboxStatus.PENDING


def plan_for(engine: Engine, loaded: LoadedConfig, campaign: str, customer_id: str,
             now: datetime) -> Verdict:
    """The planner's verdict on ``customer_id`` for the run ``plan`` would show now."""
    from dispatcher.app import latest_fire_time

    config = loaded.config.campaigns[campaign]
    step, scheduled = preview_step(loaded, campaign, now,
                                   latest_fire_time(loaded, campaign, now))
    verdict = Verdict(campaign, customer_id, step, scheduled)
    with engine.connect() as conn:
        rows = planned_rows(loaded, campaign, scheduled, now, step, zones=known_zones(conn),
                            customer_id=customer_id)
        row = conn.execute(select(rows)).first()
        if row is None:
            verdict.not_in_audience = _outside(conn, loaded, campaign, customer_id, step, now)
            verdict.variant = assign(campaign, config, customer_id)
        else:
            verdict.status, verdict.reason = row.status, row.reason
            verdict.channel, verdict.address_id = row.channel, row.address_id
            verdict.variant, verdict.done = row.variant, bool(row.done)
            verdict.not_before, verdict.deferred = row.not_before, bool(row.deferred)
        verdict.order = _order(loaded, campaign, step, verdict.variant)
        verdict.channel_states = channel_states(conn, customer_id, verdict.order)
    return verdict


def _order(loaded: LoadedConfig, campaign: str, step: str, variant: str | None) -> list[str]:
    config = loaded.config.campaigns[campaign]
    arm = config.variants.get(variant or "")
    planned = step_channels(config, step)
    if arm is not None and arm.channels:  # an arm's own order (experiments/plan.py)
        return [name for name in arm.channels if name in planned]
    return planned


def _outside(conn: Connection, loaded: LoadedConfig, campaign: str, customer_id: str,
             step: str, now: datetime) -> str:
    """Why the run's audience leaves the customer out (audience rules in the order
    dispatcher/mechanics/audience.py applies them)."""
    config = loaded.config.campaigns[campaign]
    seg = SegmentSQL(loaded.segments, now, loaded.config.timezone)
    member = conn.execute(seg.select_ids(config.segment)
                          .where(customers.c.id == customer_id)).first()
    if member is None:
        return f"not in segment '{config.segment}'"
    if config.expired_at(now, loaded.config.timezone):
        return f"the campaign expired at {config.expires_at}"
    if config.trigger is not None:
        return (f"in segment '{config.segment}', but the {config.trigger.kind} trigger "
                f"does not fire for them at this time")
    found = find_step(config, step) if step else None
    if found is not None and config.steps.index(found) > 0 and not found.keep_converted:
        return f"they ordered since the sequence started (step {step})"
    return f"in segment '{config.segment}', but not in this run's audience"


def channel_states(conn: Connection, customer_id: str, order: list[str]) -> dict[str, str]:
    """Per channel in ``order``: why it cannot reach the customer ('no address', 'not
    consented', 'opted out', 'invalid address', 'suppressed'); a usable channel is left
    out. One query."""
    found = conn.execute(
        select(addresses.c.channel, addresses.c.consent, addresses.c.invalid_at,
               suppressions.c.id.label("suppressed"))
        .outerjoin(suppressions, and_(suppressions.c.channel == addresses.c.channel,
                                      suppressions.c.address_hash == addresses.c.address_hash))
        .where(addresses.c.customer_id == customer_id, addresses.c.channel.in_(order))).all()
    states: dict[str, str] = {}
    for name in order:
        on_channel = [_state(row) for row in found if row.channel == name]
        if not on_channel:
            states[name] = "no address"
        elif None not in on_channel:  # no usable address: the most telling reason
            states[name] = min((s for s in on_channel if s), key=_RANK.index)
    return states


_RANK = ["invalid address", "suppressed", "opted out", "not consented"]


def _state(row: Any) -> str | None:
    """The sender's rule (may we message this address?), in words a marketer reads."""
    if address_refusal(row.consent, row.invalid_at, row.suppressed is not None) is None:
        return None
    if row.consent == "withdrawn":
        return "opted out"
    if row.consent != "granted":
        return "not consented"
    return "invalid address" if row.invalid_at is not None else "suppressed"


def address_for(conn: Connection, customer_id: str, channel: str) -> Any | None:
    """The address a message on ``channel`` would use: the planner's pick of a usable one,
    else (for a preview only) the first on file."""
    usable = channel_reach(channel)
    picked = conn.execute(select(usable.c.address_id)
                          .where(usable.c.customer_id == customer_id)).scalar()
    query = select(addresses).where(addresses.c.customer_id == customer_id,
                                    addresses.c.channel == channel)
    if picked is not None:
        query = query.where(addresses.c.id == picked)
    return conn.execute(query.order_by(addresses.c.id)).first()


# -- words ------------------------------------------------------------------------------

def describe(verdict: Verdict, loaded: LoadedConfig, forced: str | None = None,
             zone: str | None = None) -> list[str]:
    """What run-once would do, in a line or two for ``preview`` (``zone``: the
    customer's time zone, for a wait for quiet hours)."""
    config = loaded.config.campaigns[verdict.campaign]
    if verdict.not_in_audience is not None:
        return [f"run-once would not message this customer: {verdict.not_in_audience}"]
    if verdict.done:
        return [f"run-once would not send it again: already planned or sent for this "
                f"customer (once_per: {config.once_per})"]
    if verdict.status == OutboxStatus.HELD_OUT:
        return ["run-once would not send it: the customer is in the holdout group (they "
                "get nothing; shown: the campaign's own message)"]
    if verdict.status == OutboxStatus.SKIPPED:
        return [f"run-once would skip this customer: {verdict.reason} "
                f"({_skip_words(verdict, config.topic)})"]
    lines = [_send_line(verdict, loaded, forced)]
    if verdict.deferred and verdict.not_before is not None:
        lines.append(f"it waits for the customer's quiet hours until "
                     f"{_local(verdict.not_before, loaded, zone)}")
    return lines


def _send_line(verdict: Verdict, loaded: LoadedConfig, forced: str | None) -> str:
    channel = verdict.channel or "?"
    if forced is not None and forced != channel:
        if forced in verdict.channel_states:
            why = f"{forced}: {verdict.channel_states[forced]}"
        elif forced in verdict.order and verdict.order.index(forced) > \
                verdict.order.index(channel):
            why = f"{channel} comes first in the order {', '.join(verdict.order)}"
        elif forced in verdict.order:
            why = f"no room under the {forced} cap (caps.channels.{forced})"
        else:
            why = f"this run sends by {', '.join(verdict.order)}"
        return f"--channel {forced}: run-once would send this by {channel}, not {forced} ({why})"
    passed = [f"{name}: {verdict.channel_states.get(name, 'no room under its cap')}"
              for name in verdict.order[:verdict.order.index(channel)]] \
        if channel in verdict.order else []
    return f"run-once would send this by {channel}" + (f" ({'; '.join(passed)})"
                                                       if passed else "")


def _skip_words(verdict: Verdict, topic: str) -> str:
    reason = verdict.reason or ""
    states = "; ".join(f"{name}: {state}" for name, state in verdict.channel_states.items())
    if reason in ("no_address", "opted_out", "no_consent", "suppressed"):
        return states or "no usable address"
    if reason == "topic_opted_out":
        return f"they switched off the topic '{topic}'"
    if reason.startswith("capped:"):
        return "that frequency cap is full for them"
    if reason == "quiet_hours_expired":
        return "their quiet hours last past the campaign's deadline"
    if reason == "expired":
        return "the campaign's deadline has passed"
    return reason


def _local(moment: datetime, loaded: LoadedConfig, zone: str | None) -> str:
    name = zone or loaded.config.timezone
    local = moment.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(name))
    return f"{local:%Y-%m-%d %H:%M} {name}"
