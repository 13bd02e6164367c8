"""Opt-out and opt-back-in by the recipient, from any channel's own "stop" gesture.

An opt-out (SMS STOP, Telegram /stop) does two things at once:
- the address's consent becomes 'withdrawn', with when, the source and the words
  the person sent (the consent record on the address);
- a suppression keyed by the address hash, which survives re-import and erasure,
  even when the number or chat is not (yet) one of our customers'.

Opting back in (START, /start) lifts only what the person themselves caused (their
own opt-out, or the provider's "recipient gone" for it) and grants consent again
only where it had been withdrawn: silence never becomes consent. Where consent is
already granted, a newer opt-in is recorded as its date, so an older opt-out that
arrives after it cannot withdraw it.

Changes are ordered by when the person said them (``ConsentChange.at``), not by when
the write commits: a change older than an address's current consent is kept in the
history but moves nothing, so a slow or repeated delivery cannot undo a newer answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, delete, exists, insert, literal, or_, select, update

from dispatcher.policy.suppress import upsert_suppression
from dispatcher.store.db import address_hash
from dispatcher.store.schema import addresses, consent_events, suppressions

# Suppression reasons an opt-in may lift (never 'erased' or 'bounced').
LIFTED_BY_OPT_IN = ("opted_out", "provider_gone")


@dataclass(frozen=True)
class ConsentChange:
    channel: str
    address: str
    opt_in: bool  # False: opt out
    source: str  # e.g. "sms:STOP", "telegram:/stop"
    text: str | None = None  # what the person sent
    at: datetime | None = None  # when they sent it; None: the ``now`` it is applied at


def apply_consent_change(conn: Connection, change: ConsentChange, now: datetime) -> int:
    """Record ``change``; return how many of our addresses it moved."""
    at = change.at or now
    digest = address_hash(change.channel, change.address)
    match = (addresses.c.channel == change.channel) & (addresses.c.address_hash == digest)
    # Only a state no newer than this statement may be replaced by it.
    not_newer = or_(addresses.c.consent_at.is_(None), addresses.c.consent_at <= at)
    status = "granted" if change.opt_in else "withdrawn"
    # The consent history gets one event per customer holding the address (an opt-in
    # only where consent had been withdrawn, or is granted and re-affirmed by it:
    # silence never becomes consent).
    holders = select(addresses.c.customer_id, literal(change.channel), literal(digest),
                     literal(status), literal(at), literal(change.source),
                     literal(change.text), literal(now)).where(match)
    if change.opt_in:
        holders = holders.where(or_(addresses.c.consent == "withdrawn",
                                    and_(addresses.c.consent == "granted", not_newer)))
    conn.execute(insert(consent_events).from_select(
        ["customer_id", "channel", "address_hash", "status", "at", "source", "text",
         "recorded_at"], holders))
    if not change.opt_in:
        regranted_since = conn.execute(select(exists().where(
            match, addresses.c.consent == "granted", addresses.c.consent_at > at))).scalar()
        if not regranted_since:
            upsert_suppression(conn, change.channel, digest, "opted_out", change.source, at)
        result = conn.execute(update(addresses).where(match, not_newer).values(
            consent="withdrawn", consent_at=at, consent_source=change.source,
            consent_text=change.text))
        return int(result.rowcount or 0)
    conn.execute(delete(suppressions).where(
        suppressions.c.channel == change.channel, suppressions.c.address_hash == digest,
        suppressions.c.reason.in_(LIFTED_BY_OPT_IN), suppressions.c.created_at <= at))
    result = conn.execute(update(addresses).where(
        match, addresses.c.consent == "withdrawn", not_newer,
        # an opt-out suppression newer than this opt-in still stands
        ~exists().where(suppressions.c.channel == change.channel,
                        suppressions.c.address_hash == digest,
                        suppressions.c.reason.in_(LIFTED_BY_OPT_IN)))
        .values(consent="granted", consent_at=at, consent_source=change.source,
                consent_text=change.text))
    # Re-affirmed: the date an older opt-out delivered later is compared with.
    conn.execute(update(addresses).where(match, addresses.c.consent == "granted", not_newer)
                 .values(consent_at=at, consent_source=change.source,
                         consent_text=change.text))
    return int(result.rowcount or 0)
