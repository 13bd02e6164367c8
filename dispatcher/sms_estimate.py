"""What an SMS campaign run will cost: segments per message, total segments, price.

``plan`` renders the SMS that the run would send (in chunks of customers, so
memory stays flat) and counts their segments. Past ``limit`` recipients it
extrapolates from the ones rendered and says so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select

from channels.sms_segments import count_segments
from channels.sms_settings import SmsSettings

from .config.load import LoadedConfig
from .context import OrderStats
from .outbox.states import OutboxStatus
from .planner import Funnel, candidates
from .recipients import load_customers, load_stats
from .store.schema import addresses
from .templating import TemplateProblem

CHUNK = 500


@dataclass
class SmsEstimate:
    messages: int = 0  # SMS the run would send
    rendered: int = 0  # of which were rendered and counted
    segments: int = 0  # counted over the rendered ones
    by_segments: Counter[int] = field(default_factory=Counter)
    by_encoding: Counter[str] = field(default_factory=Counter)
    over_limit: int = 0
    problems: int = 0

    @property
    def total_segments(self) -> int:
        """Segments for the whole run (extrapolated when not every message was rendered)."""
        if not self.rendered:
            return 0
        return round(self.segments * self.messages / self.rendered)

    @property
    def estimated(self) -> bool:
        return self.rendered < self.messages


def estimate_sms(engine: Engine, loaded: LoadedConfig, campaign: str, scheduled_for: datetime,
                 now: datetime, messages: int, limit: int = 20_000) -> SmsEstimate:
    from .messages import MessageBuilder

    settings = loaded.channel_settings["sms"]
    assert isinstance(settings, SmsSettings)
    estimate = SmsEstimate(messages=messages)
    rows = candidates(loaded, campaign, scheduled_for, now).subquery("candidates")
    query = (select(rows.c.customer_id, rows.c.address_id)
             .where(rows.c.channel == "sms", rows.c.status == OutboxStatus.PENDING,
                    rows.c.done == 0)
             .order_by(rows.c.customer_id).limit(limit))
    builder = MessageBuilder(loaded)
    with engine.connect() as conn:
        result = conn.execute(query)
        while chunk := result.fetchmany(CHUNK):
            _count_chunk(conn, builder, campaign, chunk, settings, estimate)
    return estimate


def _count_chunk(conn: Any, builder: Any, campaign: str, chunk: Sequence[Any],
                 settings: SmsSettings, estimate: SmsEstimate) -> None:
    ids = [row.customer_id for row in chunk]
    people = load_customers(conn, ids)
    stats = load_stats(conn, ids)
    address_rows = {row.id: row for row in conn.execute(
        select(addresses).where(addresses.c.id.in_([row.address_id for row in chunk])))}
    for row in chunk:
        customer, address = people.get(row.customer_id), address_rows.get(row.address_id)
        if customer is None or address is None:
            continue
        try:
            message = builder.build(campaign, "sms", customer,
                                    stats.get(row.customer_id, OrderStats()), address,
                                    sample=True)  # links as tracked: the billed form
        except TemplateProblem:
            estimate.problems += 1
            continue
        count = count_segments(message.text)
        estimate.rendered += 1
        estimate.segments += count.segments
        estimate.by_segments[count.segments] += 1
        estimate.by_encoding[count.encoding] += 1
        if count.segments > settings.max_segments:
            estimate.over_limit += 1


def describe(estimate: SmsEstimate, settings: SmsSettings) -> list[str]:
    """Lines for ``plan``."""
    if not estimate.messages:
        return []
    approx = "~" if estimate.estimated else ""
    per_message = ", ".join(f"{count} x {segments} segment{'s' if segments > 1 else ''}"
                            for segments, count in sorted(estimate.by_segments.items()))
    encodings = ", ".join(f"{name} {count}" for name, count in sorted(estimate.by_encoding.items()))
    lines = [f"SMS segments per message: {per_message or '-'} ({encodings or '-'})",
             f"SMS total segments: {approx}{estimate.total_segments}"]
    cost = settings.cost(estimate.total_segments)
    if cost is not None:
        lines.append(f"SMS estimated cost: {approx}{cost.quantize(Decimal('0.01'))} "
                     f"{settings.currency} ({settings.price_per_segment} per segment)")
    else:
        lines.append("SMS estimated cost: set channels.sms.price_per_segment to see it")
    if estimate.over_limit:
        lines.append(f"SMS over the limit of {settings.max_segments} segments "
                     f"(will be skipped): {estimate.over_limit}")
    if estimate.problems:
        lines.append(f"SMS that do not render (run validate): {estimate.problems}")
    if estimate.estimated:
        lines.append(f"(estimated from the first {estimate.rendered} of "
                     f"{estimate.messages} messages)")
    return lines


def plan_report(engine: Engine, loaded: LoadedConfig, campaign: str, scheduled_for: datetime,
                now: datetime, funnel: Funnel) -> list[str]:
    """The ``plan`` hook: nothing unless this run sends SMS."""
    messages = funnel.by_channel.get("sms", 0)
    if not messages:
        return []
    settings = loaded.channel_settings["sms"]
    assert isinstance(settings, SmsSettings)
    estimate = estimate_sms(engine, loaded, campaign, scheduled_for, now, messages)
    return describe(estimate, settings)
