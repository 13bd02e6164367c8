"""The planner's experiment hook: per-customer arm, per-arm channel order, holdout rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, case, literal

from ..config.models import CampaignConfig
from .assign import HOLDOUT, variant_expr


def channel_choice(reaches: list[tuple[str, Any]], order: list[str]) -> tuple[Any, Any]:
    """(channel, address_id): the first channel in ``order`` the customer can be reached on."""
    by_name = dict(reaches)
    picked = [(by_name[name].c.address_id.is_not(None), name) for name in order]
    channel = case(*[(cond, literal(name)) for cond, name in picked], else_=None)
    address = case(*[(cond, by_name[name].c.address_id) for cond, name in picked], else_=None)
    return channel, address


def apply_experiment(campaign_name: str, campaign: CampaignConfig, customer_id: Any,
                     reaches: list[tuple[str, Any]], channel: Any, address_id: Any,
                     any_reach: ColumnElement[bool], status: Any,
                     reason: Any) -> tuple[Any, Any, Any, Any, Any]:
    """Return (variant, channel, address_id, status, reason) with the experiment applied.

    Reachable holdout customers become 'held_out' rows (reason 'holdout'): they keep
    the once_per key like a sent row, are never sent, and are the comparison group.
    """
    variant = variant_expr(campaign_name, campaign, customer_id)
    if variant is None:
        return literal(None), channel, address_id, status, reason
    overrides = [(name, v.channels) for name, v in campaign.variants.items() if v.channels]
    if overrides:
        channel_whens, address_whens = [], []
        for name, order in overrides:
            ch, addr = channel_choice(reaches, order)
            channel_whens.append((variant == name, ch))
            address_whens.append((variant == name, addr))
        channel = case(*channel_whens, else_=channel)
        address_id = case(*address_whens, else_=address_id)
    held = and_(any_reach, variant == HOLDOUT)
    status = case((held, literal("held_out")), else_=status)
    reason = case((held, literal("holdout")), else_=reason)
    return variant, channel, address_id, status, reason
