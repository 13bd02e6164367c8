"""``dispatcher metrics``: DOMAIN.md's formulas on a shop built to hit the worked example."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from dispatcher.reports.metrics import retention_rate

from .shop import Shop

START = datetime(2026, 3, 1)
END = datetime(2026, 3, 31)


def test_worked_example_formula() -> None:
    assert round(retention_rate(262, 371, 153) or 0, 2) == 0.83
    assert retention_rate(0, 10, 10) is None


def build(shop: Shop) -> None:
    """262 customers at the start (ordered in the 90 days before it): 218 order again in
    the period (50 of them twice), 44 do not and drop out of the 90-day window by its
    end; 153 new customers place their first order in it. Customers r000-r099 and
    l00-l19 are tier gold."""
    shop.write_config("{}", "gold:\n  attributes.tier: gold\n", "{}")
    customers, orders = [], []

    def order(cid: str, when: datetime, total: str = "100") -> None:
        orders.append({"id": f"o{len(orders)}", "customer_id": cid,
                       "placed_at": when.isoformat(), "total": total, "currency": "EUR"})

    for i in range(218):
        cid = f"r{i:03d}"
        customers.append({"id": cid, "attr.tier": "gold" if i < 100 else "silver"})
        order(cid, START - timedelta(days=10))
        order(cid, START + timedelta(days=3))
        if i < 50:
            order(cid, START + timedelta(days=20), "50")
    for i in range(44):
        cid = f"l{i:02d}"
        customers.append({"id": cid, "attr.tier": "gold" if i < 20 else "silver"})
        order(cid, START - timedelta(days=80))
    for i in range(153):
        cid = f"n{i:03d}"
        customers.append({"id": cid, "attr.tier": "silver"})
        order(cid, START + timedelta(days=5, hours=i % 24))
    customers.append({"id": "ancient", "attr.tier": "gold"})
    order("ancient", START - timedelta(days=400))  # a customer long ago: in no count
    order("n000", END + timedelta(days=1))  # after the period: ignored
    shop.cli("import", "customers", str(shop.csv("customers.csv", customers)))
    shop.cli("import", "orders", str(shop.csv("orders.csv", orders)))


def test_metrics_whole_shop_and_segment(shop: Shop) -> None:
    build(shop)
    out = shop.cli("metrics", "--from", START.isoformat(), "--to", END.isoformat(),
                   "--active", "90d", "--segment", "gold", "--format", "json").output
    shop_wide, gold = json.loads(out)
    assert (shop_wide["customers_at_start"], shop_wide["customers_at_end"],
            shop_wide["new_customers"]) == (262, 371, 153)
    assert round(shop_wide["retention_rate"], 2) == 0.83
    assert shop_wide["orders"] == 218 + 50 + 153
    assert shop_wide["customers_ordered"] == 371 and shop_wide["repeat_customers"] == 50
    assert shop_wide["repeat_customer_rate"] == 50 / 371
    assert shop_wide["purchase_frequency"] == 421 / 371
    revenue = 218 * 100 + 50 * 50 + 153 * 100
    assert shop_wide["revenue"] == {"EUR": revenue}
    assert shop_wide["average_order_value"] == {"EUR": revenue / 421}
    assert abs(shop_wide["customer_value"]["EUR"] - revenue / 371) < 1e-9
    # gold: 100 retained + 20 lapsed at the start, 100 at the end, none new
    assert (gold["segment"], gold["customers_at_start"], gold["customers_at_end"],
            gold["new_customers"]) == ("gold", 120, 100, 0)
    assert round(gold["retention_rate"], 2) == 0.83
    assert gold["repeat_customers"] == 50 and gold["orders"] == 150

    table = shop.cli("metrics", "--from", START.isoformat(), "--to", END.isoformat(),
                     "--active", "90d", "--segment", "gold").output
    assert "retention rate" in table and "0.83" in table and "whole shop" in table


def test_metrics_rejects_unknown_segment_and_bad_period(shop: Shop) -> None:
    build(shop)
    out = shop.cli("metrics", "--segment", "golden", expect=2).output
    assert "unknown segment 'golden' (known: gold)" in out
    out = shop.cli("metrics", "--from", END.isoformat(), "--to", START.isoformat(),
                   expect=2).output
    assert "--from must be before --to" in out


def test_metrics_csv_one_line_per_scope(shop: Shop) -> None:
    build(shop)
    lines = shop.cli("metrics", "--from", START.isoformat(), "--to", END.isoformat(),
                     "--active", "90d", "--segment", "gold", "--format", "csv").output.splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]
    assert [r["segment"] for r in rows] == ["", "gold"]
    assert [round(float(r["retention_rate"]), 2) for r in rows] == [0.83, 0.83]
