"""Suppressions: addresses that must never be messaged again on a channel.

One writer: ``suppress_many`` inserts with ON CONFLICT DO NOTHING, so two writers racing
on one address (a STOP and a bounce) cannot fail on the unique key, and the first reason
stays on file."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from channels.base import Gone, GoneAction
from dispatcher.policy.optout_board import note_addresses
from dispatcher.store.schema import addresses, suppressions


def upsert_suppression(conn: Connection, channel: str, address_hash: str, reason: str,
                       source: str | None, now: datetime, provider_code: str | None = None,
                       campaign: str | None = None) -> None:
    suppress_many(conn, [(channel, address_hash, source, now)], reason, provider_code,
                  campaign)


def suppress_many(conn: Connection,
                  entries: Sequence[tuple[str, str, str | None, datetime]],
                  reason: str, provider_code: str | None = None,
                  campaign: str | None = None) -> None:
    """Suppress (channel, address_hash, source, since) entries in one statement; ones
    already suppressed keep their first reason."""
    if not entries:
        return
    note_addresses(*((ch, h) for ch, h, _, _ in entries))  # for the lanes, once committed
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(suppressions).on_conflict_do_nothing(
        index_elements=["channel", "address_hash"]), [
        {"channel": ch, "address_hash": h, "reason": reason, "source": src,
         "provider_code": provider_code, "campaign": campaign, "created_at": at}
        for ch, h, src, at in entries])


def record_gone(conn: Connection, channel: str, address_id: Any, gone: Gone,
                campaign: str, now: datetime) -> None:
    """The provider said the recipient is gone: suppress, invalidate and/or delete."""
    row = conn.execute(select(addresses.c.address_hash).where(addresses.c.id == address_id)).first()
    if row is None:
        return
    note_addresses((channel, row.address_hash))  # invalid or suppressed: stop queued sends
    if gone.action & GoneAction.INVALIDATE:
        conn.execute(update(addresses).where(addresses.c.id == address_id)
                     .values(invalid_at=now, invalid_reason=gone.reason))
    if gone.action & (GoneAction.SUPPRESS | GoneAction.DELETE):
        # A deleted address keeps its suppression: the reason and code stay on file.
        upsert_suppression(conn, channel, row.address_hash, "provider_gone",
                           f"provider: {gone.reason}", now, gone.code, campaign)
    if gone.action & GoneAction.DELETE:
        conn.execute(delete(addresses).where(addresses.c.id == address_id))
