"""Money has a currency: `metrics` and `report` never add hryvnias to dollars. A shop
with 1200 UAH and 30 USD has no "average order value 615.00"; it has 1200.00 UAH and
30.00 USD."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import insert

from dispatcher.store.schema import orders

from .reports_shop import build, engine, later, recipients
from .shop import Shop

START = datetime(2026, 3, 1)
END = datetime(2026, 4, 1)


def metrics_shop(shop: Shop) -> None:
    shop.write_config("{}", "everyone:\n  id: {is_null: false}\n", "{}")
    shop.cli("import", "customers", str(shop.csv("customers.csv", [{"id": "ua"},
                                                                   {"id": "us"}])))
    shop.cli("import", "orders", str(shop.csv("orders.csv", [
        {"id": "o1", "customer_id": "ua", "placed_at": "2026-03-05T10:00:00",
         "total": "1200.00", "currency": "UAH"},
        {"id": "o2", "customer_id": "us", "placed_at": "2026-03-06T10:00:00",
         "total": "30.00", "currency": "USD"},
    ])))


def test_metrics_report_each_currency(shop: Shop) -> None:
    metrics_shop(shop)
    args = ("metrics", "--from", START.isoformat(), "--to", END.isoformat())
    (result,) = json.loads(shop.cli(*args, "--format", "json").output)
    assert result["orders"] == 2 and result["customers_ordered"] == 2
    assert result["revenue"] == {"UAH": 1200.0, "USD": 30.0}
    assert result["average_order_value"] == {"UAH": 1200.0, "USD": 30.0}
    assert result["orders_by_currency"] == {"UAH": 1, "USD": 1}
    # customer value = purchase frequency x AOV, per currency: revenue / customers
    assert result["customer_value"] == {"UAH": 600.0, "USD": 15.0}

    table = shop.cli(*args).output
    assert "615" not in table and "1,230" not in table
    lines = {line.split("│")[1].strip(): line.split("│")[2].strip()
             for line in table.splitlines() if line.count("│") >= 3}
    assert lines["average order value, UAH"] == "1,200.00"
    assert lines["average order value, USD"] == "30.00"
    assert lines["revenue, UAH"] == "1,200.00" and lines["revenue, USD"] == "30.00"

    (row,) = csv.DictReader(io.StringIO(shop.cli(*args, "--format", "csv").output))
    assert (row["average_order_value_UAH"], row["average_order_value_USD"]) == \
        ("1200.0", "30.0")
    assert "average_order_value" not in row and "revenue" not in row


def test_ab_report_revenue_per_currency(shop: Shop) -> None:
    # Given an A/B test (no holdout: A is the baseline) sent to 60 customers
    build(shop, 60, holdout="0%")
    shop.cli("run-once", "promo")
    eng = engine(shop)
    rows = recipients(eng)
    arm = {r.customer_id: r.variant for r in rows}
    a = [r for r in rows if r.variant == "A"]
    b = [r for r in rows if r.variant == "B"]
    n_a, n_b = len(a), len(b)
    assert n_a > 5 and n_b > 5 and n_a + n_b == 60

    def order(oid: str, row, total: str, currency: str) -> dict:
        return {"id": oid, "customer_id": row.customer_id, "currency": currency,
                "placed_at": row.sent_at + timedelta(days=1), "total": Decimal(total),
                "promo_code": None}

    # When A's customers buy in hryvnias and B's mostly in dollars
    with eng.begin() as conn:
        conn.execute(insert(orders), [
            order("a1", a[0], "1200", "UAH"), order("a2", a[1], "1200", "UAH"),
            order("a3", a[2], "1200", "UAH"),
            order("b1", b[0], "30", "USD"), order("b2", b[1], "30", "USD"),
            order("b3", b[2], "600", "UAH"), order("b4", b[2], "10", "USD"),
        ])
    assert {arm[r.customer_id] for r in a[:3]} == {"A"}

    # Then revenue per recipient and its test are per currency, never a mix
    data = json.loads(shop.cli("report", "promo", "--format", "json",
                               "--at", later(3)).output)
    by_arm = {x["arm"]: x for x in data["arms"]}
    assert set(by_arm["A"]["revenue"]) == {"UAH", "USD"}
    assert by_arm["A"]["revenue"]["UAH"]["total"] == 3600.0
    assert by_arm["A"]["revenue"]["USD"]["total"] == 0.0
    assert by_arm["B"]["revenue"]["UAH"]["total"] == 600.0
    assert by_arm["B"]["revenue"]["USD"]["total"] == 70.0
    assert abs(by_arm["A"]["revenue"]["UAH"]["per_recipient"] - 3600 / n_a) < 1e-9
    assert abs(by_arm["B"]["revenue"]["USD"]["per_recipient"] - 70 / n_b) < 1e-9
    usd = by_arm["B"]["revenue"]["USD"]
    assert abs(usd["uplift"] - 70 / n_b) < 1e-9 and usd["p_value"] is not None
    uah = by_arm["B"]["revenue"]["UAH"]
    assert abs(uah["uplift"] - (600 / n_b - 3600 / n_a)) < 1e-9
    assert by_arm["B"]["converted"] == 3 and by_arm["A"]["converted"] == 3

    table = shop.cli("report", "promo", "--at", later(3)).output
    assert "revenue / recipient, UAH" in table and "revenue / recipient, USD" in table
    assert "p (Welch t), USD" in table
    assert f"{(600 + 70) / n_b:,.2f}" not in table  # what adding the two printed before

    (row_a, row_b) = sorted(csv.DictReader(io.StringIO(shop.cli(
        "report", "promo", "--format", "csv", "--at", later(3)).output)),
        key=lambda r: r["arm"])
    assert float(row_b["revenue_USD"]) == 70.0 and float(row_b["revenue_UAH"]) == 600.0
    assert row_a["revenue_uplift_USD"] == "" and row_b["revenue_p_value_USD"] != ""
