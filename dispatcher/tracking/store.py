"""The tracking tables: destinations of sent links, the click-tracking opt-out, erasure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, insert, select

from channels.base import RenderedMessage
from dispatcher.store.schema import clicks, opens, outbox, tracked_links, tracking_optouts
from dispatcher.tracking.rewrite import LINKS_KEY


def record_links(engine: Engine, messages: Iterable[RenderedMessage | None]) -> int:
    """Store the destinations of these messages' tracked links, in their own short
    transaction before anything is sent (a link in a message is always on file)."""
    rows = [{"outbox_id": m.outbox_id, "link": index, "url": url}
            for m in messages if m is not None and m.outbox_id is not None
            for index, url in enumerate(m.data.get(LINKS_KEY) or ())]
    if not rows:
        return 0
    ids = sorted({row["outbox_id"] for row in rows})
    with engine.begin() as conn:
        # A retried message is rendered again: its links replace the earlier attempt's.
        conn.execute(delete(tracked_links).where(tracked_links.c.outbox_id.in_(ids)))
        conn.execute(insert(tracked_links), rows)
    return len(rows)


@dataclass(frozen=True)
class Target:
    url: str | None  # None for an open (no destination)
    record: bool  # False: the customer switched click recording off


def _opted_out() -> Any:
    return select(tracking_optouts.c.customer_id).where(
        tracking_optouts.c.customer_id == outbox.c.customer_id).exists()


def find_link(engine: Engine, outbox_id: int, link: int) -> Target | None:
    """Where a verified click goes (None: no such link on file, e.g. erased)."""
    query = (select(tracked_links.c.url, _opted_out())
             .join(outbox, outbox.c.id == tracked_links.c.outbox_id)
             .where(tracked_links.c.outbox_id == outbox_id, tracked_links.c.link == link))
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else Target(str(row[0]), not row[1])


def find_message(engine: Engine, outbox_id: int) -> Target | None:
    """The message a verified open belongs to (None: no such row)."""
    query = select(_opted_out()).where(outbox.c.id == outbox_id,
                                       outbox.c.customer_id.not_like("erased:%"))
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else Target(None, not row[0])


def tracking_allowed(conn: Connection, customer_id: str) -> bool:
    return conn.execute(select(tracking_optouts.c.customer_id).where(
        tracking_optouts.c.customer_id == customer_id)).first() is None


def set_tracking(conn: Connection, customer_id: str, allowed: bool, source: str,
                 now: datetime) -> bool:
    """Switch click and open recording on or off for a customer; True if it changed."""
    if allowed == tracking_allowed(conn, customer_id):
        return False
    if allowed:
        conn.execute(delete(tracking_optouts).where(
            tracking_optouts.c.customer_id == customer_id))
    else:
        conn.execute(insert(tracking_optouts).values(customer_id=customer_id, source=source,
                                                     created_at=now))
    return True


def forget_engagement(conn: Connection, customer_id: str) -> int:
    """Erasure: delete a person's clicks, opens and link destinations (a destination can
    carry personal data, e.g. a code in a query). Call before the send-log rows move to
    the pseudonym. Returns the click and open records deleted."""
    theirs = select(outbox.c.id).where(outbox.c.customer_id == customer_id)
    deleted = 0
    for table in (clicks, opens):
        deleted += int(conn.execute(delete(table).where(
            and_(table.c.outbox_id.in_(theirs)))).rowcount or 0)
    conn.execute(delete(tracked_links).where(tracked_links.c.outbox_id.in_(theirs)))
    conn.execute(delete(tracking_optouts).where(tracking_optouts.c.customer_id == customer_id))
    return deleted
