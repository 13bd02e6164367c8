"""Loyalty: tiers by total spent or order count, and a reward every N-th order.

The same rules run in SQL (tier triggers and ``once_per: tier``) and in Python
(template variables), from one config block, so the two cannot disagree.

Spend toward a tier counts only orders in ``loyalty.currency`` when it is set: there
is no exchange-rate table, and adding dollars to hryvnias would promote the wrong
people. ``loyalty_currency`` tells ``validate`` and ``plan`` which orders that leaves out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, String, case, false, literal, null, or_

from dispatcher.config.mechanics import LoyaltyConfig, TierConfig
from dispatcher.store.schema import orders


def _reached(tier: TierConfig, spent: Any, count: Any) -> Any:
    conditions = []
    if tier.spent is not None:
        conditions.append(spent >= tier.spent)
    if tier.orders is not None:
        conditions.append(count >= tier.orders)
    return or_(false(), *conditions)


def counted_spend(loyalty: LoyaltyConfig) -> ColumnElement[Any]:
    """What one order adds to the customer's spend toward a tier (SQL, per order row)."""
    if loyalty.currency is None:
        return orders.c.total
    return case((orders.c.currency == loyalty.currency, orders.c.total), else_=0)


def tier_sql(loyalty: LoyaltyConfig, spent: Any, count: Any) -> ColumnElement[Any]:
    """The customer's tier name (NULL below the first tier); highest tier wins."""
    if not loyalty.tiers:
        return null().cast(String)  # typed: PostgreSQL cannot infer a bare NULL's type
    whens = [(_reached(t, spent, count), literal(t.name)) for t in reversed(loyalty.tiers)]
    return case(*whens, else_=None)


def _reached_py(tier: TierConfig, spent: float, count: int) -> bool:
    return bool((tier.spent is not None and spent >= tier.spent)
                or (tier.orders is not None and count >= tier.orders))


@dataclass(frozen=True)
class Progress:
    orders_count: int
    orders_to_next_reward: int | None
    tier: str | None
    next_tier: str | None
    spent_to_next_tier: float | None
    orders_to_next_tier: int | None

    def as_context(self) -> dict[str, Any]:
        return dict(self.__dict__)


def progress(loyalty: LoyaltyConfig, orders_count: int, total_spent: float) -> Progress:
    """Where a customer stands: "2 more orders to your gift", "1 200 to Gold"."""
    to_reward = None
    if loyalty.reward_every:
        to_reward = loyalty.reward_every - orders_count % loyalty.reward_every
    current = None
    upcoming = None
    for tier in loyalty.tiers:
        if _reached_py(tier, total_spent, orders_count):
            current = tier
        elif upcoming is None:
            upcoming = tier
    # The next tier is the first one above the current, even if a lower one was skipped.
    if current is not None:
        above = loyalty.tiers[loyalty.tiers.index(current) + 1:]
        upcoming = above[0] if above else None
    spent_left = orders_left = None
    if upcoming is not None:
        if upcoming.spent is not None:
            spent_left = round(max(0.0, upcoming.spent - total_spent), 2)
        if upcoming.orders is not None:
            orders_left = max(0, upcoming.orders - orders_count)
    return Progress(orders_count, to_reward, current.name if current else None,
                    upcoming.name if upcoming else None, spent_left, orders_left)
