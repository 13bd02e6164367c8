"""Bounce reports from the mail provider: hard bounces suppress, soft ones count.

Soft bounces suppress once ``bounces.soft_threshold`` of them arrive within
``bounces.soft_window`` (a full mailbox for a month is as good as gone).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, func, insert, select, tuple_, update

from dispatcher.config.policy_models import BouncesConfig
from dispatcher.policy.suppress import suppress_many
from dispatcher.store.db import address_hash
from dispatcher.store.schema import addresses, bounces

KINDS = ("hard", "soft")


@dataclass(frozen=True)
class Bounce:
    address: str
    kind: str  # hard | soft
    at: datetime
    code: str | None = None
    reason: str | None = None
    channel: str = "email"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"bounce type must be hard or soft; got {self.kind!r}")


@dataclass
class BounceResult:
    recorded: int = 0
    suppressed: int = 0


def record_bounces(conn: Connection, events: Iterable[Bounce], settings: BouncesConfig,
                   source: str, now: datetime) -> BounceResult:
    """Record bounce events and suppress the addresses that crossed the line."""
    rows = [{"channel": b.channel, "address_hash": address_hash(b.channel, b.address),
             "kind": b.kind, "code": b.code, "reason": b.reason, "source": source, "at": b.at}
            for b in events]
    result = BounceResult(recorded=len(rows))
    if not rows:
        return result
    conn.execute(insert(bounces), rows)
    hard: set[tuple[str, str]] = {(str(r["channel"]), str(r["address_hash"]))
                                  for r in rows if r["kind"] == "hard"}
    soft = {(str(r["channel"]), str(r["address_hash"]))
            for r in rows if r["kind"] == "soft"} - hard
    over: set[tuple[str, str]] = set()
    if soft:
        counted = conn.execute(
            select(bounces.c.channel, bounces.c.address_hash)
            .where(tuple_(bounces.c.channel, bounces.c.address_hash).in_(list(soft)),
                   bounces.c.kind == "soft", bounces.c.at > now - settings.soft_window)
            .group_by(bounces.c.channel, bounces.c.address_hash)
            .having(func.count() >= settings.soft_threshold))
        over = {(ch, h) for ch, h in counted}
    suppress_many(conn, [(ch, h, f"{source}: hard bounce", now) for ch, h in sorted(hard)],
                  "bounced")
    suppress_many(conn, [(ch, h, f"{source}: {settings.soft_threshold} soft bounces", now)
                         for ch, h in sorted(over)], "bounced")
    gone = hard | over
    if gone:
        conn.execute(update(addresses).where(
            and_(tuple_(addresses.c.channel, addresses.c.address_hash).in_(list(gone)),
                 addresses.c.invalid_at.is_(None)))
            .values(invalid_at=now, invalid_reason="bounced"))
    result.suppressed = len(gone)
    return result
