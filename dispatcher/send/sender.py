"""The sender: the loop that ties the ledger, the message builder and the retry policy.

    claim (ledger) --> prepare (send_prepare: checks, build) --> one lane per channel:
        hand-out: window permit + rate token, then a group start mark (one commit that
                  also records the outcomes so far; consent re-read in it)
        workers (the channel's concurrency): provider call --> classify --> retry policy
    --> outcomes, recorded with the next commit (or by the writer, every flush_interval)

A row goes to the provider only if the start-mark statement marked it: the statement
matches the row's claim token (fencing) and re-reads consent, so neither a row another
dispatcher took over nor an address that opted out since the claim is ever sent. A
lane marks at most its workers plus ``start_ahead`` rows beyond the ones on the wire,
and takes each row's rate-limit token before marking it, so a started message waits
about one send for its worker. An opt-out this process commits meanwhile (its web app,
its Telegram bot) reaches the lane through the opt-out board (policy/optout_board.py) and stops
a marked message right up to its provider call. If the process dies, recovery turns its
expired started rows 'uncertain' and the unstarted ones 'pending': the start window is
what is in doubt.

Each lane claims only while it has room, so a slow channel (SMS at 10/s) never holds
back a fast one. ``stop()`` (SIGTERM) stops claiming and marking, lets in-flight sends
finish, and releases the rows that had not started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Engine

from channels.base import Channel, Outcome, Retry
from dispatcher.clock import utcnow
from dispatcher.config.load import LoadedConfig
from dispatcher.message.builder import MessageBuilder
from dispatcher.outbox.ledger import Ledger, Marks, Record
from dispatcher.policy.optout_board import BOARD, OptOutBoard, noting
from dispatcher.send import metrics
from dispatcher.send.guard import ErrorRateGuard
from dispatcher.send.lane import Lane
from dispatcher.send.prepare import ClaimState, Job, prepare
from dispatcher.send.retry import RetryPolicy, backoff
from dispatcher.store.states import OutboxStatus

__all__ = ["SendStats", "Sender", "SenderOptions", "backoff"]

log = logging.getLogger("dispatcher.send.sender")

SENT, FAILED, PENDING = OutboxStatus.SENT, OutboxStatus.FAILED, OutboxStatus.PENDING


@dataclass
class SendStats:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    skipped: int = 0
    uncertain: int = 0  # sent, maybe: no answer came (never sent again)
    recovered_uncertain: int = 0  # a dead worker's started rows
    released: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class SenderOptions:
    batch_size: int = 200
    lease: timedelta = timedelta(minutes=5)
    flush_every: int = 200
    flush_interval: float = 0.2
    # How long drain() waits for retries that become due soon (a nightly one-shot
    # should finish its retries; a daemon just loops).
    wait_for_retries: timedelta = timedelta(0)
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    # Rows marked started beyond the ones on the wire, per channel (None: as many as the
    # channel's workers). More hides the database's commit latency; each one is a row
    # in doubt after a crash, and a message an opt-out can no longer stop.
    start_ahead: int | None = None


class Recorder(Protocol):
    """Where outcomes and start marks go: the ledger (a benchmark injects its own)."""

    def commit(self, records: Sequence[Record],
               marks: Sequence[tuple[str, Sequence[int]]] = ()) -> Marks: ...


class Sender:
    def __init__(self, engine: Engine, loaded: LoadedConfig, channels: dict[str, Channel],
                 options: SenderOptions | None = None,
                 clock: Callable[[], datetime] = utcnow,
                 guard: ErrorRateGuard | None = None,
                 recorder: Recorder | None = None,
                 board: OptOutBoard | None = None) -> None:
        self.engine = engine
        self.loaded = loaded
        self.channels = channels
        self.options = options or SenderOptions()
        self.clock = clock
        self.ledger = Ledger(engine, clock, self.options.lease, self.options.worker_id)
        self.recorder: Recorder = recorder or self.ledger
        self.builder = MessageBuilder(loaded)
        self.policy = RetryPolicy(loaded.channel_settings, clock)
        self.guard = guard or ErrorRateGuard(engine, loaded)
        # Opt-outs this process commits (its web app, its bot, its own "recipient gone"
        # outcomes): each lane looks here right before a provider call.
        self.board = board or BOARD
        self.stats = SendStats()
        self._stopping = asyncio.Event()
        self._room = asyncio.Event()  # a lane has room for another claim
        self._outcomes: list[Record] = []  # recorded with the next commit
        self._claims: dict[str, ClaimState] = {}  # claims with rows still in our hands
        # One writer at a time from this process: concurrent SQLite writers would sleep
        # in the busy handler (milliseconds each) instead of queueing.
        self._db_lock = asyncio.Lock()

    # -- public -----------------------------------------------------------------------

    def stop(self) -> None:
        """Stop claiming; in-flight sends finish, unstarted rows are released."""
        self._stopping.set()
        self._room.set()

    def room_freed(self) -> None:
        """A lane can take another claim's rows."""
        self._room.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def drain(self, campaigns: list[str] | None = None) -> SendStats:
        """Send every due row (of ``campaigns``), then return."""
        self.stats.recovered_uncertain += await asyncio.to_thread(self.recover_expired_leases)
        await asyncio.to_thread(self.guard.refresh)
        lanes = [Lane(self, name) for name in self.channels]
        tasks = [asyncio.create_task(self._writer()), asyncio.create_task(self._heartbeat())]
        tasks += [task for lane in lanes for task in lane.start()]
        deadline = self.clock() + self.options.wait_for_retries
        try:
            while not self.stopping:
                open_lanes = [lane for lane in lanes if lane.has_room()]
                if not open_lanes:
                    self._room.clear()
                    await self._room.wait()
                    continue
                jobs = await self._claim_and_prepare(open_lanes, campaigns)
                if jobs is None:  # nothing due for the lanes with room
                    if any(lane.busy() for lane in lanes):
                        await _first(asyncio.gather(*(lane.join() for lane in lanes)),
                                     self._stopping.wait())
                        continue
                    await self._flush()
                    wait = await asyncio.to_thread(self._next_due_in, campaigns, deadline)
                    if wait is None:
                        break
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), wait)
                    continue
                by_channel = {lane.name: lane for lane in lanes}
                for job in jobs:
                    if job.sendable:
                        by_channel[job.channel].put(job)
                    else:
                        await self._unsendable(job)
            # Stopping (or done): unmarked rows stay for the release; in-flight ones finish.
            await asyncio.gather(*(lane.join() for lane in lanes))
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._flush()
            open_claims = [t for t, c in self._claims.items() if c.open_jobs > 0]
            self.stats.released += await asyncio.to_thread(self.ledger.release_unstarted,
                                                           open_claims)
        await asyncio.to_thread(self.ledger.finish_runs)
        return self.stats

    def recover_expired_leases(self) -> int:
        """Rows left 'sending' by a dead worker: see Ledger.recover_expired."""
        idempotent = [n for n, s in self.loaded.channel_settings.items() if s.idempotent]
        return self.ledger.recover_expired(idempotent)

    # -- claiming -----------------------------------------------------------------------

    async def _claim_and_prepare(self, lanes: list[Lane], campaigns: list[str] | None
                                 ) -> list[Job] | None:
        # Claim about what the lanes can start soon: rows leased but waiting in our
        # lanes are rows other dispatcher processes cannot take. Four rounds of the
        # workers: a claim and its send-time queries cost about the same for 30 rows as
        # for 60 (measured: 2 rounds ~9% slower, 8 no faster).
        size = min(self.options.batch_size, max(20, 4 * sum(lane.workers for lane in lanes)))
        claim = await self._in_db(self.ledger.claim, [lane.name for lane in lanes],
                                  campaigns, size)
        if not claim.rows:
            return None
        state = self._claims[claim.token] = ClaimState(claim.token, claim.lease_until)
        # Building messages happens outside the write lock and the claim's transaction.
        return await asyncio.to_thread(prepare, self.engine, self.loaded, self.builder,
                                       claim, state, self.clock)

    async def _unsendable(self, job: Job) -> None:
        """A skip, or a message that could not be built: recorded, never started."""
        if job.skip_reason:
            self.resolve(job, Record(job.outbox_id, job.token, OutboxStatus.SKIPPED,
                                      reason=job.skip_reason))
            return
        # Our template (or our data) is at fault, not the recipient: try again later like
        # any systemic failure; the error-rate guard pauses a campaign that keeps failing.
        problem = Retry(job.problem or "nothing to send", systemic=True)
        await self.observe(job, self.resolve(job, self.decide(job, problem)))

    def _next_due_in(self, campaigns: list[str] | None, deadline: datetime) -> float | None:
        now = self.clock()
        if now >= deadline:
            return None
        due = self.ledger.next_due_at(list(self.channels), campaigns)
        if due is None or due > deadline:
            return None
        return max(0.05, min((due - now).total_seconds(), 5.0))

    # -- outcomes -----------------------------------------------------------------------

    def decide(self, job: Job, outcome: Outcome, provider_id: str | None = None) -> Record:
        decision = self.policy.decide(job.channel, outcome, job.attempts)
        if decision.status is OutboxStatus.UNCERTAIN:
            log.warning("no answer from the provider; not sent again: %s", outcome.reason,
                        extra={"campaign": job.campaign, "outbox_id": job.outbox_id})
        else:
            log.info("send failed", extra={"campaign": job.campaign, "outbox_id": job.outbox_id,
                                           "failure": outcome.name, "reason": decision.reason})
        return Record(job.outbox_id, job.token, decision.status, reason=decision.reason,
                      error_class=outcome.name, last_error=outcome.reason,
                      provider_id=provider_id, not_before=decision.not_before,
                      gone=decision.gone, channel=job.channel, address_id=job.address_id,
                      campaign=job.campaign)

    def resolve(self, job: Job, record: Record) -> Record:
        """Count, measure and queue one job's outcome (recorded with the next commit)."""
        if not record.channel:  # what the recording needs to know of the message
            record.channel, record.campaign = job.channel, job.campaign
            record.address_id = job.address_id
        self._outcomes.append(record)
        job.claim.open_jobs -= 1
        if record.released:
            self.stats.released += 1
        elif record.status is PENDING:
            self.stats.retried += 1
        else:
            stat = {SENT: "sent", FAILED: "failed", OutboxStatus.SKIPPED: "skipped",
                    OutboxStatus.UNCERTAIN: "uncertain"}[record.status]
            setattr(self.stats, stat, getattr(self.stats, stat) + 1)
        metrics.record_outcome(job.channel, "released" if record.released else record.status,
                               record.reason, record.error_class)
        return record

    async def observe(self, job: Job, record: Record) -> None:
        """The error-rate guard hears of an attempt (a provider call, or a message that
        could not be built): a failure of any kind counts, systemic or not."""
        failed = record.status is not SENT
        await self.guard.observe(job.campaign, failed, record.last_error if failed else None,
                                 self.clock())

    def release(self, job: Job, why: str) -> None:
        self.resolve(job, Record(job.outbox_id, job.token, PENDING, released=True,
                                  reason=f"released: {why}"))

    async def commit(self, marks: Sequence[tuple[str, Sequence[int]]] = ()) -> Marks:
        """Record the outcomes so far, and mark ``marks`` started, in one commit.

        The outcomes are taken under the lock: whoever returns from here knows that
        every outcome produced before the call is in the database (a flush that found
        the list empty while another commit was writing it would not)."""
        async with self._db_lock:
            batch = self._outcomes[:]
            del self._outcomes[:len(batch)]
            if not batch and not marks:
                return Marks()
            try:
                # A "recipient gone" outcome stops the address's other queued sends
                done, notes = await asyncio.to_thread(noting, self.recorder.commit, batch,
                                                      marks)
                self.board.announce(notes)  # (no need to wait for flights: nobody waits)
                return done
            except BaseException:
                self._outcomes[:0] = batch  # written with the next commit
                raise

    async def _flush(self) -> None:
        await self.commit()

    async def _writer(self) -> None:
        while True:
            await asyncio.sleep(self.options.flush_interval)
            if not self._outcomes:
                continue
            try:
                await self._flush()
            except Exception:
                log.exception("could not record outcomes; retrying")

    async def _in_db(self, function: Callable[..., Any], *args: Any) -> Any:
        async with self._db_lock:
            return await asyncio.to_thread(function, *args)

    # -- leases -------------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        """Extend our leases while rows wait in a lane or in a slow provider call."""
        interval = max(1.0, self.options.lease.total_seconds() / 3)
        while True:
            await asyncio.sleep(interval)
            now = self.clock()
            for token in [t for t, c in self._claims.items() if c.open_jobs <= 0]:
                del self._claims[token]
            # A claim whose lease already ran out may be someone else's now: not revived.
            live = [c for c in self._claims.values() if now < c.lease_until]
            try:
                await self._in_db(self.ledger.extend, [c.token for c in live], now)
            except Exception:
                log.exception("could not extend leases")
            else:
                for claim in live:
                    claim.lease_until = now + self.options.lease
            # Notice an operator's pause or resume while we are draining.
            await asyncio.to_thread(self.guard.refresh)


async def _first(*waits: Any) -> None:
    """Wait until the first of ``waits`` (coroutines) finishes; cancel the others."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
