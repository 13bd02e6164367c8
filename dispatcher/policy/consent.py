"""Consent: the current state on ``addresses`` plus an event for every change.

The API other features call (SMS STOP, Telegram /stop, web push, preference page):

    record_consent(conn, address_id=12, status="withdrawn", source="sms STOP",
                   text=None, at=now)
    record_consent(conn, channel="sms", address="+380501234567", status="granted",
                   source="sms START")
    opt_out_everywhere(conn, customer_id="c1", source="sms STOPALL")

``withdrawn`` also puts the address on the suppression list (reason ``opted_out``),
which survives re-import and erasure; ``granted`` with a time after that suppression
lifts it again (the person asked to come back). Both write a ``consent_events`` row.
An event older than the state on file changes nothing but is still kept as history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, insert, select, update

from dispatcher.clock import utcnow
from dispatcher.policy.suppress import suppress_many, upsert_suppression
from dispatcher.store.db import address_hash
from dispatcher.store.schema import addresses, consent_events, suppressions

STATUSES = ("granted", "withdrawn")


@dataclass(frozen=True)
class ConsentChange:
    """One consent statement about one address (what the importer batches)."""

    customer_id: str
    channel: str
    address_hash: str
    status: str
    at: datetime
    source: str
    text: str | None = None
    # False when the statement carries no date of its own (an import row without
    # consent_at): it is recorded, but it cannot lift an opt-out made elsewhere, e.g.
    # a STOP reply that arrived before the address was ever imported.
    dated: bool = True


def record_consent(conn: Connection, *, address_id: int | None = None,
                   channel: str | None = None, address: str | None = None,
                   status: str, source: str, text: str | None = None,
                   at: datetime | None = None) -> int:
    """Record one consent statement; return how many address rows changed state.

    Name the address by ``address_id`` or by ``channel`` + ``address`` (every
    customer holding that address is affected: a STOP from a phone number stops
    the number, whoever it belongs to).
    """
    if status not in STATUSES:
        raise ValueError(f"consent status must be one of {STATUSES}; got {status!r}")
    now = utcnow()
    at = at or now
    query = select(addresses.c.customer_id, addresses.c.channel, addresses.c.address_hash)
    if address_id is not None:
        query = query.where(addresses.c.id == address_id)
    elif channel is not None and address is not None:
        query = query.where(addresses.c.channel == channel,
                            addresses.c.address_hash == address_hash(channel, address))
    else:
        raise ValueError("name the address by address_id or by channel and address")
    changes = [ConsentChange(r.customer_id, r.channel, r.address_hash, status, at, source, text)
               for r in conn.execute(query)]
    if not changes and channel is not None and address is not None and status == "withdrawn":
        # An opt-out for an address we do not hold yet: suppress it anyway, so a
        # later import cannot message it.
        upsert_suppression(conn, channel, address_hash(channel, address), "opted_out",
                           source, at)
        return 0
    return apply_changes(conn, changes, now)


def opt_out_everywhere(conn: Connection, *, customer_id: str, source: str,
                       text: str | None = None, at: datetime | None = None,
                       channels: Sequence[str] | None = None) -> int:
    """Withdraw consent on every address (of ``channels``, default all) of a customer."""
    at = at or utcnow()
    query = select(addresses.c.customer_id, addresses.c.channel,
                   addresses.c.address_hash).where(addresses.c.customer_id == customer_id)
    if channels:
        query = query.where(addresses.c.channel.in_(list(channels)))
    changes = [ConsentChange(r.customer_id, r.channel, r.address_hash, "withdrawn", at, source,
                             text) for r in conn.execute(query)]
    return apply_changes(conn, changes)


def apply_changes(conn: Connection, changes: Sequence[ConsentChange],
                  now: datetime | None = None) -> int:
    """Write an event for each change and move the current state, in a fixed number
    of statements (the importer calls this with the changes its rules let through)."""
    if not changes:
        return 0
    now = now or utcnow()
    conn.execute(insert(consent_events), [
        {"customer_id": c.customer_id, "channel": c.channel, "address_hash": c.address_hash,
         "status": c.status, "at": c.at, "source": c.source, "text": c.text,
         "recorded_at": now} for c in changes])
    params = [{"c": c.customer_id, "ch": c.channel, "h": c.address_hash, "st": c.status,
               "at": c.at, "src": c.source, "txt": c.text} for c in changes]
    target = and_(addresses.c.customer_id == bindparam("c"),
                  addresses.c.channel == bindparam("ch"),
                  addresses.c.address_hash == bindparam("h"))
    conn.execute(
        update(addresses).where(target).values(
            consent=bindparam("st"), consent_at=bindparam("at"),
            consent_source=bindparam("src"), consent_text=bindparam("txt")),
        params)
    withdrawn = {(c.channel, c.address_hash): c for c in changes if c.status == "withdrawn"}
    # Dated by when the person opted out, so a later consent can be told apart.
    suppress_many(conn, [(ch, h, c.source, c.at) for (ch, h), c in withdrawn.items()],
                  "opted_out")
    granted = [{"ch": c.channel, "h": c.address_hash, "at": c.at}
               for c in changes if c.status == "granted" and c.dated]
    if granted:
        # Only an opt-out is lifted by a newer consent; bounces and erasures are not.
        conn.execute(delete(suppressions).where(
            suppressions.c.channel == bindparam("ch"),
            suppressions.c.address_hash == bindparam("h"),
            suppressions.c.reason == "opted_out",
            suppressions.c.created_at < bindparam("at")), granted)
    return len(changes)


def history(conn: Connection, customer_id: str) -> list[Any]:
    """Every consent event of a customer, oldest first."""
    return list(conn.execute(select(consent_events).where(
        consent_events.c.customer_id == customer_id).order_by(consent_events.c.at,
                                                              consent_events.c.id)))
