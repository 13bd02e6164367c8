"""What a customer receives, as the unsubscribe and preference pages read and change it.

A signed link (dispatcher.links) names customer, channel and the first 32 hex
digits of the address hash; everything here starts from those verified claims.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, and_, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from dispatcher.links import LinkClaims
from dispatcher.policy.consent import record_consent
from dispatcher.policy.optout_board import note_topic
from dispatcher.store.addressable import address_refusal
from dispatcher.store.schema import addresses, customers, suppressions, topic_optouts
from dispatcher.tracking.store import set_tracking, tracking_allowed


@dataclass
class AddressChoice:
    address_id: int
    channel: str
    masked: str
    receiving: bool  # consented and not suppressed


@dataclass
class Preferences:
    customer_id: str
    locale: str | None
    linked_address_id: int  # the address the link was sent to
    addresses: list[AddressChoice] = field(default_factory=list)
    topics_off: set[str] = field(default_factory=set)
    tracking: bool = True  # clicks and opens are recorded (switch: tracking_optouts)


def mask(channel: str, address: str) -> str:
    """Enough to recognise one's own address, not enough to harvest it."""
    if channel == "email" and "@" in address:
        local, _, domain = address.partition("@")
        return f"{local[:1]}***@{domain}"
    if len(address) > 4:
        return "***" + address[-4:]
    return "***"


def linked_address(conn: Connection, claims: LinkClaims) -> int | None:
    """The address row a verified link points at, or None if we no longer hold it."""
    return conn.execute(select(addresses.c.id).where(
        addresses.c.customer_id == claims.customer_id,
        addresses.c.channel == claims.channel,
        func.substr(addresses.c.address_hash, 1, len(claims.address_hash))
        == claims.address_hash)).scalar()


def load_preferences(conn: Connection, claims: LinkClaims) -> Preferences | None:
    address_id = linked_address(conn, claims)
    if address_id is None:
        return None
    locale = conn.execute(select(customers.c.locale).where(
        customers.c.id == claims.customer_id)).scalar()
    prefs = Preferences(claims.customer_id, locale, int(address_id))
    query = (
        select(addresses.c.id, addresses.c.channel, addresses.c.address, addresses.c.consent,
               addresses.c.invalid_at, suppressions.c.id.label("suppressed"))
        .outerjoin(suppressions, and_(suppressions.c.channel == addresses.c.channel,
                                      suppressions.c.address_hash == addresses.c.address_hash))
        .where(addresses.c.customer_id == claims.customer_id)
        .order_by(addresses.c.channel, addresses.c.id)
    )
    for row in conn.execute(query):
        prefs.addresses.append(AddressChoice(
            int(row.id), row.channel, mask(row.channel, row.address),
            address_refusal(row.consent, row.invalid_at, row.suppressed is not None) is None))
    prefs.topics_off = set(conn.execute(select(topic_optouts.c.topic).where(
        topic_optouts.c.customer_id == claims.customer_id)).scalars())
    prefs.tracking = tracking_allowed(conn, claims.customer_id)
    return prefs


def unsubscribe(conn: Connection, claims: LinkClaims, source: str, now: datetime) -> bool:
    """Withdraw consent on the linked address (and suppress it). False if not held."""
    address_id = linked_address(conn, claims)
    if address_id is None:
        return False
    record_consent(conn, address_id=int(address_id), status="withdrawn", source=source,
                   text=f"unsubscribe link in campaign {claims.campaign}", at=now)
    return True


def save_preferences(conn: Connection, prefs: Preferences, receive: set[int],
                     topics: Iterable[str], topics_on: set[str], labels: dict[int, str],
                     now: datetime, tracking: bool | None = None) -> None:
    """Apply the submitted form: ``receive`` = address ids ticked, ``topics_on`` =
    topics ticked out of ``topics`` shown, ``tracking`` = the click-recording switch
    (None: not on the form). Only what changed is recorded."""
    if tracking is not None:
        set_tracking(conn, prefs.customer_id, tracking, "preference page", now)
    for choice in prefs.addresses:
        wanted = choice.address_id in receive
        if wanted != choice.receiving:
            record_consent(conn, address_id=choice.address_id,
                           status="granted" if wanted else "withdrawn",
                           source="preference page", text=labels.get(choice.address_id),
                           at=now)
    shown = set(topics)
    switch_off = sorted((shown - topics_on) - prefs.topics_off)
    switch_on = sorted((shown & topics_on) & prefs.topics_off)
    if switch_off:
        for topic in switch_off:  # for the send lanes, once committed
            note_topic(prefs.customer_id, topic)
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        conn.execute(dialect.insert(topic_optouts).on_conflict_do_nothing(), [
            {"customer_id": prefs.customer_id, "topic": t, "source": "preference page",
             "created_at": now} for t in switch_off])
    if switch_on:
        conn.execute(delete(topic_optouts).where(
            topic_optouts.c.customer_id == prefs.customer_id,
            topic_optouts.c.topic.in_(switch_on)))
