"""The planner's experiment hook: per-customer arm, per-arm channel order, holdout rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import String, and_, case, literal, select

from dispatcher.config.models import CampaignConfig
from dispatcher.experiments.assign import HOLDOUT, variant_expr
from dispatcher.store.states import OutboxStatus


def override_channels(campaign_name: str, campaign: CampaignConfig, customer_id: Any,
                      choose: Callable[[list[str]], tuple[Any, Any]], channel: Any,
                      address_id: Any) -> tuple[Any, Any]:
    """(channel, address_id) with each variant's own channel order applied; ``choose``
    builds the choice for an order (policy/channel_room.py)."""
    overrides = [(name, v.channels) for name, v in campaign.variants.items() if v.channels]
    variant = variant_expr(campaign_name, campaign, customer_id)
    if variant is None or not overrides:
        return channel, address_id
    channel_whens, address_whens = [], []
    for name, order in overrides:
        ch, addr = choose(order)
        channel_whens.append((variant == name, ch))
        address_whens.append((variant == name, addr))
    return case(*channel_whens, else_=channel), case(*address_whens, else_=address_id)


def with_experiment(campaign_name: str, campaign: CampaignConfig, planned: Any) -> Any:
    """Wrap the planner's final SELECT (after consent and policy) with the A/B arm.

    Adds ``variant``; a row that would be sent ('pending') in the holdout becomes
    'held_out' (reason 'holdout'): it keeps its once_per key and not_before (when it
    would have been sent) like a sent row, is never sent, and caps do not count it.
    Drawing the holdout from would-be recipients only keeps the arms comparable.
    """
    rows = planned.subquery("planned")
    variant = variant_expr(campaign_name, campaign, rows.c.customer_id)
    if variant is None:
        return select(*rows.c, literal(None, String).label("variant"))
    held = and_(rows.c.status == OutboxStatus.PENDING, variant == HOLDOUT)
    keep = [c for c in rows.c if c.name not in ("status", "reason")]
    return select(
        *keep,
        case((held, literal(OutboxStatus.HELD_OUT.value)), else_=rows.c.status).label("status"),
        case((held, literal("holdout")), else_=rows.c.reason).label("reason"),
        variant.label("variant"),
    )
