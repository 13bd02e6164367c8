"""Erasure: delete a person, keep only what stops us messaging them again.

What stays: a suppression per address keyed by its hash (reason ``erased``), so a
later import of the same address is suppressed; outbox rows with the customer id
replaced by a pseudonym and the address link cut, so reports keep their counts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, select, update

from ..store.schema import (
    addresses,
    carts,
    consent_events,
    customers,
    orders,
    outbox,
    test_sends,
    topic_optouts,
)
from .consent import suppress_many


@dataclass
class ForgetResult:
    found: bool
    addresses: int = 0
    outbox_rows: int = 0
    pseudonym: str = ""


def pseudonym(customer_id: str) -> str:
    return "erased:" + hashlib.sha256(f"erased:{customer_id}".encode()).hexdigest()[:16]


def forget(conn: Connection, customer_id: str, now: datetime) -> ForgetResult:
    """Erase ``customer_id`` in the caller's transaction."""
    exists = conn.execute(select(customers.c.id).where(customers.c.id == customer_id)).first()
    held = conn.execute(select(addresses.c.channel, addresses.c.address_hash).where(
        addresses.c.customer_id == customer_id)).all()
    if exists is None and not held:
        return ForgetResult(False)
    suppress_many(conn, [(ch, h, "erasure request", now) for ch, h in held], "erased")
    alias = pseudonym(customer_id)
    conn.execute(update(outbox).where(outbox.c.customer_id == customer_id,
                                      outbox.c.status == "pending")
                 .values(status="skipped", reason="erased", dedupe_key=None, updated_at=now))
    moved = conn.execute(update(outbox).where(outbox.c.customer_id == customer_id).values(
        customer_id=alias, address_id=None, data=None, provider_id=None, last_error=None,
        updated_at=now))
    conn.execute(update(test_sends).where(test_sends.c.customer_id == customer_id)
                 .values(customer_id=alias))
    conn.execute(delete(consent_events).where(consent_events.c.customer_id == customer_id))
    # Tables other features add hang off customers with ON DELETE CASCADE; the ones
    # we know are deleted explicitly so erasure does not depend on the FK pragma.
    for table in (topic_optouts, addresses, carts, orders):
        conn.execute(delete(table).where(table.c.customer_id == customer_id))
    conn.execute(delete(customers).where(customers.c.id == customer_id))
    return ForgetResult(True, len(held), int(moved.rowcount or 0), alias)
