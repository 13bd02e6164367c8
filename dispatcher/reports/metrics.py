"""Shop-wide retention metrics for a period, with the formulas in DOMAIN.md.

    repeat customer rate = customers with 2+ orders in the period / customers with 1+
    purchase frequency   = orders in the period / unique customers who ordered in it
    average order value  = revenue / orders, per currency
    customer value       = purchase frequency x average order value, per currency
                           (= revenue in that currency / customers who ordered)
    retention rate       = (customers at period end - new customers in the period)
                           / customers at period start

"A customer at time T" is someone who ordered within the ``active`` window before T
(default 365 days, never shorter than the period, so everyone who orders in the period
is a customer at its end). "New" means the customer's first order ever falls in the
period. One grouped statement computes every count, a second the orders and revenue
per currency: amounts in different currencies are never added together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, case, func, select

from dispatcher.config.load import LoadedConfig
from dispatcher.segments.sql import SegmentSQL
from dispatcher.store.schema import orders

DEFAULT_ACTIVE = timedelta(days=365)


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def retention_rate(at_start: int, at_end: int, new: int) -> float | None:
    return ratio(at_end - new, at_start)


@dataclass
class Metrics:
    start: datetime
    end: datetime
    segment: str | None
    orders: int
    revenue: dict[str, float]  # per currency, e.g. {"UAH": 1200.0, "USD": 30.0}
    orders_by_currency: dict[str, int]
    customers_ordered: int
    repeat_customers: int
    customers_at_start: int
    customers_at_end: int
    new_customers: int

    @property
    def repeat_customer_rate(self) -> float | None:
        return ratio(self.repeat_customers, self.customers_ordered)

    @property
    def purchase_frequency(self) -> float | None:
        return ratio(self.orders, self.customers_ordered)

    @property
    def average_order_value(self) -> dict[str, float | None]:
        return {c: ratio(v, self.orders_by_currency[c]) for c, v in self.revenue.items()}

    @property
    def customer_value(self) -> dict[str, float | None]:
        # purchase frequency x AOV in one currency = that currency's revenue per customer
        return {c: ratio(v, self.customers_ordered) for c, v in self.revenue.items()}

    @property
    def retention_rate(self) -> float | None:
        return retention_rate(self.customers_at_start, self.customers_at_end,
                              self.new_customers)

    def as_dict(self) -> dict[str, Any]:
        return {
            "segment": self.segment, "from": self.start.isoformat(),
            "to": self.end.isoformat(), "orders": self.orders,
            "orders_by_currency": self.orders_by_currency,
            "revenue": {c: round(v, 2) for c, v in self.revenue.items()},
            "customers_ordered": self.customers_ordered,
            "repeat_customers": self.repeat_customers,
            "customers_at_start": self.customers_at_start,
            "customers_at_end": self.customers_at_end, "new_customers": self.new_customers,
            "repeat_customer_rate": self.repeat_customer_rate,
            "purchase_frequency": self.purchase_frequency,
            "average_order_value": self.average_order_value,
            "customer_value": self.customer_value, "retention_rate": self.retention_rate,
        }


def compute_metrics(engine: Engine, loaded: LoadedConfig, start: datetime, end: datetime,
                    segment: str | None = None,
                    active: timedelta = DEFAULT_ACTIVE) -> Metrics:
    active = max(active, end - start)
    in_period = and_(orders.c.placed_at >= start, orders.c.placed_at < end)
    active_start = and_(orders.c.placed_at >= start - active, orders.c.placed_at < start)
    active_end = and_(orders.c.placed_at >= end - active, orders.c.placed_at < end)
    per_customer = select(
        orders.c.customer_id,
        func.sum(case((in_period, 1), else_=0)).label("period_orders"),
        func.min(orders.c.placed_at).label("first_order_at"),
        func.max(case((active_start, 1), else_=0)).label("active_start"),
        func.max(case((active_end, 1), else_=0)).label("active_end"),
    ).where(orders.c.placed_at < end)
    by_currency = select(orders.c.currency, func.count(), func.sum(orders.c.total)) \
        .where(in_period).group_by(orders.c.currency).order_by(orders.c.currency)
    if segment is not None:
        members = SegmentSQL(loaded.segments, end, loaded.config.timezone).select_ids(segment)
        per_customer = per_customer.where(orders.c.customer_id.in_(members.scalar_subquery()))
        by_currency = by_currency.where(orders.c.customer_id.in_(members.scalar_subquery()))
    rows = per_customer.group_by(orders.c.customer_id).subquery("per_customer")
    is_new = and_(rows.c.first_order_at >= start, rows.c.first_order_at < end)
    query = select(
        func.coalesce(func.sum(rows.c.period_orders), 0),
        func.coalesce(func.sum(case((rows.c.period_orders >= 1, 1), else_=0)), 0),
        func.coalesce(func.sum(case((rows.c.period_orders >= 2, 1), else_=0)), 0),
        func.coalesce(func.sum(rows.c.active_start), 0),
        func.coalesce(func.sum(rows.c.active_end), 0),
        func.coalesce(func.sum(case((is_new, 1), else_=0)), 0),
    )
    with engine.connect() as conn:
        n_orders, ordered, repeat, at_start, at_end, new = conn.execute(query).one()
        currencies = conn.execute(by_currency).all()
    return Metrics(start, end, segment, int(n_orders),
                   {c: float(total or 0) for c, _, total in currencies},
                   {c: int(count) for c, count, _ in currencies}, int(ordered),
                   int(repeat), int(at_start), int(at_end), int(new))
