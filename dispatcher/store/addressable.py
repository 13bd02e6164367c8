"""May we message this address? The one definition, in SQL and in Python.

An address may be messaged when its owner consented, it is not known to be invalid
(a hard bounce, an unknown number, a dead push subscription) and it is not suppressed
(an opt-out, a complaint, a ``dispatcher suppress``). Segments (``reachable``), the
planner (which address a message goes to), the start mark and the sender
(``outbox/reachable.py``) and the preference page all ask this rule;
tests/test_addressable.py holds the SQL and the Python equal.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists

from dispatcher.store.schema import addresses, suppressions


def usable_address() -> ColumnElement[bool]:
    """True for an ``addresses`` row that may be messaged (correlated to ``addresses``)."""
    return and_(
        addresses.c.consent == "granted",
        addresses.c.invalid_at.is_(None),
        ~exists().where(suppressions.c.channel == addresses.c.channel,
                        suppressions.c.address_hash == addresses.c.address_hash))


def address_refusal(consent: str | None, invalid_at: datetime | None,
                    suppressed: bool) -> str | None:
    """Why an address may not be messaged (None: it may): the Python twin of
    ``usable_address``, naming the first reason that applies."""
    if suppressed:
        return "suppressed"
    if consent != "granted":
        return "opted_out"
    if invalid_at is not None:
        return "suppressed"
    return None
