"""A synthetic shop for A/B reports: customers, a campaign with variants and a holdout,
and orders drawn by seeded Bernoulli trials with known per-arm probabilities."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, insert, select

from dispatcher.store.db import make_engine
from dispatcher.store.schema import orders, outbox

from .shop import Shop

NOW = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
HISTORY = NOW - timedelta(days=200)  # every customer's first order, far before the campaign

SEGMENTS = """
buyers:
  orders_count: {gte: 1}
"""

CHANNELS = """
email:
  transport: file
  from: "Test Shop <shop@shop.test>"
"""


def campaign_yaml(holdout: str = "20%", weights: tuple[float, float] = (1, 1),
                  salt: str | None = None, once_per: str = "customer",
                  planned: int | None = None, description: str = "A/B") -> str:
    lines = [
        "promo:",
        f"  description: {description}",
        "  segment: buyers",
        "  channels: [email]",
        '  schedule: "0 * * * *"',
        f"  once_per: {once_per}",
        f"  holdout: {holdout}",
        "  attribution_window: 7d",
    ]
    if salt:
        lines.append(f"  salt: {salt}")
    if planned:
        lines.append(f"  planned_recipients: {planned}")
    lines += [
        "  variants:",
        "    A:",
        f"      weight: {weights[0]}",
        "    B:",
        f"      weight: {weights[1]}",
        '      subject: "{{ customer.first_name }}, 20% off just for you"',
        "      offer: {discount: 20}",
    ]
    return "\n".join(lines) + "\n"


def configure(shop: Shop, **campaign: Any) -> None:
    """(Re)write config.yaml: the next command loads it afresh, as after an edit."""
    shop.write_config(CHANNELS, SEGMENTS, campaign_yaml(**campaign))


def build(shop: Shop, customers: int, **campaign: Any) -> None:
    configure(shop, **campaign)
    shop.template("promo/email.subject", "We miss you, {{ customer.first_name }}")
    shop.template("promo/email.txt",
                  "Hi {{ customer.first_name }}!\n"
                  "{% if offer is defined %}Take {{ offer.discount }}% off.{% endif %}\n"
                  "Unsubscribe: {{ unsubscribe_url }}\n")
    people = [{"id": f"c{i:05d}", "name": f"Customer{i} Test", "email": f"c{i}@example.com",
               "email_consent": "yes"} for i in range(customers)]
    history = [{"id": f"h{i:05d}", "customer_id": f"c{i:05d}", "placed_at": HISTORY.isoformat(),
                "total": "40", "currency": "EUR"} for i in range(customers)]
    shop.cli("import", "customers", str(shop.csv("customers.csv", people)))
    shop.cli("import", "orders", str(shop.csv("orders.csv", history)))


def engine(shop: Shop) -> Engine:
    """The shop's store: DISPATCHER_DATABASE_URL (e.g. a PostgreSQL test database) wins,
    as it does for the CLI."""
    return make_engine(os.environ.get("DISPATCHER_DATABASE_URL") or shop.db_url())


def recipients(eng: Engine) -> list[Any]:
    with eng.connect() as conn:
        return conn.execute(
            select(outbox.c.id, outbox.c.customer_id, outbox.c.variant, outbox.c.status,
                   outbox.c.sent_at, outbox.c.not_before)
            .where(outbox.c.status != "skipped").order_by(outbox.c.id)).all()


def draw_orders(eng: Engine, probabilities: dict[str, float], seed: int,
                revenue: dict[str, float] | None = None,
                revenue_out: dict[str, Decimal] | None = None) -> dict[str, int]:
    """Replace campaign-period orders with fresh Bernoulli draws; return true conversions
    per arm (and fill ``revenue_out`` with the attributable revenue per arm). Also adds
    orders outside the window, which must not be attributed."""
    rng = random.Random(seed)
    rows = recipients(eng)
    new: list[dict[str, Any]] = []
    converted: dict[str, int] = {}
    for row in rows:
        anchor = row.sent_at or row.not_before
        if rng.random() < probabilities[row.variant]:
            converted[row.variant] = converted.get(row.variant, 0) + 1
            mean = (revenue or {}).get(row.variant, 50.0)
            order = _order(f"s{seed}-{row.id}", row.customer_id,
                           anchor + timedelta(hours=rng.uniform(1, 6 * 24)),
                           rng.expovariate(1 / mean))
            new.append(order)
            if revenue_out is not None:
                revenue_out[row.variant] = revenue_out.get(row.variant, Decimal(0)) \
                    + order["total"]
        if rng.random() < 0.05:  # a later purchase, past the 7-day window
            new.append(_order(f"late{seed}-{row.id}", row.customer_id,
                              anchor + timedelta(days=rng.uniform(8, 20)), 30))
    with eng.begin() as conn:
        conn.execute(delete(orders).where(orders.c.placed_at > HISTORY))
        if new:
            conn.execute(insert(orders), new)
    return converted


def _order(order_id: str, customer_id: str, placed_at: datetime, total: float) -> dict[str, Any]:
    return {"id": order_id, "customer_id": customer_id, "placed_at": placed_at,
            "total": Decimal(f"{total:.2f}"), "currency": "EUR", "promo_code": None}


def later(days: float) -> str:
    return (NOW + timedelta(days=days)).isoformat()



def sent_shop(folder: Path, customers: int) -> Iterator[Shop]:
    """A shop whose campaign has been planned and sent once (for module-scoped fixtures:
    sending thousands of real messages is the slow part, drawing orders is cheap)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("DISPATCHER_DATABASE_URL", raising=False)
        patch.delenv("DISPATCHER_CONFIG", raising=False)
        shop = Shop(folder)
        build(shop, customers)
        shop.cli("run-once", "promo")
        yield shop
