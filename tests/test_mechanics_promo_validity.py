"""A personal code counts only within its own validity: an order carrying a 3-day
CART- code 4 days after it was issued is not a redemption, in `promo report`, in
`promo export`, nor as a conversion in the A/B report."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

from sqlalchemy import select

from dispatcher.store.schema import promo_codes

from .mechanics_peers import at, customers, email_channel, orders, tick
from .reports_shop import engine as shop_engine
from .shop import Shop
from .smtp_server import SMTPServer


def issued_codes(shop: Shop) -> dict[str, tuple[str, object, object]]:
    engine = shop_engine(shop)
    with engine.connect() as conn:
        rows = conn.execute(select(promo_codes.c.customer_id, promo_codes.c.code,
                                   promo_codes.c.created_at, promo_codes.c.expires_at)).all()
    engine.dispose()
    return {r.customer_id: (r.code, r.created_at, r.expires_at) for r in rows}


def test_an_expired_code_is_not_a_redemption(shop: Shop, smtp: SMTPServer) -> None:
    # Given a cart reminder whose code is valid 3 days, sent to ann and bob
    shop.write_config(email_channel(smtp.port), "reachable:\n  consent: email\n", """
cart:
  segment: reachable
  schedule: "0 * * * *"
  attribution_window: 1d
  promo: {prefix: "CART-", valid_for: 3d, discount: "5%"}
""")
    shop.template("cart/email.subject", "Your cart")
    shop.template("cart/email.txt", "Code {{ promo.code }}")
    customers(shop, ["ann", "bob"])
    tick(shop, "cart", at(minutes=5))
    codes = issued_codes(shop)
    ann_code, issued, expires = codes["ann"]
    assert expires - issued == timedelta(days=3)

    # When ann uses her code 4 days after issue (expired) and bob 2 days after (valid)
    orders(shop, [
        {"id": "late", "customer_id": "ann", "placed_at": issued + timedelta(days=4),
         "total": "300.00", "promo_code": ann_code},
        {"id": "ok", "customer_id": "bob", "placed_at": issued + timedelta(days=2),
         "total": "120.00", "promo_code": codes["bob"][0]},
    ])

    # Then only bob's order redeems a code ...
    report = shop.cli("promo", "report").output
    assert re.search(r"cart\s*│\s*2\s*│\s*1\s*│\s*50\.0%\s*│\s*120\.00 UAH", report), report
    export = {row["code"]: row for row in csv.DictReader(io.StringIO(
        shop.cli("promo", "export").output))}
    assert export[ann_code]["redeemed_at"] == "" and export[ann_code]["order_id"] == ""
    assert export[codes["bob"][0]]["order_id"] == "ok"

    # and the A/B report converts bob (through his code, past the 1-day window), not ann
    result = json.loads(shop.cli("report", "cart", "--format", "json", "--at",
                                 (issued + timedelta(days=6)).isoformat()).output)
    (arm,) = result["arms"]
    assert (arm["recipients"], arm["converted"]) == (2, 1)


def test_a_late_order_does_not_block_nor_take_the_code(shop: Shop, smtp: SMTPServer) -> None:
    # An order imported out of order: the valid use (day 2) arrives after the late one
    # (day 5) in a later import; the valid one still redeems the code.
    shop.write_config(email_channel(smtp.port), "reachable:\n  consent: email\n", """
cart:
  segment: reachable
  schedule: "0 * * * *"
  promo: {prefix: "CART-", valid_for: 3d}
""")
    shop.template("cart/email.subject", "Your cart")
    shop.template("cart/email.txt", "Code {{ promo.code }}")
    customers(shop, ["ann"])
    tick(shop, "cart", at(minutes=5))
    code, issued, _ = issued_codes(shop)["ann"]
    orders(shop, [{"id": "late", "customer_id": "ann", "placed_at": issued + timedelta(days=5),
                   "total": "300", "promo_code": code}])
    orders(shop, [{"id": "valid", "customer_id": "ann", "placed_at": issued + timedelta(days=2),
                   "total": "80", "promo_code": code}], "orders2.csv")
    export = {row["code"]: row for row in csv.DictReader(io.StringIO(
        shop.cli("promo", "export").output))}
    assert export[code]["order_id"] == "valid"
    assert re.search(r"cart\s*│\s*1\s*│\s*1\s*│\s*100\.0%\s*│\s*80\.00 UAH",
                     shop.cli("promo", "report").output)


def test_expired_code_on_postgres(pg_shop: Shop, smtp: SMTPServer) -> None:
    test_an_expired_code_is_not_a_redemption(pg_shop, smtp)
