"""The segment language: who matches, on a real database, and the SQL for both dialects."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert
from sqlalchemy.dialects import postgresql, sqlite

from dispatcher.segments import SegmentSQL, parse_segments
from dispatcher.store.db import address_hash, make_engine, migrate
from dispatcher.store.schema import addresses, carts, customers, orders

NOW = datetime(2026, 6, 15, 21, 30)  # naive UTC; 2026-06-16 00:30 in Kyiv, 06:30 in Tokyo
CHANNELS = ["email", "sms"]


def seed(engine: Engine) -> None:
    def customer(cid: str, **kw: object) -> dict[str, object]:
        row: dict[str, object] = {"id": cid, "name": cid, "locale": "en", "timezone": None,
                                  "birthday": None, "attributes": {}, "created_at": NOW,
                                  "updated_at": NOW}
        row.update(kw)
        return row

    def order(oid: str, cid: str, days_ago: float, total: str) -> dict[str, object]:
        return {"id": oid, "customer_id": cid, "placed_at": NOW - timedelta(days=days_ago),
                "total": Decimal(total), "currency": "UAH"}

    with engine.begin() as conn:
        conn.execute(insert(customers), [
            customer("loyal", attributes={"city": "Lviv", "points": 120}),
            customer("lapsed", attributes={"city": "Kyiv", "points": 5}),
            customer("new", locale="uk"),
            # Birthday on 16 June: already today in Kyiv (00:30), still 15 June in New York.
            customer("bday_kyiv", timezone="Europe/Kyiv", birthday=date(1990, 6, 16)),
            customer("bday_ny", timezone="America/New_York", birthday=date(1990, 6, 16)),
            customer("carted"),
            customer("injected", name="x'; DROP TABLE customers; --"),
        ])
        conn.execute(insert(orders), [
            order("o1", "loyal", 3, "100"), order("o2", "loyal", 40, "200"),
            order("o3", "loyal", 400, "300"),
            order("o4", "lapsed", 120, "50"),
            order("o5", "new", 0.5, "80"),
            order("o6", "carted", 200, "10"),
        ])
        conn.execute(insert(carts), [
            {"id": "k1", "customer_id": "carted", "updated_at": NOW - timedelta(hours=5),
             "total": Decimal("99"), "currency": "UAH"},
            {"id": "k2", "customer_id": "new", "updated_at": NOW - timedelta(days=1),
             "total": Decimal("10"), "currency": "UAH"},  # ordered after the cart
        ])
        conn.execute(insert(addresses), [
            {"customer_id": "loyal", "channel": "email", "address": "l@example.com",
             "address_hash": address_hash("email", "l@example.com"), "consent": "granted",
             "created_at": NOW},
            {"customer_id": "lapsed", "channel": "email", "address": "x@example.com",
             "address_hash": address_hash("email", "x@example.com"), "consent": "withdrawn",
             "created_at": NOW},
        ])


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'seg.db'}")
    migrate(engine)
    seed(engine)
    return engine


def matching(engine: Engine, body: object, extra: dict[str, object] | None = None) -> set[str]:
    raw = {"target": body, **(extra or {})}
    parsed, errors = parse_segments(raw, CHANNELS)
    assert errors == []
    query = SegmentSQL(parsed, NOW, "Europe/Kyiv").select_ids("target")
    with engine.connect() as conn:
        return {row.customer_id for row in conn.execute(query)}


@pytest.mark.parametrize(("body", "expected"), [
    ({"orders_count": {"gte": 2}}, {"loyal"}),
    ({"orders_count": 0}, {"bday_kyiv", "bday_ny", "injected"}),
    ({"total_spent": {"gt": 500}}, {"loyal"}),
    ({"avg_order_value": {"between": [60, 100]}}, {"new"}),
    ({"last_order_age": {"gt": "90d"}}, {"lapsed", "carted"}),
    ({"first_order_age": {"lt": "1d"}}, {"new"}),
    ({"all": [{"cart_age": {"between": ["2h", "48h"]}}, {"ordered_since_cart": False}]},
     {"carted"}),
    ({"cart_value": {"gte": 50}}, {"carted"}),
    ({"attributes.city": "Lviv"}, {"loyal"}),
    ({"attributes.points": {"gt": 10}}, {"loyal"}),
    ({"locale": {"in": ["uk"]}}, {"new"}),
    ({"birthday": "today"}, {"bday_kyiv"}),
    ({"birthday": {"within": "2d"}}, {"bday_kyiv", "bday_ny"}),
    ({"consent": "email"}, {"loyal"}),
    ({"any": [{"attributes.city": "Kyiv"}, {"orders_count": {"gte": 3}}]}, {"loyal", "lapsed"}),
    ({"all": [{"orders_count": {"gte": 1}}, {"not": {"consent": "email"}}]},
     {"lapsed", "new", "carted"}),
    ({"name": "x'; DROP TABLE customers; --"}, {"injected"}),
])
def test_segment_matches_the_right_customers(engine: Engine, body: object,
                                             expected: set[str]) -> None:
    assert matching(engine, body) == expected


def test_segment_can_reference_another(engine: Engine) -> None:
    extra = {"buyers": {"orders_count": {"gte": 1}}}
    assert matching(engine, {"all": [{"segment": "buyers"}, {"last_order_age": {"lt": "7d"}}]},
                    extra) == {"loyal", "new"}


def test_marketer_text_never_becomes_sql(engine: Engine) -> None:
    # The value is a bound parameter: the table is still there and the match is exact.
    assert matching(engine, {"name": {"starts_with": "x'; DROP"}}) == {"injected"}
    assert matching(engine, {"orders_count": {"gte": 0}}) >= {"loyal", "injected"}


FULL = {
    "all": [
        {"orders_count": {"gte": 1}}, {"total_spent": {"between": [10, 1000]}},
        {"last_order_age": {"gt": "90d"}}, {"cart_age": {"lt": "2d"}},
        {"attributes.city": {"in": ["Kyiv", "Lviv"]}}, {"attributes.points": {"gte": 3}},
        {"any": [{"birthday": "today"}, {"birthday": {"within": "7d"}}]},
        {"not": {"consent": ["email", "sms"]}}, {"name": {"contains": "a"}},
    ]
}


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()],
                         ids=["sqlite", "postgresql"])
def test_one_statement_for_both_dialects(dialect: object) -> None:
    parsed, errors = parse_segments({"target": FULL}, CHANNELS)
    assert errors == []
    query = SegmentSQL(parsed, NOW, "Europe/Kyiv").select_ids("target")
    compiled = query.compile(dialect=dialect)  # type: ignore[arg-type]
    sql = str(compiled)
    assert sql.count("SELECT") >= 1 and "customers" in sql
    # Marketer values travel as parameters, never inside the SQL text.
    assert "Kyiv" not in sql and "Lviv" not in sql
    assert "Lviv" in [v for value in compiled.params.values()
                      for v in (value if isinstance(value, list | tuple) else [value])]
    if dialect.name == "postgresql":  # type: ignore[attr-defined]
        assert "to_char" in sql or "extract" in sql.lower()
    else:
        assert "strftime" in sql


@pytest.mark.parametrize(("body", "message"), [
    ({"orders_cnt": 1}, "unknown field 'orders_cnt'"),
    ({"last_order_age": {"gt": "ninety days"}}, "duration"),
    ({"orders_count": {"around": 3}}, "operator"),
    ({"consent": "pigeon"}, "pigeon"),
    ({"segment": "nowhere"}, "nowhere"),
])
def test_bad_segment_is_reported_with_its_path(body: object, message: str) -> None:
    _parsed, errors = parse_segments({"target": body}, CHANNELS)
    assert errors, body
    assert any(message in e.message for e in errors), [e.message for e in errors]
    assert all(e.path[:2] == ("segments", "target") for e in errors)


def test_segment_cycle_is_an_error() -> None:
    _parsed, errors = parse_segments({"a": {"segment": "b"}, "b": {"segment": "a"}}, CHANNELS)
    assert any("a -> b -> a" in e.message for e in errors), errors
