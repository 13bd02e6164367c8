"""once_per keys: each trigger-style mechanic reaches a customer once per its key,
across ticks and process restarts (every CLI call is a fresh engine), and the
outbox's unique key refuses a duplicate however it is attempted."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import create_engine, insert
from sqlalchemy.exc import IntegrityError

from dispatcher.store.schema import outbox, runs

from .mechanics_peers import (
    NOW,
    at,
    carts,
    customers,
    email_channel,
    orders,
    outbox_rows,
    received,
    simple_templates,
    tick,
)
from .shop import Shop
from .smtp_server import SMTPServer

SEGMENTS = """
reachable:
  consent: email
"""

LOYALTY = """
loyalty:
  reward_every: 5
  tiers:
    - {name: silver, spent: 1000}
    - {name: gold, spent: 3000}
"""


def setup(shop: Shop, smtp: SMTPServer, campaigns: str, loyalty: bool = False) -> None:
    shop.write_config(email_channel(smtp.port), SEGMENTS, campaigns)
    if loyalty:
        shop.config_path.write_text(shop.config_path.read_text() + LOYALTY)


def test_abandoned_cart_once_per_cart_and_not_after_an_order(shop: Shop,
                                                              smtp: SMTPServer) -> None:
    setup(shop, smtp, """
abandoned_cart:
  segment: reachable
  trigger: {cart_abandoned: {idle: [2h, 48h]}}
  once_per: cart
  schedule: "*/10 * * * *"
""")
    simple_templates(shop, "abandoned_cart", "Your cart is waiting")
    customers(shop, ["ann", "bob", "cid"])
    # Given: ann abandoned k1 6 h ago; bob abandoned a cart but ordered after it;
    # cid's cart is only 1 h old at the first tick.
    orders(shop, [{"id": "o-bob", "customer_id": "bob", "placed_at": at(hours=5)}])
    carts(shop, [
        {"id": "k1", "customer_id": "ann", "updated_at": at(hours=6)},
        {"id": "k-bob", "customer_id": "bob", "updated_at": at(hours=7)},
        {"id": "k-cid", "customer_id": "cid", "updated_at": at(hours=2)},
    ])
    # When: ticks an hour apart
    tick(shop, "abandoned_cart", at(hours=1))
    assert received(smtp) == [("ann@example.com", "Your cart is waiting")]
    tick(shop, "abandoned_cart", at(minutes=30))
    # ann's k1 is not reminded again; cid's cart is still too fresh
    assert [r for r, _ in received(smtp)] == ["ann@example.com"]
    # A new cart is a new key: ann gets a reminder for k2 too (but k1 never again).
    carts(shop, [{"id": "k2", "customer_id": "ann", "updated_at": at(minutes=150)}],
          "carts2.csv")
    tick(shop, "abandoned_cart", NOW)
    # Then: ann once per cart; cid once her cart passed 2 h; bob never (he ordered)
    assert sorted(r for r, _ in received(smtp)) == ["ann@example.com", "ann@example.com",
                                                    "cid@example.com"]
    keys = sorted(r.dedupe_key for r in outbox_rows(shop) if r.status == "sent")
    assert keys == ["cart:k-cid", "cart:k1", "cart:k2"]


def test_order_milestone_once_per_order(shop: Shop, smtp: SMTPServer) -> None:
    setup(shop, smtp, """
nth_order:
  segment: reachable
  trigger: {order_milestone: {every: 5, within: 2d}}
  once_per: order
  schedule: "0 * * * *"
""", loyalty=True)
    simple_templates(shop, "nth_order", "Order number {{ orders_count }}: a gift",
                     "{{ orders_to_next_reward }} orders to the next gift")
    customers(shop, ["five", "four", "old5"])
    five = [{"id": f"f{i}", "customer_id": "five", "placed_at": at(days=50 - i * 10)}
            for i in range(4)] + [{"id": "f4", "customer_id": "five", "placed_at": at(hours=3)}]
    four = [{"id": f"g{i}", "customer_id": "four", "placed_at": at(days=5 - i)}
            for i in range(4)]
    # old5 reached 5 orders a year ago: no congratulations out of the blue
    old5 = [{"id": f"h{i}", "customer_id": "old5", "placed_at": at(days=400 - i)}
            for i in range(5)]
    orders(shop, five + four + old5)
    tick(shop, "nth_order", at(hours=2))
    tick(shop, "nth_order", at(hours=1))
    tick(shop, "nth_order", NOW)
    assert received(smtp) == [("five@example.com", "Order number 5: a gift")]
    body = smtp.handler.received[0].message.get_body(("plain",)).get_content()
    assert "5 orders to the next gift" in body
    assert [r.dedupe_key for r in outbox_rows(shop)] == ["order:f4"]


def test_post_purchase_survey_once_per_delivered_order(shop: Shop, smtp: SMTPServer) -> None:
    setup(shop, smtp, """
survey:
  segment: reachable
  trigger: {order_delivered: {ago: 7d, within: 2d}}
  once_per: order
  schedule: "0 10 * * *"
""")
    simple_templates(shop, "survey", "How was your order?")
    customers(shop, ["dee", "eve"])
    orders(shop, [
        {"id": "d1", "customer_id": "dee", "placed_at": at(days=12), "delivered_at": at(days=8)},
        {"id": "e1", "customer_id": "eve", "placed_at": at(days=5), "delivered_at": at(days=3)},
    ])
    tick(shop, "survey", at(days=1))  # d1 delivered 7 days before this tick
    tick(shop, "survey", NOW)  # d1 still in the window: not again
    assert received(smtp) == [("dee@example.com", "How was your order?")]


def test_birthday_once_per_year_and_win_back_once_per_30_days(shop: Shop,
                                                                smtp: SMTPServer) -> None:
    today = NOW.date()
    birthday = date(1990, today.month, min(today.day, 28))
    shop.write_config(email_channel(smtp.port), """
reachable:
  consent: email
birthday_week:
  all:
    - consent: email
    - birthday: {within: 7d}
lapsed:
  all:
    - orders_count: {gte: 1}
    - last_order_age: {gt: 90d}
""", """
birthday:
  segment: birthday_week
  once_per: year
  schedule: "0 9 * * *"
win_back:
  segment: lapsed
  once_per: 30d
  schedule: "0 11 * * *"
""")
    simple_templates(shop, "birthday", "Happy birthday")
    simple_templates(shop, "win_back", "We miss you")
    customers(shop, ["bday"], birthday=birthday.isoformat(), timezone="UTC")
    customers(shop, ["gone"])
    orders(shop, [{"id": "x1", "customer_id": "gone", "placed_at": at(days=300)}])
    # birthday within the next week on several consecutive days: one greeting
    for days_before in (3, 2, 1):
        tick(shop, "birthday", at(days=days_before))
    # win-back at day -40 (sent), -20 (within 30 days: not), today (40 days later: again)
    for days_before in (40, 20, 0):
        tick(shop, "win_back", at(days=days_before))
    got = received(smtp)
    assert got.count(("bday@example.com", "Happy birthday")) == 1
    assert got.count(("gone@example.com", "We miss you")) == 2


def test_tier_once_per_tier(shop: Shop, smtp: SMTPServer) -> None:
    setup(shop, smtp, """
vip_tier:
  segment: reachable
  trigger: {tier_reached: {within: 2d}}
  once_per: tier
  schedule: "0 12 * * *"
""", loyalty=True)
    simple_templates(shop, "vip_tier", "Welcome to {{ tier }}")
    customers(shop, ["vip"])
    orders(shop, [{"id": "v1", "customer_id": "vip", "placed_at": at(days=3, hours=1),
                   "total": "1200"}])
    tick(shop, "vip_tier", at(days=3))
    tick(shop, "vip_tier", at(days=2))
    orders(shop, [{"id": "v2", "customer_id": "vip", "placed_at": at(days=1, hours=2),
                   "total": "2000"}], "orders2.csv")
    tick(shop, "vip_tier", at(days=1))
    tick(shop, "vip_tier", NOW)
    assert [s for _, s in received(smtp)] == ["Welcome to silver", "Welcome to gold"]


def test_welcome_once_per_customer_and_unique_key_refuses_duplicates(
        shop: Shop, smtp: SMTPServer) -> None:
    setup(shop, smtp, """
welcome:
  segment: reachable
  trigger: {first_order: {within: 1d}}
  once_per: customer
  schedule: "0 * * * *"
""")
    simple_templates(shop, "welcome", "Thank you for your first order")
    customers(shop, ["new"])
    orders(shop, [{"id": "n1", "customer_id": "new", "placed_at": at(hours=5)}])
    tick(shop, "welcome", at(hours=3))
    # a "restart": a new process plans the same run and the next ones
    tick(shop, "welcome", at(hours=3))
    tick(shop, "welcome", at(hours=1))
    assert received(smtp) == [("new@example.com", "Thank you for your first order")]
    # Even a planner that skipped the check could not add a second row for the key.
    engine = create_engine(shop.db_url())
    with engine.begin() as conn:
        run_id = conn.execute(insert(runs).values(campaign="welcome", step="",
                                                  scheduled_for=NOW, status="planned",
                                                  created_at=NOW).returning(runs.c.id)).scalar()
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(outbox).values(
            run_id=run_id, campaign="welcome", step="", customer_id="new",
            status="pending", dedupe_key="new", not_before=NOW, attempts=0,
            created_at=NOW, updated_at=NOW))
    engine.dispose()


def test_birthday_in_tokyo_that_is_already_tomorrow_there(shop: Shop, smtp: SMTPServer) -> None:
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    # A tick at 16:00 UTC: already the next day in Tokyo (01:00), not yet in New York.
    tick_at = NOW.replace(hour=16, minute=0)
    if tick_at > NOW:
        tick_at -= timedelta(days=1)
    tokyo_day = tick_at.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo("Asia/Tokyo")).date()
    shop.write_config(email_channel(smtp.port), """
birthday_today:
  birthday: today
""", """
birthday:
  segment: birthday_today
  once_per: year
  schedule: "0 * * * *"
""")
    simple_templates(shop, "birthday", "Happy birthday")
    birthday = tokyo_day.replace(year=1990).isoformat()
    customers(shop, ["tokyo"], birthday=birthday, timezone="Asia/Tokyo")
    customers(shop, ["newyork"], birthday=birthday, timezone="America/New_York")
    tick(shop, "birthday", tick_at)
    tick(shop, "birthday", tick_at + timedelta(hours=1))
    assert received(smtp) == [("tokyo@example.com", "Happy birthday")]


def test_holiday_greeting_once_per_year(shop: Shop, smtp: SMTPServer) -> None:
    setup(shop, smtp, """
new_year:
  segment: reachable
  once_per: year
  schedule: "0 10 31 12 *"
""")
    simple_templates(shop, "new_year", "Happy New Year")
    customers(shop, ["ann", "bob"])
    # 31 December 10:00 in Kyiv is 08:00 UTC; the latest one at or before now
    fire = NOW.replace(month=12, day=31, hour=8, minute=0)
    if fire > NOW:
        fire = fire.replace(year=fire.year - 1)
    tick(shop, "new_year", fire + timedelta(hours=2))  # the nightly pass after it
    tick(shop, "new_year", fire + timedelta(hours=5))  # the same run: nothing new
    assert sorted(received(smtp)) == [("ann@example.com", "Happy New Year"),
                                      ("bob@example.com", "Happy New Year")]
    keys = {r.dedupe_key for r in outbox_rows(shop)}
    assert keys == {f"ann@{fire.year}", f"bob@{fire.year}"}
    # Weeks later the greeting is not due any more: no late "Happy New Year".
    if NOW - fire > timedelta(days=1):
        assert "not due" in tick(shop, "new_year", NOW).output
        assert len(received(smtp)) == 2


def test_once_per_order_without_a_trigger_keys_on_the_newest_order(
        shop: Shop, smtp: SMTPServer) -> None:
    """No trigger: the newest order is the subject, so a later run sends again only
    after a new order, and a customer with no order gets nothing."""
    setup(shop, smtp, """
thanks:
  segment: reachable
  once_per: order
  schedule: "0 12 * * *"
""")
    simple_templates(shop, "thanks", "Thank you for your order")
    customers(shop, ["ann", "bob"])
    orders(shop, [{"id": "a1", "customer_id": "ann", "placed_at": at(days=3)}])
    tick(shop, "thanks", at(days=2))
    tick(shop, "thanks", at(days=1))  # another day's run: the same newest order
    assert received(smtp) == [("ann@example.com", "Thank you for your order")]
    orders(shop, [{"id": "a2", "customer_id": "ann", "placed_at": at(hours=20)}])
    tick(shop, "thanks", NOW)
    assert len(received(smtp)) == 2
    assert {r.dedupe_key for r in outbox_rows(shop)} == {"order:a1", "order:a2"}
