"""Personal promo codes: unique, stored with the outbox row, in the message,
redeemed once by an imported order, exported for checkout, and reported."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime

from sqlalchemy import create_engine, func, select

from dispatcher.config.mechanics import PromoConfig
from dispatcher.mechanics import promo as promo_module
from dispatcher.mechanics.promo import PromoRequest, ensure_codes
from dispatcher.store.db import make_engine, migrate
from dispatcher.store.schema import promo_codes

from .mechanics_peers import NOW, at, customers, email_channel, orders, outbox_rows, tick
from .shop import Shop
from .smtp_server import SMTPServer

CONFIG = PromoConfig(prefix="BD-", length=10, valid_for="14d")  # type: ignore[arg-type]


def test_100k_codes_are_unique_and_well_formed(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'promo.db'}")
    migrate(engine)
    requests = [PromoRequest(i, "birthday", "", f"c{i}", CONFIG) for i in range(1, 100_001)]
    issued = {}
    with engine.begin() as conn:
        for start in range(0, len(requests), 1000):  # the sender's claim batches
            issued.update(ensure_codes(conn, requests[start:start + 1000], NOW))
    codes = [p.code for p in issued.values()]
    assert len(codes) == 100_000 and len(set(codes)) == 100_000
    pattern = re.compile(r"^BD-[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{10}$")
    assert all(pattern.match(code) for code in codes)
    with engine.connect() as conn:
        assert conn.execute(select(func.count(func.distinct(promo_codes.c.code)))).scalar() \
            == 100_000
    # Asking again for the same outbox rows returns the same codes (a retry reuses its code)
    with engine.begin() as conn:
        again = ensure_codes(conn, requests[:10], NOW)
    assert {k: v.code for k, v in again.items()} == {k: issued[k].code for k in again}


def test_a_colliding_draw_is_drawn_again(tmp_path, monkeypatch) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'promo.db'}")
    migrate(engine)
    draws = iter(["BD-SAME0000", "BD-SAME0000", "BD-OTHER000"])
    monkeypatch.setattr(promo_module, "generate_code", lambda config: next(draws))
    with engine.begin() as conn:
        first = ensure_codes(conn, [PromoRequest(1, "x", "", "a", CONFIG)], NOW)
        second = ensure_codes(conn, [PromoRequest(2, "x", "", "b", CONFIG)], NOW)
    assert first[1].code == "BD-SAME0000" and second[2].code == "BD-OTHER000"


def build(shop: Shop, smtp: SMTPServer) -> None:
    shop.write_config(email_channel(smtp.port), """
reachable:
  consent: email
""", """
birthday:
  segment: reachable
  schedule: "0 9 * * *"
  promo: {prefix: "BD-", length: 10, valid_for: 14d, discount: "20%"}
""")
    shop.template("birthday/email.subject", "A gift for you")
    shop.template("birthday/email.txt",
                  "Your code {{ promo.code }} gives {{ promo.discount }} until "
                  "{{ promo.expires_at }}")
    customers(shop, ["ann", "bob"])


def test_codes_are_sent_stored_redeemed_once_exported_and_reported(
        shop: Shop, smtp: SMTPServer) -> None:
    build(shop, smtp)
    tick(shop, "birthday", at(hours=1))
    # the code in each message is the one stored with its outbox row and in promo_codes
    sent = {r.rcpt_tos[0]: r.message.get_body(("plain",)).get_content()
            for r in smtp.handler.received}
    rows = {r.customer_id: r for r in outbox_rows(shop)}
    codes = {cid: rows[cid].data["promo_code"] for cid in ("ann", "bob")}
    assert codes["ann"] != codes["bob"]
    for cid in ("ann", "bob"):
        assert f"Your code {codes[cid]} gives 20% until" in sent[f"{cid}@example.com"]
    engine = create_engine(shop.db_url())
    with engine.connect() as conn:
        stored = {r.customer_id: r for r in conn.execute(select(promo_codes))}
    assert {cid: r.code for cid, r in stored.items()} == codes
    assert stored["ann"].outbox_id == rows["ann"].id
    assert (stored["ann"].expires_at - stored["ann"].created_at).days == 14

    # ann uses her code twice (the second time must not count), bob never
    orders(shop, [
        {"id": "o1", "customer_id": "ann", "placed_at": at(minutes=30), "total": "250",
         "promo_code": codes["ann"]},
        {"id": "o2", "customer_id": "ann", "placed_at": at(minutes=10), "total": "999",
         "promo_code": codes["ann"]},
    ])
    with engine.connect() as conn:
        redeemed = {r.customer_id: (r.redeemed_order_id, r.redeemed_at)
                    for r in conn.execute(select(promo_codes))}
    assert redeemed["ann"] == ("o1", at(minutes=30)) and redeemed["bob"] == (None, None)

    export = shop.cli("promo", "export").output
    table = list(csv.DictReader(io.StringIO(export)))
    by_code = {row["code"]: row for row in table}
    assert set(by_code) == set(codes.values())
    assert by_code[codes["ann"]]["order_id"] == "o1"
    assert by_code[codes["bob"]]["redeemed_at"] == ""
    assert by_code[codes["bob"]]["customer_id"] == "bob"
    assert datetime.fromisoformat(by_code[codes["bob"]]["expires_at"]) > NOW
    active = shop.cli("promo", "export", "--active").output
    assert codes["bob"] in active and codes["ann"] not in active

    report = shop.cli("promo", "report").output
    assert re.search(r"birthday\s*│\s*2\s*│\s*1\s*│\s*50\.0%\s*│\s*250\.00", report), report
    engine.dispose()
