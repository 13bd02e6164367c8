"""The outbox state machine: the only code that moves a row to, through and out of
``sending``.

    claim          pending rows due now -> sending, under a lease, with a new claim token
    commit         in one transaction: record outcomes so far, and mark the next rows
                   started (re-reading consent: an opt-out committed before the mark wins)
    extend         push our leases forward while rows wait or a provider is slow
    release        give back rows we claimed but never started (on stop)
    recover        rows of a dead (or frozen) worker whose lease expired: unstarted ->
                   pending, started -> uncertain (pending if the channel is idempotent)

Fencing: every statement that touches a claimed row matches the row's ``claim_token``
as well as its id. A worker that stalled past its lease finds its rows recovered (token
cleared) or claimed by someone else (another token): its start marks mark nothing and
its outcomes change nothing. Recovery keeps the token on rows it makes ``uncertain``, so
the owner's late answer (sent, refused) can still replace "we don't know" with the truth.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, case, func, or_, select, update

from channels.base import Gone
from dispatcher.outbox.pauses import paused_campaigns_query
from dispatcher.outbox.reachable import may_message, why_not
from dispatcher.policy.suppress import record_gone
from dispatcher.store.schema import outbox, runs
from dispatcher.store.states import OutboxStatus, released
from dispatcher.tracking.delivery import delivered_at_send

PENDING, SENDING, UNCERTAIN = OutboxStatus.PENDING, OutboxStatus.SENDING, OutboxStatus.UNCERTAIN


@dataclass(frozen=True)
class Claim:
    token: str
    # id, campaign, channel, attempts, address_id, customer_id, step, variant, topic
    rows: Sequence[Any]
    lease_until: datetime


@dataclass
class Record:
    """One row's outcome, as the ledger writes it."""

    outbox_id: int
    token: str
    status: OutboxStatus
    reason: str | None = None
    error_class: str | None = None
    last_error: str | None = None
    provider_id: str | None = None
    not_before: datetime | None = None  # a retry's next attempt
    released: bool = False  # never reached the provider: pending again, attempt given back
    # The provider said the recipient is gone: the address is acted on in the same commit.
    gone: Gone | None = None
    channel: str = ""
    address_id: int | None = None
    campaign: str = ""


@dataclass
class Marks:
    """What a commit's start marks did, by (claim token, outbox id)."""

    started: set[tuple[str, int]] = field(default_factory=set)  # may go out now
    # Still ours, but the customer said no since the claim: recorded as skipped with
    # this reason in the same commit (None: nothing stops it, but it was not marked in
    # time; given back to pending).
    refused: dict[tuple[str, int], str | None] = field(default_factory=dict)
    lost: set[tuple[str, int]] = field(default_factory=set)  # another claim owns the row


class Ledger:
    def __init__(self, engine: Engine, clock: Callable[[], datetime], lease: timedelta,
                 worker_id: str) -> None:
        self.engine = engine
        self.clock = clock
        self.lease = lease
        self.worker_id = worker_id

    # -- the due query ------------------------------------------------------------------

    @staticmethod
    def due(channels: Iterable[str] | None, campaigns: list[str] | None,
            now: datetime | None = None) -> Any:
        """The one "due" rule: pending rows of these channels (and campaigns), not paused,
        whose ``not_before`` has come by ``now`` (any time when None). The sender claims
        them, ``next_due_at`` waits for them, /metrics counts them."""
        cond = and_(outbox.c.status == PENDING,
                    outbox.c.campaign.not_in(paused_campaigns_query()))
        if channels is not None:
            cond = and_(cond, outbox.c.channel.in_(list(channels)))
        if campaigns:
            cond = and_(cond, outbox.c.campaign.in_(campaigns))
        if now is not None:
            cond = and_(cond, outbox.c.not_before <= now)
        return cond

    def claim(self, channels: Iterable[str], campaigns: list[str] | None,
              limit: int) -> Claim:
        now = self.clock()
        token = uuid.uuid4().hex
        lease_until = now + self.lease
        ids = (select(outbox.c.id).where(self.due(channels, campaigns, now))
               .order_by(outbox.c.not_before, outbox.c.id)
               .limit(limit)
               .with_for_update(skip_locked=True))
        with self.engine.begin() as conn:
            rows = conn.execute(
                update(outbox).where(outbox.c.id.in_(ids.scalar_subquery()))
                .values(status=SENDING, lease_until=lease_until, leased_by=self.worker_id,
                        claim_token=token, attempts=outbox.c.attempts + 1, updated_at=now)
                .returning(outbox.c.id, outbox.c.campaign, outbox.c.channel,
                           outbox.c.attempts, outbox.c.address_id, outbox.c.customer_id,
                           outbox.c.step, outbox.c.variant, outbox.c.topic)
            ).all()
        return Claim(token, rows, lease_until)

    def next_due_at(self, channels: Iterable[str], campaigns: list[str] | None
                    ) -> datetime | None:
        with self.engine.connect() as conn:
            due: datetime | None = conn.execute(
                select(func.min(outbox.c.not_before)).where(self.due(channels, campaigns))
            ).scalar()
        return due

    # -- marks and outcomes ---------------------------------------------------------------

    def commit(self, records: Sequence[Record],
               marks: Sequence[tuple[str, Sequence[int]]] = ()) -> Marks:
        """Record ``records`` and mark ``marks`` (token, outbox ids) started, in one
        transaction: one commit per group of sends, never one per message."""
        now = self.clock()
        result = Marks()
        with self.engine.begin() as conn:
            if records:
                record(conn, records, now)
            for token, ids in marks:
                self._mark(conn, token, list(ids), now, result)
        return result

    def _mark(self, conn: Connection, token: str, ids: list[int], now: datetime,
              result: Marks) -> None:
        # The last word is the customer's: the statement that marks the rows re-reads
        # consent, suppressions and topic opt-outs, for the whole group at once.
        started = set(conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(ids), outbox.c.claim_token == token,
                   outbox.c.status == SENDING, may_message())
            .values(send_started_at=now)
            .returning(outbox.c.id)).scalars())
        result.started |= {(token, i) for i in started}
        rest = [i for i in ids if i not in started]
        if not rest:
            return
        still_ours = self._owned(conn, token, rest)
        result.lost |= {(token, i) for i in rest if i not in still_ours}
        if not still_ours:
            return
        reasons = why_not(conn, sorted(still_ours))
        refused = [Record(i, token, OutboxStatus.SKIPPED, reason=reason)
                   if reason else Record(i, token, PENDING, released=True,
                                         reason="released: not started in time")
                   for i, reason in reasons.items()]
        record(conn, refused, now)
        result.refused.update({(token, i): reason for i, reason in reasons.items()})

    @staticmethod
    def _owned(conn: Connection, token: str, ids: list[int]) -> set[int]:
        return set(conn.execute(select(outbox.c.id).where(
            outbox.c.id.in_(ids), outbox.c.claim_token == token,
            outbox.c.status == SENDING)).scalars())

    # -- leases ---------------------------------------------------------------------------

    def extend(self, tokens: Sequence[str], now: datetime) -> None:
        """Extend the leases of our claims that have not expired (an expired one may be
        being recovered by another dispatcher right now: it is not ours to revive)."""
        if not tokens:
            return
        with self.engine.begin() as conn:
            conn.execute(update(outbox).where(
                outbox.c.status == SENDING, outbox.c.claim_token.in_(list(tokens)),
                outbox.c.lease_until >= now).values(lease_until=now + self.lease))

    def release_unstarted(self, tokens: Sequence[str]) -> int:
        """Give back rows of our claims that never reached the provider (on stop)."""
        if not tokens:
            return 0
        now = self.clock()
        with self.engine.begin() as conn:
            result = conn.execute(
                update(outbox).where(outbox.c.status == SENDING,
                                     outbox.c.claim_token.in_(list(tokens)),
                                     outbox.c.send_started_at.is_(None))
                .values(released(now, "released: dispatcher stopped before sending")))
        return int(result.rowcount or 0)

    def recover_expired(self, idempotent_channels: Sequence[str]) -> int:
        """Rows left 'sending' by a dead worker: uncertain if the send had started (or
        pending again if the channel is idempotent); pending again if it had not.
        Returns how many became uncertain."""
        now = self.clock()
        expired = and_(outbox.c.status == SENDING, outbox.c.lease_until < now)
        with self.engine.begin() as conn:
            conn.execute(update(outbox).where(expired, outbox.c.send_started_at.is_(None))
                         .values(released(now, "lease expired before sending; released")))
            if idempotent_channels:
                conn.execute(update(outbox)
                             .where(expired, outbox.c.channel.in_(list(idempotent_channels)))
                             .values(status=PENDING, lease_until=None, leased_by=None,
                                     claim_token=None, send_started_at=None, updated_at=now,
                                     reason="lease expired; idempotent resend"))
            result = conn.execute(update(outbox).where(expired).values(
                status=UNCERTAIN, lease_until=None, updated_at=now,
                reason="worker stopped while sending; not re-sent (at-most-once)"))
        return int(result.rowcount or 0)

    def finish_runs(self) -> None:
        open_rows = select(outbox.c.id).where(
            outbox.c.run_id == runs.c.id,
            or_(outbox.c.status == PENDING, outbox.c.status == SENDING))
        with self.engine.begin() as conn:
            conn.execute(update(runs).where(runs.c.status == "planned", ~open_rows.exists())
                         .values(status="done", finished_at=self.clock()))


def record(conn: Connection, records: Sequence[Record], now: datetime) -> None:
    """Write outcomes: the one place every outcome of a send attempt is recorded.

    Each applies only while the record's claim still owns the row ('sending', or
    'uncertain' after a recovery that kept our token): a stale worker changes nothing.
    """
    conn.execute(_RECORD_OUTCOME, [{
        "oid": r.outbox_id, "tok": r.token, "st": r.status, "rel": 1 if r.released else 0,
        "pid": r.provider_id, "rsn": r.reason, "ecl": r.error_class, "err": r.last_error,
        "nb": r.not_before, "sat": now if r.status == OutboxStatus.SENT else None,
        "now": now, "dlv": delivered_at_send(r.channel, r.status),
    } for r in records])
    for r in records:
        if r.gone is not None:
            record_gone(conn, r.channel, r.address_id, r.gone, r.campaign, now)


# One outcome per row, executed for a whole batch; built once (constructing the
# statement cost more than SQLite's work for the batch).
_RELEASED = bindparam("rel") == 1
_RECORD_OUTCOME = update(outbox).where(
    outbox.c.id == bindparam("oid"), outbox.c.claim_token == bindparam("tok"),
    or_(outbox.c.status == SENDING, outbox.c.status == UNCERTAIN),  # (no IN: executemany)
).values(
    status=bindparam("st"), provider_id=bindparam("pid"), reason=bindparam("rsn"),
    error_class=bindparam("ecl"), last_error=bindparam("err"),
    not_before=func.coalesce(bindparam("nb", type_=outbox.c.not_before.type),
                             outbox.c.not_before),
    sent_at=bindparam("sat", type_=outbox.c.sent_at.type), lease_until=None, leased_by=None,
    claim_token=None, updated_at=bindparam("now", type_=outbox.c.updated_at.type),
    delivered=bindparam("dlv", type_=outbox.c.delivered.type),
    attempts=outbox.c.attempts - bindparam("rel"),
    send_started_at=case((_RELEASED, None), else_=outbox.c.send_started_at),
    # A skipped row no longer holds the campaign's once_per key.
    dedupe_key=case((bindparam("st") == OutboxStatus.SKIPPED.value, None),
                    else_=outbox.c.dedupe_key),
)
