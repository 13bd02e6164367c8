"""Load what rendering needs for a batch of customers, in a fixed number of queries."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from .context import CustomerView, OrderStats
from .store.schema import customers, orders


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
        query = (
            select(orders.c.customer_id, func.count(), func.sum(orders.c.total),
                   func.min(orders.c.placed_at), func.max(orders.c.placed_at))
            .where(orders.c.customer_id.in_(chunk))
            .group_by(orders.c.customer_id)
        )
        for customer_id, count, total, first, last in conn.execute(query):
            out[customer_id] = OrderStats(int(count), float(total or 0), _dt(first), _dt(last))
    return out


def _dt(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
