"""Personal one-time promo codes.

Issued at send time, one per outbox row (a retry reuses its code), drawn with
``secrets`` from the campaign's alphabet, and unique by the table's constraint:
a collision is simply drawn again. The first imported order carrying a code
before it expires redeems it; later ones, and any after expiry, do not.
``dispatcher promo export`` hands the codes to the shop's checkout.
"""

from __future__ import annotations

import csv
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from sqlalchemy import Connection, Engine, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from dispatcher.config.mechanics import PromoConfig
from dispatcher.money import Discount
from dispatcher.store.schema import orders, outbox, promo_codes

MAX_DRAWS = 8


@dataclass(frozen=True)
class PromoRequest:
    outbox_id: int
    campaign: str
    step: str
    customer_id: str
    config: PromoConfig


@dataclass(frozen=True)
class Promo:
    code: str
    expires_at: datetime  # naive UTC
    discount: Discount | None = None


def generate_code(config: PromoConfig) -> str:
    # One uniform draw over every possible code, written in the alphabet's digits
    # (a CSPRNG call per code rather than per character).
    alphabet, base = config.alphabet, len(config.alphabet)
    number = secrets.randbelow(base ** config.length)
    chars = []
    for _ in range(config.length):
        number, digit = divmod(number, base)
        chars.append(alphabet[digit])
    return config.prefix + "".join(chars)


class PromoExhausted(Exception):
    def __init__(self, campaign: str) -> None:
        self.campaign = campaign
        super().__init__(f"could not draw a unique promo code for {campaign} after "
                         f"{MAX_DRAWS} tries; lengthen the code")


def _insert_ignoring_duplicates(conn: Connection) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(promo_codes).on_conflict_do_nothing()


def ensure_codes(conn: Connection, requests: list[PromoRequest], now: datetime
                 ) -> dict[int, Promo]:
    """A code for each outbox row: the one it already has, or a new unique one."""
    if not requests:
        return {}
    by_id = {r.outbox_id: r for r in requests}
    issued = _issued(conn, list(by_id))
    missing = [r for r in requests if r.outbox_id not in issued]
    for _ in range(MAX_DRAWS):
        if not missing:
            break
        conn.execute(_insert_ignoring_duplicates(conn), [
            {"code": generate_code(r.config), "campaign": r.campaign, "step": r.step,
             "customer_id": r.customer_id, "outbox_id": r.outbox_id, "created_at": now,
             "expires_at": now + r.config.valid_for}
            for r in missing
        ])
        issued.update(_issued(conn, [r.outbox_id for r in missing]))
        missing = [r for r in missing if r.outbox_id not in issued]
    if missing:
        raise PromoExhausted(missing[0].campaign)
    _store_on_outbox(conn, issued)
    return {oid: Promo(code, expires, by_id[oid].config.discount)
            for oid, (code, expires) in issued.items()}


def _issued(conn: Connection, outbox_ids: list[int]) -> dict[int, tuple[str, datetime]]:
    rows = conn.execute(select(promo_codes.c.outbox_id, promo_codes.c.code,
                               promo_codes.c.expires_at)
                        .where(promo_codes.c.outbox_id.in_(outbox_ids)))
    return {int(r.outbox_id): (r.code, r.expires_at) for r in rows}


def _store_on_outbox(conn: Connection, issued: dict[int, tuple[str, datetime]]) -> None:
    """The code travels with the ledger row too (reports and support read it there)."""
    current = {r.id: dict(r.data or {}) for r in conn.execute(
        select(outbox.c.id, outbox.c.data).where(outbox.c.id.in_(list(issued))))}
    changes = []
    for oid, (code, _) in issued.items():
        data = current.get(oid, {})
        if data.get("promo_code") != code:
            changes.append({"oid": oid, "d": {**data, "promo_code": code}})
    if changes:
        conn.execute(update(outbox).where(outbox.c.id == bindparam("oid"))
                     .values(data=bindparam("d")), changes)


def record_redemptions(conn: Connection, rows: Iterable[Any]) -> int:
    """Orders carrying a code redeem it, once: the earliest order wins, later ones don't.

    Only within the code's validity: an order placed after ``expires_at`` is not a
    redemption (the code stays open, so a valid order imported later still redeems it).
    """
    candidates = [(r.promo_code.strip(), r.id, r.placed_at) for r in rows
                  if getattr(r, "promo_code", None)]
    if not candidates:
        return 0
    codes = sorted({code for code, _, _ in candidates})
    open_codes = dict(conn.execute(select(promo_codes.c.code, promo_codes.c.expires_at).where(
        promo_codes.c.code.in_(codes), promo_codes.c.redeemed_at.is_(None))).all())
    first: dict[str, tuple[str, datetime]] = {}
    for code, order_id, placed_at in sorted(candidates, key=lambda c: c[2]):
        if code in open_codes and code not in first and placed_at <= open_codes[code]:
            first[code] = (order_id, placed_at)
    if not first:
        return 0
    result = conn.execute(
        update(promo_codes)
        .where(promo_codes.c.code == bindparam("c"), promo_codes.c.redeemed_at.is_(None))
        .values(redeemed_at=bindparam("at"), redeemed_order_id=bindparam("o")),
        [{"c": code, "o": oid, "at": at} for code, (oid, at) in first.items()],
    )
    return int(result.rowcount or 0)


EXPORT_COLUMNS = ("code", "campaign", "customer_id", "issued_at", "expires_at", "redeemed_at",
                  "order_id")


def export_rows(engine: Engine, campaign: str | None = None, active_only: bool = False,
                now: datetime | None = None) -> Iterator[tuple[Any, ...]]:
    query = select(promo_codes.c.code, promo_codes.c.campaign, promo_codes.c.customer_id,
                   promo_codes.c.created_at, promo_codes.c.expires_at,
                   promo_codes.c.redeemed_at, promo_codes.c.redeemed_order_id) \
        .order_by(promo_codes.c.id)
    if campaign:
        query = query.where(promo_codes.c.campaign == campaign)
    if active_only:
        query = query.where(promo_codes.c.redeemed_at.is_(None))
        if now is not None:
            query = query.where(promo_codes.c.expires_at > now)
    with engine.connect() as conn:
        for row in conn.execution_options(stream_results=True, yield_per=2000).execute(query):
            yield tuple(row)


def write_csv(rows: Iterable[tuple[Any, ...]], out: IO[str]) -> int:
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    for row in rows:
        writer.writerow(["" if v is None else (v.isoformat(timespec="seconds")
                                                if isinstance(v, datetime) else v)
                         for v in row])
        count += 1
    return count


@dataclass(frozen=True)
class PromoSummary:
    campaign: str
    issued: int
    redeemed: int
    revenue: dict[str, float]  # per currency: amounts in different currencies never add

    @property
    def rate(self) -> float:
        return self.redeemed / self.issued if self.issued else 0.0


def summary(engine: Engine) -> list[PromoSummary]:
    """Per campaign: codes issued, redeemed, and the revenue of the redeeming orders
    in each currency (one grouped statement)."""
    query = (
        select(promo_codes.c.campaign, orders.c.currency, func.count(promo_codes.c.id),
               func.count(promo_codes.c.redeemed_at), func.sum(orders.c.total))
        .outerjoin(orders, orders.c.id == promo_codes.c.redeemed_order_id)
        .group_by(promo_codes.c.campaign, orders.c.currency)
        .order_by(promo_codes.c.campaign, orders.c.currency)
    )
    issued: dict[str, int] = {}
    redeemed: dict[str, int] = {}
    revenue: dict[str, dict[str, float]] = {}
    with engine.connect() as conn:
        for campaign, currency, count, used, total in conn.execute(query):
            issued[campaign] = issued.get(campaign, 0) + int(count)
            redeemed[campaign] = redeemed.get(campaign, 0) + int(used)
            money = revenue.setdefault(campaign, {})
            if currency is not None:
                money[currency] = float(total or 0)
    return [PromoSummary(c, issued[c], redeemed[c], revenue[c]) for c in issued]
