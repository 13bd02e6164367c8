"""A/B report on a synthetic shop where variant B truly converts better.

Given customers planned and sent through the real planner and sender (file transport),
when orders are drawn with known per-arm probabilities,
then the report counts exactly the conversions drawn, finds B's win with enough
recipients, says "not significant" with too few, and its interval covers the truth.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from dispatcher.app import load
from dispatcher.reports.abtest import build_report
from dispatcher.store.schema import orders

from .reports_shop import NOW, build, draw_orders, engine, later, recipients, sent_shop
from .shop import Shop

TRUE = {"holdout": 0.04, "A": 0.06, "B": 0.10}


@pytest.fixture(scope="module")
def big_shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    """3000 customers planned and sent once; each test draws its own orders."""
    yield from sent_shop(tmp_path_factory.mktemp("big_shop"), 3000)


def test_report_finds_the_winner_and_counts_exactly(big_shop: Shop) -> None:
    shop = big_shop
    eng = engine(shop)
    rows = recipients(eng)
    arms = {r.variant for r in rows}
    assert arms == {"holdout", "A", "B"}
    assert all(r.status == "held_out" for r in rows if r.variant == "holdout")
    assert all(r.status == "sent" for r in rows if r.variant != "holdout")
    held = sum(r.variant == "holdout" for r in rows)
    assert 0.17 < held / len(rows) < 0.23  # holdout: 20%

    revenue: dict[str, Decimal] = {}
    truth = draw_orders(eng, TRUE, seed=1, revenue={"holdout": 40, "A": 40, "B": 60},
                        revenue_out=revenue)
    out = shop.cli("report", "promo", "--format", "json", "--at", later(30)).output
    data = json.loads(out)
    by_arm = {a["arm"]: a for a in data["arms"]}
    assert data["baseline"] == "holdout"
    for arm, converted in truth.items():
        assert by_arm[arm]["converted"] == converted  # late orders are not attributed
    for arm, total in revenue.items():
        assert by_arm[arm]["revenue"]["EUR"]["total"] == pytest.approx(float(total), abs=0.01)
        assert by_arm[arm]["revenue"]["EUR"]["per_recipient"] == pytest.approx(
            float(total) / by_arm[arm]["recipients"])
    assert by_arm["B"]["revenue"]["EUR"]["p_value"] < 0.05 \
        < by_arm["A"]["revenue"]["EUR"]["p_value"]
    assert by_arm["holdout"]["delivered"] == 0
    assert by_arm["B"]["delivered"] == by_arm["B"]["recipients"]
    assert by_arm["B"]["p_value"] < 0.05
    assert by_arm["B"]["uplift_ci_low"] > 0
    assert data["verdict"].startswith("variant B wins")
    table = shop.cli("report", "promo", "--at", later(30)).output
    assert "variant B wins" in table and "(baseline)" in table


def test_too_few_recipients_is_not_significant(shop: Shop) -> None:
    build(shop, 60)
    shop.cli("run-once", "promo")
    draw_orders(engine(shop), TRUE, seed=3)
    data = json.loads(shop.cli("report", "promo", "--format", "json",
                               "--at", later(30)).output)
    assert data["verdict"].startswith("Not significant yet")
    # what the test can see at this size, not "N more recipients" from a noisy difference
    assert "smallest conversion difference this test detects" in data["verdict"]
    assert "more recipients needed" not in data["verdict"]
    assert all(s["minimum_detectable_effect"] is None or s["minimum_detectable_effect"] > 0.1
               for s in data["not_yet"]["conversion"])
    assert any(w.startswith("small sample") for w in data["warnings"])


def test_interval_covers_the_true_uplift_in_most_seeds(big_shop: Shop) -> None:
    shop = big_shop
    eng = engine(shop)
    loaded = load(str(shop.config_path))
    covered = {"A": 0, "B": 0}
    for seed in range(20):
        draw_orders(eng, TRUE, seed=100 + seed)
        report = build_report(eng, loaded, "promo", NOW.replace(year=NOW.year + 1),
                              record_view=False)
        for arm in covered:
            conversion = report.arm(arm).conversion
            assert conversion is not None
            if conversion.diff_ci.covers(TRUE[arm] - TRUE["holdout"]):
                covered[arm] += 1
    assert covered["A"] >= 17 and covered["B"] >= 17, covered


def test_window_still_open_and_peeking_warnings(shop: Shop) -> None:
    build(shop, 400, planned=5000)
    shop.cli("run-once", "promo")
    eng = engine(shop)
    draw_orders(eng, TRUE, seed=5)
    first = json.loads(shop.cli("report", "promo", "--format", "json",
                                "--at", later(2)).output)
    # as of day 2, only the orders placed by then count
    arm_of = {row.id: row.variant for row in recipients(eng)}
    with eng.connect() as conn:
        placed = conn.execute(select(orders.c.id).where(
            orders.c.id.like("s%"), orders.c.placed_at <= NOW + timedelta(days=2))).scalars()
        by_then: dict[str, int] = {}
        for order_id in placed:
            arm = arm_of[int(order_id.split("-")[1])]
            by_then[arm] = by_then.get(arm, 0) + 1
    assert {a["arm"]: a["converted"] for a in first["arms"]} == \
        {arm: by_then.get(arm, 0) for arm in arm_of.values()}
    assert any("attribution window" in w for w in first["warnings"])
    assert not any(w.startswith("peeking") for w in first["warnings"])
    second = json.loads(shop.cli("report", "promo", "--format", "json",
                                 "--at", later(3)).output)
    assert any(w.startswith("peeking") for w in second["warnings"])


def test_csv_has_one_line_per_arm(shop: Shop) -> None:
    build(shop, 300)
    shop.cli("run-once", "promo")
    truth = draw_orders(engine(shop), TRUE, seed=7)
    lines = shop.cli("report", "promo", "--format", "csv", "--at", later(30)).output.splitlines()
    header = lines[0].split(",")
    assert header[:3] == ["arm", "recipients", "delivered"]
    rows = {line.split(",")[0]: dict(zip(header, line.split(","), strict=True))
            for line in lines[1:]}
    assert set(rows) == {"holdout", "A", "B"}
    assert {arm: int(r["converted"]) for arm, r in rows.items()} == \
        {arm: truth.get(arm, 0) for arm in rows}
