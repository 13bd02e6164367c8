"""Trigger conditions as set-based SQL: each yields (customer_id, subject).

The subject is what ``once_per`` keys on: the cart, the order or the tier the
message is about. Each trigger is one grouped/ranked subquery over all customers,
never a query per customer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, exists, func, literal, select

from dispatcher.config.mechanics import LoyaltyConfig, TriggerConfig
from dispatcher.mechanics.loyalty import counted_spend, tier_sql
from dispatcher.segments.sql import order_stats_subquery
from dispatcher.store.schema import carts, orders


def _ranked_orders(newest_first: bool, name: str) -> Any:
    order_by = (orders.c.placed_at.desc(), orders.c.id.desc()) if newest_first \
        else (orders.c.placed_at, orders.c.id)
    return select(
        orders.c.customer_id, orders.c.id, orders.c.placed_at,
        func.row_number().over(partition_by=orders.c.customer_id, order_by=order_by)
        .label("rank"),
    ).subquery(name)


def newest_cart() -> Any:
    ranked = select(
        carts.c.customer_id, carts.c.id, carts.c.updated_at,
        func.row_number().over(partition_by=carts.c.customer_id,
                               order_by=(carts.c.updated_at.desc(), carts.c.id.desc()))
        .label("rank"),
    ).subquery("ranked_carts_t")
    return select(ranked.c.customer_id, ranked.c.id, ranked.c.updated_at) \
        .where(ranked.c.rank == 1).subquery("newest_cart")


def first_order(within: Any, now: datetime) -> Any:
    ranked = _ranked_orders(False, "first_orders")
    return select(ranked.c.customer_id, cast(ranked.c.id, String).label("subject")).where(
        ranked.c.rank == 1, ranked.c.placed_at > now - within, ranked.c.placed_at <= now)


def cart_abandoned(idle: tuple[Any, Any], now: datetime) -> Any:
    cart = newest_cart()
    ordered_since = exists(select(literal(1)).where(
        orders.c.customer_id == cart.c.customer_id, orders.c.placed_at >= cart.c.updated_at))
    return select(cart.c.customer_id, cast(cart.c.id, String).label("subject")).where(
        cart.c.updated_at <= now - idle[0], cart.c.updated_at >= now - idle[1],
        ~ordered_since)


def order_milestone(every: int, within: Any, now: datetime) -> Any:
    stats = order_stats_subquery()
    newest = _ranked_orders(True, "newest_orders")
    return (
        select(newest.c.customer_id, cast(newest.c.id, String).label("subject"))
        .join(stats, stats.c.customer_id == newest.c.customer_id)
        .where(newest.c.rank == 1, newest.c.placed_at > now - within,
               newest.c.placed_at <= now, (stats.c.orders_count % every) == 0)
    )


def order_delivered(ago: Any, within: Any, now: datetime) -> Any:
    # Newest delivered order in the window per customer; the next run finds any other.
    ranked = select(
        orders.c.customer_id, orders.c.id, orders.c.delivered_at,
        func.row_number().over(partition_by=orders.c.customer_id,
                               order_by=(orders.c.delivered_at.desc(), orders.c.id.desc()))
        .label("rank"),
    ).where(orders.c.delivered_at <= now - ago,
            orders.c.delivered_at > now - ago - within).subquery("delivered_orders")
    return select(ranked.c.customer_id, cast(ranked.c.id, String).label("subject")) \
        .where(ranked.c.rank == 1)


def customer_tier(loyalty: LoyaltyConfig) -> Any:
    stats = select(
        orders.c.customer_id, func.count().label("orders_count"),
        func.sum(counted_spend(loyalty)).label("spent"),
        func.max(orders.c.placed_at).label("last_order_at"),
    ).group_by(orders.c.customer_id).subquery("tier_stats")
    tier = tier_sql(loyalty, func.coalesce(stats.c.spent, 0), stats.c.orders_count)
    return select(stats.c.customer_id, tier.label("subject"),
                  stats.c.last_order_at.label("last_order_at"))


def tier_reached(loyalty: LoyaltyConfig, within: Any, now: datetime) -> Any:
    """Customers whose order crossed into a tier, the newest such order within ``within``.

    Each order is judged by the customer's totals up to and including it against the
    totals up to and excluding it (running sums over the customer's orders in one
    window-function pass). A customer who has been silver for months and orders again
    crossed nothing; the order that took them from 4 000 to 5 500 crossed into silver.
    ``within: null`` looks at every order ever (each member once, on their newest tier).
    """
    recent = select(orders.c.customer_id).where(orders.c.placed_at <= now)
    if within is not None:
        recent = recent.where(orders.c.placed_at > now - within)
    order_key = (orders.c.placed_at, orders.c.id)
    counted = counted_spend(loyalty)
    running_totals = select(
        orders.c.customer_id, orders.c.id, orders.c.placed_at, counted.label("counted"),
        func.sum(counted).over(partition_by=orders.c.customer_id, order_by=order_key,
                                      rows=(None, 0)).label("spent"),
        func.row_number().over(partition_by=orders.c.customer_id, order_by=order_key)
        .label("count"),
    ).where(orders.c.placed_at <= now, orders.c.customer_id.in_(recent.distinct()))
    running = running_totals.subquery("running_totals")
    after = tier_sql(loyalty, running.c.spent, running.c.count)
    before = tier_sql(loyalty, running.c.spent - running.c.counted, running.c.count - 1)
    crossings = select(
        running.c.customer_id, after.label("subject"),
        func.row_number().over(partition_by=running.c.customer_id,
                               order_by=(running.c.placed_at.desc(), running.c.id.desc()))
        .label("rank"),
    ).where(after.is_not(None), func.coalesce(before, "") != after)
    if within is not None:
        crossings = crossings.where(running.c.placed_at > now - within)
    newest = crossings.subquery("tier_crossings")
    return select(newest.c.customer_id, newest.c.subject).where(newest.c.rank == 1)


def trigger_select(trigger: TriggerConfig, loyalty: LoyaltyConfig, now: datetime) -> Any:
    kind = trigger.kind
    spec: Any = getattr(trigger, kind)
    if kind == "first_order":
        return first_order(spec.within, now)
    if kind == "cart_abandoned":
        return cart_abandoned(spec.idle, now)
    if kind == "order_milestone":
        return order_milestone(spec.every, spec.within, now)
    if kind == "order_delivered":
        return order_delivered(spec.ago, spec.within, now)
    return tier_reached(loyalty, spec.within, now)


def default_subject(once_per: str, loyalty: LoyaltyConfig) -> Any | None:
    """Without a trigger, ``once_per: cart|order|tier`` keys on the newest cart, the
    newest order, or the current tier."""
    if once_per == "cart":
        cart = newest_cart()
        return select(cart.c.customer_id, cast(cart.c.id, String).label("subject"))
    if once_per == "order":
        newest = _ranked_orders(True, "newest_orders")
        return select(newest.c.customer_id, cast(newest.c.id, String).label("subject")) \
            .where(newest.c.rank == 1)
    if once_per == "tier":
        tiers = customer_tier(loyalty).subquery("customer_tiers")
        return select(tiers.c.customer_id, tiers.c.subject).where(tiers.c.subject.is_not(None))
    return None

