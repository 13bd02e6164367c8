"""Pausing and resuming campaigns (by an operator or by the error-rate guard).

A paused campaign keeps its planned rows ``pending``; the sender does not claim
them. Resuming lets the sender continue where it stopped: rows already sent stay
sent, so nobody gets the message twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, Select, select, update
from sqlalchemy.dialects import postgresql, sqlite

from dispatcher.clock import utcnow
from dispatcher.store.schema import campaign_state, outbox
from dispatcher.store.states import OutboxStatus


@dataclass(frozen=True)
class Pause:
    campaign: str
    paused_at: datetime
    paused_by: str
    reason: str


def paused_campaigns_query() -> Select[str]:
    """SELECT of paused campaign names, for use inside other statements."""
    return select(campaign_state.c.campaign).where(campaign_state.c.paused_at.is_not(None))


def pause(engine: Engine, campaign: str, by: str, reason: str,
          now: datetime | None = None) -> bool:
    """Pause ``campaign``; False when it was paused already (the first reason is kept)."""
    now = now or utcnow()
    with engine.begin() as conn:
        _ensure_row(conn, campaign, now)
        result = conn.execute(
            update(campaign_state)
            .where(campaign_state.c.campaign == campaign, campaign_state.c.paused_at.is_(None))
            .values(paused_at=now, paused_by=by, paused_reason=reason, updated_at=now))
    return bool(result.rowcount)


def resume(engine: Engine, campaign: str, now: datetime | None = None) -> bool:
    """Resume ``campaign``; False when it was not paused.

    Messages waiting in retry backoff (the failures that led to an error-rate pause,
    e.g. a wrong SMTP password) become due at once: the operator fixed the cause and
    expects sending to continue now, not after the longest backoff. Nothing sent is
    touched, and the sender still checks quiet hours and deadlines before each send.
    """
    now = now or utcnow()
    with engine.begin() as conn:
        result = conn.execute(
            update(campaign_state)
            .where(campaign_state.c.campaign == campaign,
                   campaign_state.c.paused_at.is_not(None))
            .values(paused_at=None, paused_by=None, paused_reason=None, updated_at=now))
        if result.rowcount:
            conn.execute(update(outbox).where(
                outbox.c.campaign == campaign, outbox.c.status == OutboxStatus.PENDING,
                outbox.c.attempts > 0, outbox.c.last_error.is_not(None),
                outbox.c.not_before > now).values(not_before=now, updated_at=now))
    return bool(result.rowcount)


def list_paused(engine: Engine) -> list[Pause]:
    query = (select(campaign_state).where(campaign_state.c.paused_at.is_not(None))
             .order_by(campaign_state.c.campaign))
    with engine.connect() as conn:
        return [Pause(r.campaign, r.paused_at, r.paused_by or "", r.paused_reason or "")
                for r in conn.execute(query)]


def _ensure_row(conn: Connection, campaign: str, now: datetime) -> None:
    dialect = conn.dialect.name
    builder = postgresql.insert if dialect == "postgresql" else sqlite.insert
    conn.execute(builder(campaign_state).values(campaign=campaign, updated_at=now)
                 .on_conflict_do_nothing(index_elements=["campaign"]))
