"""Frequency caps, computed in SQL over the outbox (sent + still pending rows).

Counting pending rows is what stops two campaigns planned the same evening from
together going over a cap: the second plan sees the first one's pending rows.
Transactional campaigns neither count toward nor are held back by the global and
channel caps; a campaign's own ``cap`` applies to it whatever its kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, func, literal, or_, select, text

from dispatcher.config.models import CampaignConfig, Config
from dispatcher.config.policy_models import Cap
from dispatcher.store.schema import outbox
from dispatcher.store.states import OutboxStatus

# Rows that reached, or may still reach, the customer.
COUNTED = (OutboxStatus.PENDING, OutboxStatus.SENDING, OutboxStatus.SENT,
           OutboxStatus.UNCERTAIN)


@dataclass(frozen=True)
class AppliedCap:
    column: str
    label: str  # the skip reason: "capped:global 3/7d"
    cap: Cap
    channel: str | None = None  # channel caps only bite rows going out on that channel


def caps_for(config: Config, campaign_name: str, campaign: CampaignConfig,
             channels: list[str]) -> list[AppliedCap]:
    """The caps that apply to this campaign, in the order they are reported."""
    caps: list[AppliedCap] = []
    if campaign.kind == "marketing":
        if config.caps.global_ is not None:
            cap = config.caps.global_
            caps.append(AppliedCap("cap_global", f"capped:global {cap.label()}", cap))
        for index, channel in enumerate(channels):
            channel_cap = config.caps.channels.get(channel)
            if channel_cap is not None:
                caps.append(AppliedCap(f"cap_channel_{index}",
                                       f"capped:{channel} {channel_cap.label()}",
                                       channel_cap, channel))
    if campaign.cap is not None:
        caps.append(AppliedCap("cap_campaign", f"capped:campaign {campaign.cap.label()}",
                               campaign.cap))
    return caps


def cap_counts(caps: list[AppliedCap], campaign_name: str, now: datetime) -> Any:
    """One aggregate per customer: how many counted rows fall in each cap's window."""
    when = func.coalesce(outbox.c.sent_at, outbox.c.not_before)
    marketing = func.coalesce(outbox.c.kind, "marketing") == "marketing"
    columns = []
    for applied in caps:
        cond = when > now - applied.cap.per
        if applied.column == "cap_campaign":
            cond = and_(cond, outbox.c.campaign == campaign_name)
        else:
            cond = and_(cond, marketing)
        if applied.channel is not None:
            cond = and_(cond, outbox.c.channel == applied.channel)
        columns.append(func.sum(case((cond, 1), else_=0)).label(applied.column))
    cutoff = now - max(applied.cap.per for applied in caps)
    # Same as ``when > cutoff``, spelled so the indexes on sent_at and
    # (status, not_before) can find the window without scanning the whole outbox.
    in_window = or_(outbox.c.sent_at > cutoff,
                    and_(outbox.c.sent_at.is_(None), outbox.c.status.in_(COUNTED),
                         outbox.c.not_before > cutoff))
    return (select(outbox.c.customer_id, *columns)
            .where(outbox.c.status.in_(COUNTED), in_window)
            .group_by(outbox.c.customer_id)
            .subquery("cap_counts"))


def capped_reason(caps: list[AppliedCap], counts: Any, channel: Any) -> Any:
    """CASE naming the first cap a row would exceed, else NULL."""
    whens = []
    for applied in caps:
        over = func.coalesce(counts.c[applied.column], 0) >= applied.cap.max
        if applied.channel is not None:
            over = and_(over, channel == applied.channel)
        whens.append((over, literal(applied.label)))
    return case(*whens, else_=None)


def serialize_planning(conn: Connection) -> None:
    """Plans that share caps must not count each other's rows half-written.

    SQLite has one writer already; on PostgreSQL, planners on several machines take
    a transaction-scoped advisory lock (released at commit).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(4242001)"))
