"""Upserts for imported rows (by id), dialect-aware, in chunks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from dispatcher.importer.rows import CHANNEL_COLUMNS, CartRow, CustomerRow, OrderRow
from dispatcher.mechanics.promo import record_redemptions
from dispatcher.policy.consent import ConsentChange, apply_changes
from dispatcher.store.db import address_hash, normalize_address
from dispatcher.store.schema import addresses, carts, customers, orders


def _insert(conn: Connection, table: Any) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def upsert(conn: Connection, table: Any, rows: list[dict[str, Any]], keys: Sequence[str],
           update_columns: Sequence[str]) -> None:
    if not rows:
        return
    stmt = _insert(conn, table)
    if update_columns:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys),
            set_={c: stmt.excluded[c] for c in update_columns},  # [c]: "items" is a method name
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    conn.execute(stmt, rows)


def write_customers(conn: Connection, rows: list[CustomerRow], now: datetime) -> None:
    upsert(conn, customers, [
        {"id": r.id, "name": r.name, "locale": r.locale, "timezone": r.timezone,
         "birthday": r.birthday, "attributes": r.attributes,
         "created_at": r.created_at or now, "updated_at": now}
        for r in rows
    ], ["id"], ["name", "locale", "timezone", "birthday", "attributes", "updated_at"])
    address_rows = []
    for r in rows:
        for column, channel in CHANNEL_COLUMNS.items():
            value = getattr(r, column)
            if value:
                address_rows.append((r, channel, value))
    if not address_rows:
        return
    upsert(conn, addresses, [
        {"customer_id": r.id, "channel": channel, "address": normalize_address(channel, value),
         "address_hash": address_hash(channel, value), "created_at": now}
        for r, channel, value in address_rows
    ], ["customer_id", "channel", "address_hash"], [])
    apply_consents(conn, address_rows, now)


def apply_consents(conn: Connection, address_rows: list[tuple[CustomerRow, str, str]],
                   now: datetime) -> None:
    """Consent from a file changes the record only when it is newer than what we hold.

    A re-imported "yes" without a newer timestamp cannot undo an opt-out on file.
    """
    hashes = [address_hash(channel, value) for _, channel, value in address_rows]
    current = {
        (row.customer_id, row.channel, row.address_hash): row
        for row in conn.execute(select(addresses.c.customer_id, addresses.c.channel,
                                       addresses.c.address_hash, addresses.c.consent,
                                       addresses.c.consent_at)
                                .where(addresses.c.address_hash.in_(hashes)))
    }
    changes: list[ConsentChange] = []
    for (r, channel, _value), digest in zip(address_rows, hashes, strict=True):
        consent = getattr(r, f"{channel}_consent", None)
        if consent is None:
            continue
        held = current.get((r.id, channel, digest))
        event_at = r.consent_at or now
        if held is not None and held.consent is not None:
            if held.consent == consent:
                continue
            if held.consent_at is not None and event_at <= held.consent_at:
                continue  # older than what we hold (or an undated re-import of an opt-out)
            if held.consent == "withdrawn" and r.consent_at is None:
                continue  # a "yes" needs its own dated consent event to override an opt-out
        changes.append(ConsentChange(r.id, channel, digest, consent, event_at,
                                     r.consent_source or "import", r.consent_text,
                                     dated=r.consent_at is not None))
    # Every change becomes a consent event; opt-outs also go on the suppression list.
    apply_changes(conn, changes, now)


def write_orders(conn: Connection, rows: list[OrderRow], now: datetime) -> None:
    upsert(conn, orders, [r.model_dump() for r in rows], ["id"],
           ["customer_id", "placed_at", "total", "currency", "promo_code", "status",
            "delivered_at"])
    # An order carrying a personal promo code redeems it (first order only).
    record_redemptions(conn, rows)


def write_carts(conn: Connection, rows: list[CartRow], now: datetime) -> None:
    upsert(conn, carts, [r.model_dump() for r in rows], ["id"],
           ["customer_id", "updated_at", "total", "currency", "items"])


Writer = Callable[[Connection, list[Any], datetime], None]

WRITERS: dict[str, Writer] = {
    "customers": write_customers,
    "orders": write_orders,
    "carts": write_carts,
}

# The tables each writer fills, whose planner statistics an import refreshes.
TOUCHED: dict[str, tuple[str, ...]] = {
    "customers": ("customers", "addresses", "consent_events", "suppressions"),
    "orders": ("orders", "promo_codes"),
    "carts": ("carts",),
}
