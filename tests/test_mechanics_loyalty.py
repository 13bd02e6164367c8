"""Loyalty progress: the numbers a message shows for a known customer, and the SQL
tier agreeing with the template's tier for every customer."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import insert, select

from dispatcher.config.mechanics import LoyaltyConfig
from dispatcher.mechanics.loyalty import progress
from dispatcher.mechanics.triggers import customer_tier
from dispatcher.store.db import make_engine, migrate
from dispatcher.store.schema import customers, orders

from .mechanics_peers import NOW, at, email_channel
from .mechanics_peers import customers as import_customers
from .mechanics_peers import orders as import_orders
from .shop import Shop
from .smtp_server import SMTPServer

LOYALTY = LoyaltyConfig.model_validate({
    "reward_every": 5,
    "tiers": [{"name": "silver", "spent": 1000}, {"name": "gold", "spent": 5000, "orders": 20}],
})


def test_progress_numbers_for_known_customers() -> None:
    # 7 orders, 1 250 spent: silver; 3 more orders to the 10th-order reward; 3 750 to gold
    p = progress(LOYALTY, 7, 1250.0)
    assert (p.orders_count, p.orders_to_next_reward, p.tier, p.next_tier,
            p.spent_to_next_tier, p.orders_to_next_tier) == (7, 3, "silver", "gold", 3750.0, 13)
    # just reached the 5th order: the next reward is 5 orders away
    assert progress(LOYALTY, 5, 100.0).orders_to_next_reward == 5
    # no tier yet
    newbie = progress(LOYALTY, 1, 50.0)
    assert (newbie.tier, newbie.next_tier, newbie.spent_to_next_tier) == (None, "silver", 950.0)
    # gold by order count alone, top tier: nothing further
    top = progress(LOYALTY, 20, 900.0)
    assert (top.tier, top.next_tier, top.spent_to_next_tier) == ("gold", None, None)


def test_sql_tier_matches_python_tier(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 't.db'}")
    migrate(engine)
    spend = {"a": [50], "b": [600, 400], "c": [4999.99], "d": [5000], "e": [10] * 20, "f": []}
    with engine.begin() as conn:
        conn.execute(insert(customers), [
            {"id": cid, "attributes": {}, "created_at": NOW, "updated_at": NOW}
            for cid in spend])
        conn.execute(insert(orders), [
            {"id": f"{cid}{i}", "customer_id": cid, "placed_at": at(days=i + 1),
             "total": Decimal(str(total)), "currency": "UAH"}
            for cid, totals in spend.items() for i, total in enumerate(totals)])
        sql_tiers = dict(conn.execute(select(*customer_tier(LOYALTY).selected_columns[:2])).all())
    expected = {cid: progress(LOYALTY, len(t), float(sum(t))).tier for cid, t in spend.items()
                if t}
    assert expected == {"a": None, "b": "silver", "c": "silver", "d": "gold", "e": "gold"}
    assert sql_tiers == expected


def test_template_shows_progress(shop: Shop, smtp: SMTPServer) -> None:
    shop.write_config(email_channel(smtp.port), "reachable:\n  consent: email\n", """
progress:
  segment: reachable
  schedule: "0 9 * * *"
""")
    shop.config_path.write_text(shop.config_path.read_text() + """
loyalty:
  reward_every: 5
  tiers:
    - {name: silver, spent: 1000}
    - {name: gold, spent: 5000}
""")
    shop.template("progress/email.subject", "Your progress")
    shop.template("progress/email.txt",
                  "{{ orders_count }} orders; {{ orders_to_next_reward }} to your gift; "
                  "tier {{ tier }}; {{ spent_to_next_tier | money('UAH') }} to {{ next_tier }}")
    import_customers(shop, ["known"])
    import_orders(shop, [{"id": f"k{i}", "customer_id": "known", "placed_at": at(days=10 + i),
                          "total": "400"} for i in range(3)])
    out = shop.cli("preview", "progress", "--customer", "known").output
    assert "3 orders; 2 to your gift; tier silver; UAH\u00a03,800 to gold" in out
