"""The experiment hash and the A/B report give the same answers on SQLite and PostgreSQL.

Uses the session PostgreSQL of tests/pg.py (``db_url`` runs each test on both dialects).
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import insert, literal, select

from dispatcher.experiments.assign import variant_bucket
from dispatcher.store.bucket_hash import bucket_of, hash_prefix
from dispatcher.store.db import make_engine, migrate
from dispatcher.store.schema import customers

from .reports_shop import NOW, build, draw_orders, engine, later, recipients
from .shop import Shop

IDS = [f"c{i}" for i in range(3000)] + ["Олена", "", "a:b:c", "x" * 64, "42"]


def test_bucket_is_the_same_in_sql_and_python(db_url: str) -> None:
    eng = make_engine(db_url)
    migrate(eng)
    prefix = hash_prefix("spring-sale", "promo")
    with eng.begin() as conn:
        conn.execute(insert(customers), [{"id": cid, "attributes": {}, "created_at": NOW,
                                          "updated_at": NOW} for cid in IDS])
        rows = conn.execute(select(customers.c.id,
                                   variant_bucket(literal(prefix), customers.c.id))).all()
    eng.dispose()
    assert len(rows) == len(IDS)
    assert {cid: bucket for cid, bucket in rows} == {cid: bucket_of(prefix, cid) for cid in IDS}


def test_report_on_both_dialects(shop: Shop, db_url: str,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPATCHER_DATABASE_URL", db_url)
    build(shop, 1500)
    shop.cli("run-once", "promo")
    eng = engine(shop)
    truth = draw_orders(eng, {"holdout": 0.04, "A": 0.06, "B": 0.14}, seed=21)
    rows = recipients(eng)
    assert all(r.status == "held_out" for r in rows if r.variant == "holdout")
    data = json.loads(shop.cli("report", "promo", "--format", "json",
                               "--at", later(30)).output)
    by_arm = {a["arm"]: a for a in data["arms"]}
    assert {arm: by_arm[arm]["converted"] for arm in truth} == truth
    assert data["verdict"].startswith("variant B wins")
    assert sum(sum(n for _, n in days) for days in data["conversions_by_day"].values()) \
        == sum(truth.values())
    # peeking is tracked in the same store
    early = json.loads(shop.cli("report", "promo", "--format", "json",
                                "--at", later(31)).output)
    assert early["arms"] == data["arms"]
    metrics = json.loads(shop.cli("metrics", "--from", later(-1), "--to", later(30),
                                  "--format", "json").output)[0]
    assert metrics["orders"] >= sum(truth.values())
