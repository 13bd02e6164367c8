"""Attribution details: personal promo codes, opt-outs after the message, no-experiment
campaigns, and the report's SQL compiling for PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql

from dispatcher.reports.attribution import per_row
from dispatcher.store.schema import addresses, orders, outbox, suppressions

from .reports_shop import build, configure, engine, later, recipients
from .shop import Shop


def arms(shop: Shop, at: str) -> dict[str, dict[str, object]]:
    data = json.loads(shop.cli("report", "promo", "--format", "json", "--at", at).output)
    return {a["arm"]: a for a in data["arms"]}


def test_promo_code_attributes_outside_the_window_and_opt_outs_are_counted(shop: Shop) -> None:
    build(shop, 120)
    shop.cli("run-once", "promo")
    eng = engine(shop)
    sent = [r for r in recipients(eng) if r.variant == "B"]
    coded, opted, opted_before, bounced = sent[0], sent[1:4], sent[4], sent[5]
    with eng.begin() as conn:
        conn.execute(update(outbox).where(outbox.c.id == coded.id)
                     .values(data={"promo_code": "BACK-7QX"}))
        conn.execute(insert(orders), [
            # the coded customer redeems 20 days later: past the 7-day window, still theirs
            {"id": "promo-1", "customer_id": coded.customer_id, "currency": "EUR",
             "placed_at": coded.sent_at + timedelta(days=20), "total": Decimal("70"),
             "promo_code": "BACK-7QX"},
            # an unrelated late order by someone else: not attributed
            {"id": "late-1", "customer_id": opted[0].customer_id, "currency": "EUR",
             "placed_at": coded.sent_at + timedelta(days=9), "total": Decimal("10"),
             "promo_code": None},
        ])
        hashes = {row.customer_id: row.address_hash for row in conn.execute(
            select(addresses.c.customer_id, addresses.c.address_hash))}
        conn.execute(insert(suppressions), [
            {"channel": "email", "address_hash": hashes[r.customer_id], "reason": "opted_out",
             "created_at": r.sent_at + timedelta(hours=2)} for r in opted
        ] + [{"channel": "email", "address_hash": hashes[opted_before.customer_id],
              "reason": "opted_out", "created_at": opted_before.sent_at - timedelta(days=1)},
             # an email hard bounce after the send is not an opt-out
             {"channel": "email", "address_hash": hashes[bounced.customer_id],
              "reason": "provider_gone", "created_at": bounced.sent_at + timedelta(hours=1)}])
    b = arms(shop, later(30))["B"]
    assert b["converted"] == 1
    assert b["revenue"]["EUR"]["total"] == 70
    assert b["opted_out"] == 3


def test_campaign_without_experiment_reports_one_arm(shop: Shop) -> None:
    build(shop, 30, holdout="0%")
    # one campaign without variants: rewrite to drop them
    text = shop.config_path.read_text()
    shop.config_path.write_text(text.split("    variants:")[0], encoding="utf-8")
    shop.cli("run-once", "promo")
    data = json.loads(shop.cli("report", "promo", "--format", "json").output)
    assert [a["arm"] for a in data["arms"]] == ["all"]
    assert data["arms"][0]["recipients"] == 30
    assert data["verdict"].startswith("No comparison")


def test_attribution_sql_compiles_for_postgresql() -> None:
    sql = str(per_row("promo", timedelta(days=7)).compile(dialect=postgresql.dialect()))
    assert "INTERVAL '1 second'" in sql and "julianday" not in sql
    assert "->>" in sql  # outbox.data['promo_code'] as text


def test_a_new_salt_starts_a_new_experiment_in_the_report(shop: Shop) -> None:
    build(shop, 200, once_per="run")
    shop.cli("run-once", "promo", "--at", later(0))
    first = arms(shop, later(30))
    assert sum(a["recipients"] for a in first.values()) == 200
    configure(shop, once_per="run", salt="round-2")
    shop.cli("run-once", "promo", "--at", later(1))
    shop.cli("run-once", "promo", "--at", later(2))
    second = arms(shop, later(30))
    # only the two runs under the new salt; the first run's arms do not mix in
    assert sum(a["recipients"] for a in second.values()) == 400


def test_report_rejects_unknown_campaign_and_format(shop: Shop) -> None:
    build(shop, 5)
    assert "unknown campaign 'promos' (known: promo)" in \
        shop.cli("report", "promos", expect=2).output
    assert "unknown format 'xml'" in shop.cli("report", "promo", "--format", "xml",
                                              expect=2).output


def test_undelivered_receipt_counts_as_failed(shop: Shop) -> None:
    build(shop, 60)
    shop.cli("run-once", "promo")
    eng = engine(shop)
    b_rows = [r.id for r in recipients(eng) if r.variant == "B"]
    with eng.begin() as conn:
        conn.execute(update(outbox).where(outbox.c.id.in_(b_rows[:2]))
                     .values(delivery_status="undelivered", delivered=False))
        conn.execute(update(outbox).where(outbox.c.id == b_rows[2])
                     .values(delivery_status="delivered", delivered=True))
    b = arms(shop, later(30))["B"]
    assert (b["recipients"], b["delivered"], b["failed"]) == (len(b_rows), len(b_rows) - 2, 2)


def test_code_issued_in_promo_codes_attributes(shop: Shop) -> None:
    from dispatcher.store.schema import metadata

    issued = metadata.tables.get("promo_codes")
    if issued is None:
        pytest.skip("no promo_codes table in this store (personal codes not built yet)")
    build(shop, 60)
    shop.cli("run-once", "promo")
    eng = engine(shop)
    row = next(r for r in recipients(eng) if r.variant == "A")
    with eng.begin() as conn:
        conn.execute(insert(issued).values(
            code="WELCOME-9Z", campaign="promo", step="", customer_id=row.customer_id,
            outbox_id=row.id, created_at=row.sent_at,
            expires_at=row.sent_at + timedelta(days=60)))
        conn.execute(insert(orders).values(
            id="redeem-1", customer_id=row.customer_id, currency="EUR",
            placed_at=row.sent_at + timedelta(days=25), total=Decimal("33"),
            promo_code="WELCOME-9Z"))
    a = arms(shop, later(30))["A"]
    assert (a["converted"], a["revenue"]["EUR"]["total"]) == (1, 33)


def test_erasing_a_converted_customer_keeps_the_report_and_never_targets_the_stand_in(
        shop: Shop) -> None:
    build(shop, 40, holdout="0%")
    shop.cli("run-once", "promo")
    eng = engine(shop)
    sent = [r for r in recipients(eng) if r.variant == "B"]
    buyer = sent[0]
    with eng.begin() as conn:
        conn.execute(insert(orders), [{
            "id": "after-1", "customer_id": buyer.customer_id, "currency": "EUR",
            "placed_at": buyer.sent_at + timedelta(days=2), "total": Decimal("55"),
            "promo_code": None}])
    before = arms(shop, later(10))["B"]
    assert before["converted"] == 1 and before["revenue"]["EUR"]["total"] == 55

    shop.cli("forget", buyer.customer_id, "--yes")

    after = arms(shop, later(10))["B"]
    assert (after["recipients"], after["converted"], after["revenue"]["EUR"]["total"]) == \
        (before["recipients"], 1, 55)
    with eng.connect() as conn:
        owners = conn.execute(select(orders.c.customer_id)).scalars().all()
    assert buyer.customer_id not in owners  # the order now belongs to the pseudonym
    # and the stand-in is in no segment: the next run plans nobody new for it
    plan = shop.cli("plan", "promo").output
    assert "no address" not in plan
