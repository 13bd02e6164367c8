"""The synthetic shop generator: deterministic by seed, the sizes it promises."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, func, select, text

from dispatcher.demo.synth import BLOCK, SynthSpec, generate, shop_summary
from dispatcher.store.db import make_engine, migrate
from dispatcher.store.schema import addresses, customers, orders

NOW = datetime(2026, 11, 20, 9, 30)
SIZE = BLOCK + 1_500  # two blocks, the second one partial


def store(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    return engine


def dump(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    with engine.connect() as conn:
        return {
            table: [tuple(r) for r in conn.execute(text(
                f"SELECT * FROM {table} ORDER BY {order}"))]
            for table, order in (("customers", "id"), ("orders", "id"), ("carts", "id"),
                                 ("addresses", "customer_id, channel"))
        }


def test_same_seed_gives_identical_rows_and_another_seed_does_not(tmp_path: Path) -> None:
    first, second, other = (store(tmp_path / f"{n}.db") for n in ("a", "b", "c"))
    generate(first, SynthSpec(customers=SIZE, seed=3, now=NOW))
    generate(second, SynthSpec(customers=SIZE, seed=3, now=NOW))
    generate(other, SynthSpec(customers=SIZE, seed=4, now=NOW))
    a, b, c = dump(first), dump(second), dump(other)
    # address ids are assigned by the database in insertion order, so they match too
    assert a == b
    assert a["orders"] != c["orders"] and a["customers"] != c["customers"]


def test_counts_match_the_database_and_the_promised_shape(tmp_path: Path) -> None:
    engine = store(tmp_path / "shop.db")
    counts = generate(engine, SynthSpec(customers=SIZE, seed=1, now=NOW, id_prefix="s-"))
    held = shop_summary(engine)
    assert held["customers"] == counts.customers == SIZE
    assert held["orders"] == counts.orders
    assert held["carts"] == counts.carts
    assert held["addresses"] == sum(counts.addresses.values())
    # about five orders each, over two years
    assert 3.5 * SIZE < counts.orders < 6 * SIZE
    with engine.connect() as conn:
        oldest, newest = conn.execute(select(func.min(orders.c.placed_at),
                                             func.max(orders.c.placed_at))).one()
        assert (NOW - oldest).days <= 730 and newest <= NOW
        ids = [r[0] for r in conn.execute(select(customers.c.id).order_by(customers.c.id))]
        assert ids[0] == "s-0000000" and ids[-1] == f"s-{SIZE - 1:07d}"
        # every consent state and every channel with data
        states = {(ch, c) for ch, c in conn.execute(
            select(addresses.c.channel, addresses.c.consent).distinct())}
    for channel in ("email", "sms", "telegram"):
        assert {(channel, "granted"), (channel, "withdrawn"), (channel, None)} <= states
    assert 0.9 * SIZE < counts.addresses["email"] <= SIZE
    assert counts.carts > 0.1 * SIZE


def typed_dump(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Rows through SQLAlchemy's types (datetimes, JSON), ids the database assigned left out."""
    from dispatcher.store.schema import carts

    out: dict[str, list[tuple[object, ...]]] = {}
    with engine.connect() as conn:
        for table, order in ((customers, [customers.c.id]), (orders, [orders.c.id]),
                             (carts, [carts.c.id]),
                             (addresses, [addresses.c.customer_id, addresses.c.channel])):
            columns = [c for c in table.c if not (table is addresses and c.name == "id")]
            rows = conn.execute(select(*columns).order_by(*order))
            out[table.name] = [tuple(round(float(v), 2) if k in ("total",) and v is not None
                                     else v for k, v in row._mapping.items()) for row in rows]
    return out


def test_postgresql_copy_writes_the_same_shop_as_sqlite(tmp_path: Path) -> None:
    import shutil

    import pytest

    if not (shutil.which("initdb") or Path("/usr/local/bin/initdb").exists()):
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not installed")
    pytest.importorskip("psycopg")
    from bench.env import postgres

    spec = SynthSpec(customers=2_500, seed=9, now=NOW)
    lite = store(tmp_path / "lite.db")
    generate(lite, spec)
    with postgres() as url:
        pg = make_engine(url)
        migrate(pg)
        generate(pg, spec)
        try:
            assert typed_dump(pg) == typed_dump(lite)
        finally:
            pg.dispose()
