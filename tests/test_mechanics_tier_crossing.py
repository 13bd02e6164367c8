"""VIP tier: "Welcome to silver" only for the order that crossed into silver, never to a
customer who has been silver for months and merely ordered again."""

from __future__ import annotations

from .mechanics_peers import NOW, at, customers, email_channel, orders, received, tick
from .shop import Shop
from .smtp_server import SMTPServer

SEGMENTS = """
buyers:
  orders_count: {gte: 1}
"""

LOYALTY = """
loyalty:
  tiers:
    - {name: silver, spent: 5000}
    - {name: gold, spent: 15000}
"""


def test_tier_message_only_for_the_crossing_order(shop: Shop, smtp: SMTPServer) -> None:
    # Given a daily tier campaign and a shop whose history is known:
    shop.write_config(email_channel(smtp.port), SEGMENTS, """
vip_tier:
  segment: buyers
  trigger: {tier_reached: {within: 2d}}
  once_per: tier
  schedule: "0 12 * * *"
""")
    shop.config_path.write_text(shop.config_path.read_text() + LOYALTY)
    shop.template("vip_tier/email.subject", "Welcome to {{ tier }}")
    shop.template("vip_tier/email.txt", "You are {{ tier }} now.")
    customers(shop, ["longtime", "riser", "jumper", "oldgold", "newbie"])
    orders(shop, [
        # silver for 60 days; yesterday's order keeps them silver: nothing to celebrate
        {"id": "l1", "customer_id": "longtime", "placed_at": at(days=60), "total": "6000"},
        {"id": "l2", "customer_id": "longtime", "placed_at": at(days=1), "total": "500"},
        # 4000 + 1500: yesterday's order crossed into silver
        {"id": "r1", "customer_id": "riser", "placed_at": at(days=60), "total": "4000"},
        {"id": "r2", "customer_id": "riser", "placed_at": at(days=1), "total": "1500"},
        # silver for 60 days; yesterday's order crossed into gold
        {"id": "j1", "customer_id": "jumper", "placed_at": at(days=60), "total": "6000"},
        {"id": "j2", "customer_id": "jumper", "placed_at": at(days=1), "total": "10000"},
        # gold for 90 days, ordered again yesterday
        {"id": "g1", "customer_id": "oldgold", "placed_at": at(days=90), "total": "20000"},
        {"id": "g2", "customer_id": "oldgold", "placed_at": at(hours=30), "total": "100"},
        # a first order big enough for silver at once
        {"id": "n1", "customer_id": "newbie", "placed_at": at(hours=5), "total": "5200"},
    ])

    # When the daily run goes, and goes again the next day (the crossings are still
    # inside the 2-day window):
    tick(shop, "vip_tier", at(hours=1))
    first = sorted(received(smtp))
    tick(shop, "vip_tier", NOW)

    # Then only the customers whose order crossed a tier are congratulated, once each.
    assert first == [("jumper@example.com", "Welcome to gold"),
                     ("newbie@example.com", "Welcome to silver"),
                     ("riser@example.com", "Welcome to silver")]
    assert sorted(received(smtp)) == first


def test_a_later_crossing_gets_the_next_tier(shop: Shop, smtp: SMTPServer) -> None:
    shop.write_config(email_channel(smtp.port), SEGMENTS, """
vip_tier:
  segment: buyers
  trigger: {tier_reached: {within: 2d}}
  once_per: tier
  schedule: "0 12 * * *"
""")
    shop.config_path.write_text(shop.config_path.read_text() + LOYALTY)
    shop.template("vip_tier/email.subject", "Welcome to {{ tier }}")
    shop.template("vip_tier/email.txt", "You are {{ tier }} now.")
    customers(shop, ["riser"])
    orders(shop, [
        {"id": "r1", "customer_id": "riser", "placed_at": at(days=9), "total": "5000"},
        {"id": "r2", "customer_id": "riser", "placed_at": at(days=5), "total": "300"},
    ])
    tick(shop, "vip_tier", at(days=8, hours=12))   # the crossing into silver, a day later
    tick(shop, "vip_tier", at(days=4, hours=12))   # an order that stays silver
    orders(shop, [{"id": "r3", "customer_id": "riser", "placed_at": at(days=1),
                   "total": "9700"}], "orders2.csv")
    tick(shop, "vip_tier", at(hours=12))           # 15000 reached: gold
    assert received(smtp) == [("riser@example.com", "Welcome to silver"),
                              ("riser@example.com", "Welcome to gold")]


def test_tier_crossing_on_postgres(pg_shop: Shop, smtp: SMTPServer) -> None:
    test_tier_message_only_for_the_crossing_order(pg_shop, smtp)
