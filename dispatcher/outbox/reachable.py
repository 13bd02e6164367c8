"""May this outbox row's address be messaged right now? One rule, in SQL and in Python
(the address part is ``store/addressable.py``; this adds the row's topic).

The start mark asks it in SQL (``may_message``), for a whole group of rows in the
statement that marks them, so an opt-out committed before the mark is always honoured.
The sender asks it in Python (``skip_reason``) when it prepares a claimed batch, to
skip rows before rendering them and to name the reason. tests/test_outbox_ledger.py
holds the two equal.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, exists, select

from dispatcher.store.addressable import address_refusal, usable_address
from dispatcher.store.schema import addresses, outbox, suppressions, topic_optouts


def may_message() -> ColumnElement[bool]:
    """True for an outbox row whose address is consented, valid and not suppressed, and
    whose customer has not switched the row's topic off (correlated to ``outbox``)."""
    address_ok = exists().where(addresses.c.id == outbox.c.address_id, usable_address())
    topic_off = exists().where(topic_optouts.c.customer_id == outbox.c.customer_id,
                               topic_optouts.c.topic == outbox.c.topic)
    return and_(address_ok, ~topic_off)


def skip_reason(address: Any | None, suppressed: bool, topic_off: bool) -> str | None:
    """Why a row may not be sent (None: it may). ``address`` has ``consent`` and
    ``invalid_at``; the first reason that applies is the one recorded."""
    if address is None:
        return "no_address"
    refusal = address_refusal(address.consent, address.invalid_at, suppressed)
    if refusal is not None:
        return refusal
    if topic_off:
        return "topic_opted_out"
    return None


def why_not(conn: Any, ids: list[int]) -> dict[int, str | None]:
    """``skip_reason`` of each outbox row in ``ids`` (one query)."""
    query = (
        select(outbox.c.id, addresses.c.id.label("address_id"), addresses.c.consent,
               addresses.c.invalid_at, suppressions.c.id.label("suppressed"),
               topic_optouts.c.topic.label("topic_off"))
        .select_from(outbox)
        .outerjoin(addresses, addresses.c.id == outbox.c.address_id)
        .outerjoin(suppressions, and_(suppressions.c.channel == addresses.c.channel,
                                      suppressions.c.address_hash == addresses.c.address_hash))
        .outerjoin(topic_optouts, and_(topic_optouts.c.customer_id == outbox.c.customer_id,
                                       topic_optouts.c.topic == outbox.c.topic))
        .where(outbox.c.id.in_(ids))
    )
    reasons: dict[int, str | None] = {}
    for row in conn.execute(query):
        address = row if row.address_id is not None else None
        reasons[row.id] = skip_reason(address, row.suppressed is not None,
                                      row.topic_off is not None)
    return reasons
