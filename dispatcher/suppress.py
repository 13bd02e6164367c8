"""Suppressions: addresses that must never be messaged again on a channel."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select, update

from channels.base import Failure, FailureKind

from .store.schema import addresses, suppressions


def upsert_suppression(conn: Connection, channel: str, address_hash: str, reason: str,
                       source: str | None, now: datetime, provider_code: str | None = None,
                       campaign: str | None = None) -> None:
    exists = conn.execute(select(suppressions.c.id).where(
        suppressions.c.channel == channel, suppressions.c.address_hash == address_hash)).first()
    if exists:
        return
    conn.execute(suppressions.insert().values(
        channel=channel, address_hash=address_hash, reason=reason, source=source,
        provider_code=provider_code, campaign=campaign, created_at=now))


def record_gone(conn: Connection, channel: str, address_id: Any, failure: Failure,
                campaign: str, now: datetime) -> None:
    """The provider said the recipient is gone (or the address is invalid): act on it."""
    row = conn.execute(select(addresses.c.address_hash).where(addresses.c.id == address_id)).first()
    if row is None:
        return
    if failure.address_invalid:
        conn.execute(update(addresses).where(addresses.c.id == address_id)
                     .values(invalid_at=now, invalid_reason=failure.reason))
    if failure.kind is FailureKind.RECIPIENT_GONE:
        upsert_suppression(conn, channel, row.address_hash, "provider_gone",
                           f"provider: {failure.reason}", now, failure.code, campaign)
    if failure.delete_address:
        # The suppression above keeps the reason and code; the dead row itself goes.
        conn.execute(delete(addresses).where(addresses.c.id == address_id))
