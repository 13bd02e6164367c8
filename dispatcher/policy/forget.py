"""Erasure: delete a person, keep only what stops us messaging them again.

What stays: a suppression per address keyed by its hash (reason ``erased``), so a
later import of the same address is suppressed; outbox rows, promo codes and orders
with the customer id replaced by a pseudonym and the address link cut, so reports keep
their counts and revenue. The orders hang off a stand-in customer row (no name, no
contact, ``erased_at`` set) that no segment selects.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update

from dispatcher.policy.suppress import suppress_many
from dispatcher.store.schema import (
    addresses,
    carts,
    consent_events,
    customers,
    orders,
    outbox,
    promo_codes,
    test_sends,
    topic_optouts,
)
from dispatcher.store.states import OutboxStatus
from dispatcher.tracking.store import forget_engagement


@dataclass
class ForgetResult:
    found: bool
    addresses: int = 0
    outbox_rows: int = 0
    pseudonym: str = ""
    engagement: int = 0  # click and open records deleted


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
    engagement = forget_engagement(conn, customer_id)  # before the rows change hands
    conn.execute(update(outbox).where(outbox.c.customer_id == customer_id,
                                      outbox.c.status == OutboxStatus.PENDING)
                 .values(status=OutboxStatus.SKIPPED, reason="erased", dedupe_key=None,
                         updated_at=now))
    moved = conn.execute(update(outbox).where(outbox.c.customer_id == customer_id).values(
        customer_id=alias, address_id=None, data=None, provider_id=None, last_error=None,
        updated_at=now))
    conn.execute(update(test_sends).where(test_sends.c.customer_id == customer_id)
                 .values(customer_id=alias))
    conn.execute(update(promo_codes).where(promo_codes.c.customer_id == customer_id)
                 .values(customer_id=alias))
    _keep_orders(conn, customer_id, alias, now)
    conn.execute(delete(consent_events).where(consent_events.c.customer_id == customer_id))
    # Tables other features add hang off customers with ON DELETE CASCADE; the ones
    # we know are deleted explicitly so erasure does not depend on the FK pragma.
    for table in (topic_optouts, addresses, carts):
        conn.execute(delete(table).where(table.c.customer_id == customer_id))
    conn.execute(delete(customers).where(customers.c.id == customer_id))
    return ForgetResult(True, len(held), int(moved.rowcount or 0), alias, engagement)


def _keep_orders(conn: Connection, customer_id: str, alias: str, now: datetime) -> None:
    """Move the person's orders to the stand-in row, so conversions and revenue of
    messages already sent stay in reports and retention metrics."""
    has_orders = conn.execute(select(orders.c.id).where(orders.c.customer_id == customer_id)
                              .limit(1)).first()
    if has_orders is None:
        return
    known = conn.execute(select(customers.c.id).where(customers.c.id == alias)).first()
    if known is None:  # erased before (re-imported, then erased again): reuse it
        first_seen = conn.execute(select(customers.c.created_at)
                                  .where(customers.c.id == customer_id)).scalar()
        conn.execute(insert(customers).values(id=alias, attributes={}, erased_at=now,
                                              created_at=first_seen or now, updated_at=now))
    conn.execute(update(orders).where(orders.c.customer_id == customer_id)
                 .values(customer_id=alias))
