"""Loyalty tiers count spend in ``loyalty.currency`` only: a shop selling in UAH and
USD whose tiers are in UAH neither promotes a USD buyer to gold nor adds dollars to
hryvnias; ``validate`` and ``plan`` say which orders are left out."""

from __future__ import annotations

from .mechanics_peers import NOW, at, customers, email_channel, orders, received, tick
from .shop import Shop
from .smtp_server import SMTPServer

SEGMENTS = """
buyers:
  orders_count: {gte: 1}
"""

CAMPAIGNS = """
vip_tier:
  segment: buyers
  trigger: {tier_reached: {within: 2d}}
  once_per: tier
  schedule: "0 12 * * *"
"""

LOYALTY = """
loyalty:
  currency: UAH
  tiers:
    - {name: silver, spent: 1000}
    - {name: gold, spent: 5000}
"""


def known_shop(shop: Shop, smtp: SMTPServer, loyalty: str = LOYALTY) -> None:
    shop.write_config(email_channel(smtp.port), SEGMENTS, CAMPAIGNS)
    shop.config_path.write_text(shop.config_path.read_text() + loyalty)
    shop.template("vip_tier/email.subject", "Welcome to {{ tier }}")
    shop.template("vip_tier/email.txt",
                  "tier {{ tier or 'none' }}; {{ spent_to_next_tier }} to {{ next_tier }}")
    customers(shop, ["olena", "mixed", "jane", "riser"])
    orders(shop, [
        # 3 000 + 2 500 UAH: yesterday's order took her into gold
        {"id": "o1", "customer_id": "olena", "placed_at": at(days=60), "total": "3000"},
        {"id": "o2", "customer_id": "olena", "placed_at": at(days=1), "total": "2500"},
        # 800 UAH and 300 USD: 800 UAH toward the tiers, no tier (not "1 100": silver)
        {"id": "m1", "customer_id": "mixed", "placed_at": at(days=60), "total": "800"},
        {"id": "m2", "customer_id": "mixed", "placed_at": at(days=1), "total": "300",
         "currency": "USD"},
        # 6 000 USD only: nothing toward UAH tiers (not gold)
        {"id": "j1", "customer_id": "jane", "placed_at": at(days=1), "total": "6000",
         "currency": "USD"},
        # 900 UAH, 200 USD, then 150 UAH yesterday: the UAH order crossed into silver
        # (adding the dollars would have made her silver a month ago)
        {"id": "r1", "customer_id": "riser", "placed_at": at(days=60), "total": "900"},
        {"id": "r2", "customer_id": "riser", "placed_at": at(days=30), "total": "200",
         "currency": "USD"},
        {"id": "r3", "customer_id": "riser", "placed_at": at(days=1), "total": "150"},
    ])


def test_tier_crossings_count_only_orders_in_the_loyalty_currency(
        shop: Shop, smtp: SMTPServer) -> None:
    # Given a shop with UAH tiers and orders in UAH and USD
    known_shop(shop, smtp)
    # When the daily tier campaign runs
    tick(shop, "vip_tier", NOW)
    # Then only the UAH spend decides who crossed into which tier
    assert sorted(received(smtp)) == [("olena@example.com", "Welcome to gold"),
                                      ("riser@example.com", "Welcome to silver")]


def test_progress_in_a_message_counts_only_the_loyalty_currency(
        shop: Shop, smtp: SMTPServer) -> None:
    known_shop(shop, smtp)
    out = shop.cli("preview", "vip_tier", "--customer", "mixed").output
    assert "tier none; UAH\u00a0200 to silver" in out  # 1 000 - 800 UAH; the USD left out
    out = shop.cli("preview", "vip_tier", "--customer", "riser").output
    assert "tier silver; UAH\u00a03,950 to gold" in out


def test_validate_and_plan_say_which_orders_are_left_out(shop: Shop, smtp: SMTPServer) -> None:
    known_shop(shop, smtp)
    expected = ("3 orders in USD (3 customers) do not count toward loyalty tiers, "
                "which are in UAH")
    result = shop.cli("validate")
    assert expected in result.output
    assert "config.yaml:" in result.output and "loyalty.currency" in result.output
    assert expected in shop.cli("plan", "vip_tier", "--at", NOW.isoformat()).output


def test_without_a_loyalty_currency_mixed_orders_are_a_warning(
        shop: Shop, smtp: SMTPServer) -> None:
    known_shop(shop, smtp, LOYALTY.replace("  currency: UAH\n", ""))
    out = shop.cli("validate").output
    assert "orders are in 2 currencies (UAH: 5, USD: 3) and loyalty tiers add them up " \
           "as one; set loyalty.currency" in out


def test_one_currency_no_warning(shop: Shop, smtp: SMTPServer) -> None:
    shop.write_config(email_channel(smtp.port), SEGMENTS, CAMPAIGNS)
    shop.config_path.write_text(shop.config_path.read_text() + LOYALTY)
    shop.template("vip_tier/email.subject", "Welcome to {{ tier }}")
    shop.template("vip_tier/email.txt", "tier {{ tier }}")
    customers(shop, ["olena"])
    orders(shop, [{"id": "o1", "customer_id": "olena", "placed_at": at(days=1),
                   "total": "3000"}])
    assert "loyalty" not in shop.cli("validate").output
    assert "loyalty" not in shop.cli("plan", "vip_tier", "--at", NOW.isoformat()).output


def test_tier_currency_on_postgres(pg_shop: Shop, smtp: SMTPServer) -> None:
    test_tier_crossings_count_only_orders_in_the_loyalty_currency(pg_shop, smtp)
    test_validate_and_plan_say_which_orders_are_left_out(pg_shop, smtp)
