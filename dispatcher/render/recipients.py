"""Load what rendering needs for a batch of customers, in a fixed number of queries."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from dispatcher.render.context import CustomerView, OrderStats
from dispatcher.store.schema import customers, orders


def load_customers(conn: Connection, ids: Iterable[str]) -> dict[str, CustomerView]:
    wanted = list(set(ids))
    out: dict[str, CustomerView] = {}
    for chunk in _chunks(wanted, 500):
        for row in conn.execute(select(customers).where(customers.c.id.in_(chunk))):
            out[row.id] = CustomerView(row.id, row.name, row.locale, row.timezone, row.birthday,
                                       dict(row.attributes or {}))
    return out


def load_stats(conn: Connection, ids: Iterable[str]) -> dict[str, OrderStats]:
    wanted = list(set(ids))
    out: dict[str, OrderStats] = {}
    for chunk in _chunks(wanted, 500):
        # One row per customer and currency (nearly always one), folded here.
        query = (
            select(orders.c.customer_id, orders.c.currency, func.count(),
                   func.sum(orders.c.total), func.min(orders.c.placed_at),
                   func.max(orders.c.placed_at))
            .where(orders.c.customer_id.in_(chunk))
            .group_by(orders.c.customer_id, orders.c.currency)
        )
        for customer_id, currency, count, total, first, last in conn.execute(query):
            stats = out.setdefault(customer_id, OrderStats())
            spent = float(total or 0)
            stats.orders_count += int(count)
            stats.total_spent = round(stats.total_spent + spent, 2)
            stats.spent_by_currency[currency] = spent
            stats.first_order_at = min(filter(None, (stats.first_order_at, _dt(first))),
                                       default=None)
            stats.last_order_at = max(filter(None, (stats.last_order_at, _dt(last))),
                                      default=None)
    return out


def _dt(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
