"""A synthetic shop: customers, two years of orders, carts, addresses and consents.

Used by ``dispatcher demo`` (a few thousand customers) and by the benchmarks (a
million). Deterministic: the same seed, size and ``now`` give the same rows, because
every block of ``BLOCK`` customers draws from its own generator seeded by
(seed, block). Fast and flat: rows are produced one block at a time and written with
one executemany per table (SQLite) or COPY (PostgreSQL), so memory does not grow
with the size of the shop.

What the data is shaped to contain, so every shipped mechanic has an audience:
lapsed customers (last order 90+ days ago), first-time buyers of the last day,
fresh carts without an order since, birthdays on every day of the year, opt-outs,
never-asked addresses, and customers reachable by email, SMS, Telegram and web push.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select, text

from dispatcher.clock import utcnow
from dispatcher.store.schema import customers

BLOCK = 10_000  # customers per generator seed and per write; part of the determinism contract

FIRST_NAMES = {
    "uk": ["Олена", "Андрій", "Ірина", "Тарас", "Оксана", "Богдан", "Марія", "Дмитро",
           "Наталія", "Іван", "Софія", "Олег"],
    "en": ["Jane", "John", "Emma", "Oliver", "Ava", "Liam", "Mia", "Noah", "Grace", "Jack"],
}
LAST_NAMES = {
    "uk": ["Коваленко", "Шевченко", "Бондаренко", "Ткаченко", "Кравченко", "Мельник",
           "Олійник", "Лисенко"],
    "en": ["Smith", "Brown", "Taylor", "Wilson", "Evans", "Walker", "Wright", "Hall"],
}
TIMEZONES = ["Europe/Kyiv"] * 7 + ["Europe/Warsaw", "Europe/Berlin", "America/New_York"]
PRODUCTS = [("rose-bouquet", "Букет троянд", 890.0), ("tulips-15", "15 тюльпанів", 650.0),
            ("peony-box", "Півонії в коробці", 1450.0), ("succulent", "Сукулент", 240.0),
            ("orchid", "Орхідея", 780.0), ("card", "Листівка", 45.0)]


@dataclass(frozen=True)
class SynthSpec:
    customers: int = 1_000_000
    seed: int = 42
    now: datetime | None = None  # naive UTC anchor; defaults to the current minute
    id_prefix: str = "syn-"


@dataclass
class SynthCounts:
    customers: int = 0
    orders: int = 0
    carts: int = 0
    addresses: dict[str, int] = field(default_factory=dict)
    consent: dict[str, int] = field(default_factory=dict)

    def add(self, other: SynthCounts) -> None:
        self.customers += other.customers
        self.orders += other.orders
        self.carts += other.carts
        for k, v in other.addresses.items():
            self.addresses[k] = self.addresses.get(k, 0) + v
        for k, v in other.consent.items():
            self.consent[k] = self.consent.get(k, 0) + v


@dataclass
class Block:
    """One block of rows, as tuples in the column order of ``COLUMNS``."""

    customers: list[tuple[Any, ...]] = field(default_factory=list)
    addresses: list[tuple[Any, ...]] = field(default_factory=list)
    orders: list[tuple[Any, ...]] = field(default_factory=list)
    carts: list[tuple[Any, ...]] = field(default_factory=list)

    def counts(self) -> SynthCounts:
        counts = SynthCounts(len(self.customers), len(self.orders), len(self.carts))
        for row in self.addresses:
            channel, consent = row[1], row[5] or "never_asked"
            counts.addresses[channel] = counts.addresses.get(channel, 0) + 1
            key = f"{channel}:{consent}"
            counts.consent[key] = counts.consent.get(key, 0) + 1
        return counts


COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": ("id", "name", "locale", "timezone", "birthday", "attributes", "created_at",
                  "updated_at"),
    "addresses": ("customer_id", "channel", "address", "address_hash", "data", "consent",
                  "consent_at", "consent_source", "consent_text", "created_at"),
    "orders": ("id", "customer_id", "placed_at", "total", "currency", "promo_code", "status",
               "delivered_at"),
    "carts": ("id", "customer_id", "updated_at", "total", "currency", "items"),
}


def _hash(channel: str, address: str) -> str:
    # Same pseudonym as dispatcher.store.db.address_hash (addresses here are already normal).
    return hashlib.sha256(f"{channel}:{address}".encode()).hexdigest()


def _consent(rng: random.Random, granted: float, withdrawn: float) -> str | None:
    draw = rng.random()
    if draw < granted:
        return "granted"
    if draw < granted + withdrawn:
        return "withdrawn"
    return None


def generate_block(spec: SynthSpec, now: datetime, index: int) -> Block:
    """Rows for customers [index * BLOCK, min(customers, (index + 1) * BLOCK))."""
    rng = random.Random(f"{spec.seed}:{index}")
    # Push subscriptions draw from their own generator, so adding them left every
    # other row (and the benchmarks' shops) exactly as before.
    push_rng = random.Random(f"{spec.seed}:{index}:push")
    block = Block()
    start, stop = index * BLOCK, min(spec.customers, (index + 1) * BLOCK)
    day = timedelta(days=1)
    for n in range(start, stop):
        cid = f"{spec.id_prefix}{n:07d}"
        locale = "uk" if rng.random() < 0.6 else "en"
        name = f"{rng.choice(FIRST_NAMES[locale])} {rng.choice(LAST_NAMES[locale])}"
        birthday = date(1960, 1, 1) + timedelta(days=rng.randrange(16_800))
        kind = rng.random()
        if kind < 0.005:
            # A first-time buyer of the last day (the welcome campaign's audience).
            first = now - timedelta(hours=rng.uniform(1, 20))
            last, n_orders = first, 1
        else:
            first = now - timedelta(days=rng.uniform(30, 730))
            # Activity stops at some point: about half the shop is lapsed (90+ days).
            quiet = min(rng.expovariate(1 / 120), (now - first) / day)
            last = now - timedelta(days=quiet)
            n_orders = 0 if kind > 0.93 else 1 + min(int(rng.expovariate(1 / 5)), 40)
        created = first - timedelta(days=rng.uniform(0, 30))
        attributes = '{"tier": "gold"}' if rng.random() < 0.05 else "{}"
        block.customers.append((cid, name, locale, rng.choice(TIMEZONES), birthday,
                                attributes, created, created))
        span = (last - first).total_seconds()
        for k in range(n_orders):
            placed = last if k == n_orders - 1 else first + timedelta(
                seconds=rng.uniform(0, span))
            total = round(rng.lognormvariate(6.5, 0.6), 2)
            delivered = placed + timedelta(days=2)
            block.orders.append((f"{cid}-o{k}", cid, placed, total, "UAH",
                                 "WELCOME10" if rng.random() < 0.03 else None,
                                 "delivered" if delivered < now else "shipped",
                                 delivered if delivered < now else None))
        if rng.random() < 0.15:
            picked = [(sku, title, 1 + rng.randrange(3), price)
                      for sku, title, price in rng.sample(PRODUCTS, 1 + rng.randrange(3))]
            items = [{"sku": sku, "name": title, "qty": qty, "price": price}
                     for sku, title, qty, price in picked]
            total = round(sum(qty * price for _, _, qty, price in picked), 2)
            block.carts.append((f"{cid}-cart", cid, now - timedelta(hours=rng.uniform(1, 96)),
                                total, "UAH", json.dumps(items, ensure_ascii=False)))
        consent_at = created + timedelta(minutes=5)
        if rng.random() < 0.97:
            address = f"{cid}@example.com"
            block.addresses.append(_address(cid, "email", address, None,
                                            _consent(rng, 0.80, 0.07), consent_at))
        if rng.random() < 0.45:
            phone = f"+38050{n:07d}"
            block.addresses.append(_address(cid, "sms", phone, None,
                                            _consent(rng, 0.70, 0.08), consent_at))
        if rng.random() < 0.20:
            chat = str(100_000_000 + n)
            block.addresses.append(_address(cid, "telegram", chat, '{"chat_id": ' + chat + "}",
                                            _consent(rng, 0.90, 0.05), consent_at))
        if push_rng.random() < 0.25:
            # A browser subscription: the endpoint a push service hands out, and the
            # browser's keys (the file transport writes the payload, nothing is encrypted).
            endpoint = f"https://push.example/wpush/{cid}"
            keys = {"keys": {"p256dh": PUSH_P256DH, "auth": _b64(rng_bytes(push_rng, 16))}}
            block.addresses.append(_address(cid, "push", endpoint, json.dumps(keys),
                                            _consent(push_rng, 0.95, 0.03), consent_at))
    return block


def rng_bytes(rng: random.Random, size: int) -> bytes:
    return bytes(rng.randrange(256) for _ in range(size))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# One valid P-256 public point for every synthetic browser (an uncompressed point,
# 65 bytes, as PushSubscription.toJSON() gives it): the demo's push goes to files.
PUSH_P256DH = ("BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8Q"
               "cYP7DkM")


def _address(cid: str, channel: str, address: str, data: str | None, consent: str | None,
             at: datetime) -> tuple[Any, ...]:
    return (cid, channel, address, _hash(channel, address), data, consent,
            at if consent else None, "synthetic" if consent else None,
            "Synthetic consent (demo data)" if consent else None, at)


def blocks(spec: SynthSpec, now: datetime) -> Iterator[Block]:
    for index in range((spec.customers + BLOCK - 1) // BLOCK):
        yield generate_block(spec, now, index)


def existing(engine: Engine, prefix: str) -> int:
    """How many customers with ``prefix`` are already in the store."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(customers)
                                .where(customers.c.id.startswith(prefix))).scalar_one())


def generate(engine: Engine, spec: SynthSpec,
             progress: Callable[[int], None] | None = None) -> SynthCounts:
    """Write the synthetic shop into ``engine`` (schema must exist) and ANALYZE it."""
    now = spec.now or utcnow().replace(second=0, microsecond=0)
    writer = _PostgresWriter(engine) if engine.dialect.name == "postgresql" \
        else _SQLiteWriter(engine)
    total = SynthCounts()
    try:
        for block in blocks(spec, now):
            writer.write(block)
            total.add(block.counts())
            if progress:
                progress(len(block.customers))
        writer.finish()
    finally:
        writer.close()
    return total


class _SQLiteWriter:
    """executemany on the raw sqlite3 connection, values formatted as SQLAlchemy stores them."""

    def __init__(self, engine: Engine) -> None:
        self._raw = engine.raw_connection()
        self._conn: Any = self._raw.driver_connection

    def write(self, block: Block) -> None:
        cur = self._conn.cursor()
        for table in ("customers", "addresses", "orders", "carts"):
            rows = getattr(block, table)
            if rows:
                rows = _sqlite_rows(table, rows)
                cols = COLUMNS[table]
                cur.executemany(f"INSERT INTO {table} ({', '.join(cols)}) "
                                f"VALUES ({', '.join('?' for _ in cols)})", rows)
        self._conn.commit()

    def finish(self) -> None:
        self._conn.execute("ANALYZE")
        self._conn.commit()

    def close(self) -> None:
        self._raw.close()


def _sqlite_rows(table: str, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Dates and times as the strings SQLAlchemy's SQLite types write and compare."""
    first = rows[0]
    convert = [i for i, v in enumerate(first) if isinstance(v, date)]
    if table == "orders":
        convert.append(COLUMNS["orders"].index("delivered_at"))
    if table == "addresses":
        convert.append(COLUMNS["addresses"].index("consent_at"))
    convert = sorted(set(convert))
    out = []
    for row in rows:
        values = list(row)
        for i in convert:
            v = values[i]
            if v is not None:
                values[i] = (v.isoformat(sep=" ", timespec="microseconds")
                             if isinstance(v, datetime) else v.isoformat())
        out.append(tuple(values))
    return out


class _PostgresWriter:
    """COPY ... FROM STDIN through psycopg 3, one transaction per block."""

    def __init__(self, engine: Engine) -> None:
        self._raw = engine.raw_connection()
        self._conn: Any = self._raw.driver_connection

    def write(self, block: Block) -> None:
        with self._conn.cursor() as cur:
            for table in ("customers", "addresses", "orders", "carts"):
                rows = getattr(block, table)
                if not rows:
                    continue
                with cur.copy(f"COPY {table} ({', '.join(COLUMNS[table])}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        self._conn.commit()

    def finish(self) -> None:
        with self._conn.cursor() as cur:
            cur.execute("ANALYZE")
        self._conn.commit()

    def close(self) -> None:
        self._raw.close()


def shop_summary(engine: Engine) -> dict[str, int]:
    """Row counts of the shop tables (what a person checks after generating)."""
    with engine.connect() as conn:
        return {table: int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
                for table in ("customers", "orders", "carts", "addresses")}
