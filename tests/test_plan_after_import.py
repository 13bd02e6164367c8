"""A plan right after `dispatcher import` on PostgreSQL uses the tables' statistics.

Fresh tables have none: PostgreSQL then guesses a handful of rows per table and joins
customers x orders with a nested loop, which took 644 s for 40,000 customers (issue 19).
`import` refreshes the statistics of the tables it wrote, so the planner's segment
query joins by hash or merge. Uses the throwaway server of tests/pg.py (skipped without
PostgreSQL binaries, a failure with DISPATCHER_REQUIRE_POSTGRES=1).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

from sqlalchemy import create_engine, func, select, text

from dispatcher.app import load
from dispatcher.plan.planner import planned_rows

from .shop import Shop

SEGMENTS = """\
lapsed:
  all:
    - orders_count: {gte: 1}
    - last_order_age: {gt: 90d}
"""
CAMPAIGNS = "win_back:\n  segment: lapsed\n  channels: [email]\n  template: win_back\n"
CUSTOMERS = 3000
ORDERS_EACH = 4
NOW = datetime(2026, 6, 1, 9, 0)


def _import_shop(shop: Shop) -> None:
    shop.write_config("email: {}", SEGMENTS, CAMPAIGNS)
    shop.copy_templates("win_back")
    people = [{"id": f"c{n:05d}", "name": f"Customer {n}", "email": f"c{n}@example.com",
               "email_consent": "yes"} for n in range(CUSTOMERS)]
    orders = [{"id": f"o{n:05d}-{k}", "customer_id": f"c{n:05d}",
               "placed_at": (NOW - timedelta(days=30 + 45 * k + n % 60)).isoformat() + "Z",
               "total": "100.00", "currency": "UAH"}
              for n in range(CUSTOMERS) for k in range(ORDERS_EACH)]
    result = shop.cli("import", "customers", str(shop.csv("customers.csv", people)))
    assert f"imported {CUSTOMERS} customers" in result.output
    result = shop.cli("import", "orders", str(shop.csv("orders.csv", orders)))
    assert f"imported {CUSTOMERS * ORDERS_EACH} orders" in result.output


def _plan_nodes(plan: dict) -> list[dict]:
    nodes = [plan]
    for child in plan.get("Plans", []):
        nodes.extend(_plan_nodes(child))
    return nodes


def _relations(node: dict) -> set[str]:
    return {n["Relation Name"] for n in _plan_nodes(node) if "Relation Name" in n}


def _segment_query_plan(shop: Shop) -> dict:
    """EXPLAIN (FORMAT JSON) of the query `dispatcher plan win_back` runs."""
    loaded = load(str(shop.config_path))
    rows = planned_rows(loaded, "win_back", NOW, NOW, zones=["Europe/Kyiv"])
    query = select(rows.c.status, rows.c.reason, rows.c.channel, func.count()).group_by(
        rows.c.status, rows.c.reason, rows.c.channel)
    engine = create_engine(shop.db_url())
    try:
        with engine.connect() as conn:
            compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
            raw = conn.execute(text(f"EXPLAIN (FORMAT JSON) {compiled}")).scalar_one()
    finally:
        engine.dispose()
    data = raw if isinstance(raw, list) else json.loads(raw)
    return data[0]["Plan"]


def test_plan_after_import_joins_customers_and_orders_without_a_nested_loop(
        pg_shop: Shop) -> None:
    # Given a shop whose customers and orders were just imported into a fresh database
    _import_shop(pg_shop)
    # When the planner's segment query is explained
    plan = _segment_query_plan(pg_shop)
    # Then no nested loop has customers on one side and orders on the other
    loops = [node for node in _plan_nodes(plan) if node["Node Type"] == "Nested Loop"
             and len(node.get("Plans", [])) == 2
             and {"customers", "orders"} <= _relations(node["Plans"][0])
             | _relations(node["Plans"][1])
             and not ({"customers", "orders"} <= _relations(node["Plans"][0]))
             and not ({"customers", "orders"} <= _relations(node["Plans"][1]))]
    assert not loops, "nested loop over customers x orders: " + re.sub(
        r"\s+", " ", json.dumps(loops[0], default=str))[:600]

