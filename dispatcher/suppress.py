"""Suppressions: addresses that must never be messaged again on a channel."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select, update

from channels.base import Gone, GoneAction

from .optout_board import note_addresses
from .store.schema import addresses, suppressions


def upsert_suppression(conn: Connection, channel: str, address_hash: str, reason: str,
                       source: str | None, now: datetime, provider_code: str | None = None,
                       campaign: str | None = None) -> None:
    note_addresses((channel, address_hash))  # for the send lanes, once committed
    exists = conn.execute(select(suppressions.c.id).where(
        suppressions.c.channel == channel, suppressions.c.address_hash == address_hash)).first()
    if exists:
        return
    conn.execute(suppressions.insert().values(
        channel=channel, address_hash=address_hash, reason=reason, source=source,
        provider_code=provider_code, campaign=campaign, created_at=now))


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
