"""Sending: lease due outbox rows, re-check consent, render, send, record.

    claimer  --batches-->  queue (bounded: memory stays flat)  -->  workers (per-channel
    semaphore + rate limiter)  -->  outcomes  -->  writer (batched UPDATEs)

A row is 'sending' from the moment it is leased until its outcome is written.
Before a row goes to the workers it is marked started (``send_started_at``), in one
transaction with every outcome recorded so far. A window of permits bounds the
started-but-unrecorded rows to the workers plus ``start_ahead`` (by default as many
again): the marks for the next rows commit while the current ones are on the wire, so
no worker waits for the database before a send. If the process dies, recovery turns
expired started rows 'uncertain' (never re-sent, unless the channel is idempotent)
and expired unstarted rows 'pending' again: the uncertain window is that window,
not the claimed batch.

``stop()`` (SIGTERM) stops claiming, lets in-flight sends finish and releases the
leases of rows that had not started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, bindparam, func, or_, select, update

from channels.base import Channel, Failure, FailureKind, RenderedMessage

from . import metrics
from .compose import Recipient, compose
from .config.load import LoadedConfig
from .context import OrderStats, build_context
from .control import paused_campaigns_query
from .experiments.render import override_subject, variant_context, variant_folder
from .guard import ErrorRateGuard
from .links import LinkClaims, link_urls
from .mechanics.context import mechanics_context
from .mechanics.promo import Promo
from .mechanics.send_checks import expired_campaigns, issue_promos, newest_carts
from .mechanics.sequences import step_folder
from .policy.sendcheck import SendTimeVerdict, check_at_send
from .ratelimit import RateLimiter
from .recipient_pacing import RecipientPacing
from .recipients import load_customers, load_stats
from .store.db import utcnow
from .store.schema import addresses, outbox, runs, suppressions
from .suppress import record_gone
from .templating import TemplateProblem, TemplateRenderer
from .tracking.delivery import delivered_at_send
from .tracking.rewrite import track_message
from .tracking.store import record_links

log = logging.getLogger("dispatcher.sender")


@dataclass
class SendStats:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    skipped: int = 0
    recovered_uncertain: int = 0
    released: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Job:
    outbox_id: int
    campaign: str
    channel: str
    attempts: int
    address_id: int | None
    message: RenderedMessage | None = None
    problem: str | None = None
    skip_reason: str | None = None
    started: bool = False  # marked send_started_at; holds a permit of the start window

    @property
    def sendable(self) -> bool:
        return self.message is not None and not self.skip_reason and not self.problem


@dataclass
class _Outcome:
    job: _Job
    status: str
    provider_id: str | None = None
    failure: Failure | None = None
    reason: str | None = None
    not_before: datetime | None = None
    sent_attempt: bool = False  # the provider was called (counts for the error-rate guard)


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
    # Rows marked started beyond the ones on the wire (None: as many as the workers).
    # More hides the database's commit latency; each one is a row in doubt after a crash.
    start_ahead: int | None = None
    log_sends: bool = True  # benchmark-only switch; never off in production


class Sender:
    def __init__(self, engine: Engine, loaded: LoadedConfig, channels: dict[str, Channel],
                 options: SenderOptions | None = None,
                 clock: Callable[[], datetime] = utcnow,
                 guard: ErrorRateGuard | None = None) -> None:
        self.engine = engine
        self.loaded = loaded
        self.channels = channels
        self.options = options or SenderOptions()
        self.clock = clock
        self.renderer = TemplateRenderer(loaded.templates)
        settings = loaded.channel_settings
        self._slots = {name: asyncio.Semaphore(settings[name].concurrency) for name in channels}
        self._limits = {name: RateLimiter(rate) for name in channels
                        if (rate := settings[name].rate)}
        self._pacing = {name: RecipientPacing(rate) for name in channels
                        if (rate := getattr(settings[name], "per_recipient_rate", None))}
        self.stats = SendStats()
        self.guard = guard or ErrorRateGuard(engine, loaded)
        self._stopping = asyncio.Event()
        self._window = asyncio.Semaphore(1)  # sized in drain()
        self._outcomes: list[_Outcome] = []
        # One writer at a time from this process: concurrent SQLite writers would sleep
        # in the busy handler (milliseconds each) instead of queueing.
        self._db_lock = asyncio.Lock()
        self._claim_size = self.options.batch_size

    # -- public -----------------------------------------------------------------------

    def stop(self) -> None:
        """Stop claiming; in-flight sends finish, unstarted rows are released."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def drain(self, campaigns: list[str] | None = None) -> SendStats:
        """Send every due row (of ``campaigns``), then return."""
        self.stats.recovered_uncertain += await asyncio.to_thread(self.recover_expired_leases)
        await asyncio.to_thread(self.guard.refresh)
        outcomes = self._outcomes
        flushed = asyncio.Event()
        workers_count = min(500, sum(self.loaded.channel_settings[n].concurrency
                                     for n in self.channels) or 1)
        # Claim about what the workers can start soon: rows leased but waiting in our
        # queue are rows other dispatcher processes cannot take. Four rounds of the
        # workers: each claim and its send-time queries cost about the same for 30 rows
        # as for 60 (measured: 2 rounds ~9% slower, 8 no faster).
        self._claim_size = min(self.options.batch_size, max(20, 4 * workers_count))
        ahead = self.options.start_ahead
        window = workers_count + (workers_count if ahead is None else max(0, ahead))
        self._window = asyncio.Semaphore(window)
        queue: asyncio.Queue[_Job | None] = asyncio.Queue(maxsize=self._claim_size + window)
        writer = asyncio.create_task(self._writer(outcomes, flushed))
        workers = [asyncio.create_task(self._worker(queue, outcomes))
                   for _ in range(workers_count)]
        heartbeat = asyncio.create_task(self._heartbeat())
        deadline = self.clock() + self.options.wait_for_retries
        try:
            while not self.stopping:
                claimed = await self._in_db(self._claim, campaigns)
                # Rendering happens outside the write lock and the claim's transaction.
                jobs = await asyncio.to_thread(self._prepare_claimed, claimed)
                if not jobs:
                    await queue.join()
                    await self._flush(outcomes)
                    wait = await asyncio.to_thread(self._next_due_in, campaigns, deadline)
                    if wait is None:
                        break
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), wait)
                    continue
                await self._hand_out(jobs, queue)
            # Stopping: queued jobs are released by the workers; in-flight ones finish.
            await queue.join()
        finally:
            for _ in workers:
                queue.put_nowait(None) if not queue.full() else None
            for task in workers:
                task.cancel()
            heartbeat.cancel()
            writer.cancel()
            await asyncio.gather(*workers, heartbeat, writer, return_exceptions=True)
            await self._flush(outcomes)
            self.stats.released += await asyncio.to_thread(self._release_unstarted)
        await asyncio.to_thread(self._finish_runs)
        return self.stats

    def recover_expired_leases(self) -> int:
        """Rows left 'sending' by a dead worker: uncertain if the send had started (or
        pending again if the channel is idempotent); pending again if it had not."""
        now = self.clock()
        idempotent = [n for n, s in self.loaded.channel_settings.items() if s.idempotent]
        expired = and_(outbox.c.status == "sending", outbox.c.lease_until < now)
        with self.engine.begin() as conn:
            conn.execute(update(outbox).where(expired, outbox.c.send_started_at.is_(None))
                         .values(status="pending", lease_until=None, leased_by=None,
                                 attempts=outbox.c.attempts - 1, updated_at=now,
                                 reason="lease expired before sending; released"))
            if idempotent:
                conn.execute(update(outbox).where(expired, outbox.c.channel.in_(idempotent))
                             .values(status="pending", lease_until=None, leased_by=None,
                                     send_started_at=None, updated_at=now,
                                     reason="lease expired; idempotent resend"))
            result = conn.execute(update(outbox).where(expired).values(
                status="uncertain", lease_until=None, updated_at=now,
                reason="worker stopped while sending; not re-sent (at-most-once)"))
        return int(result.rowcount or 0)

    def _release_unstarted(self) -> int:
        """Give back our leased rows that never reached the provider (on stop or error)."""
        now = self.clock()
        with self.engine.begin() as conn:
            result = conn.execute(
                update(outbox).where(outbox.c.status == "sending",
                                     outbox.c.leased_by == self.options.worker_id,
                                     outbox.c.send_started_at.is_(None))
                .values(status="pending", lease_until=None, leased_by=None,
                        attempts=outbox.c.attempts - 1, updated_at=now,
                        reason="released: dispatcher stopped before sending"))
        return int(result.rowcount or 0)

    # -- claiming -----------------------------------------------------------------------

    def _due(self, campaigns: list[str] | None, now: datetime) -> Any:
        cond = and_(outbox.c.status == "pending", outbox.c.not_before <= now,
                    outbox.c.channel.in_(list(self.channels)),
                    outbox.c.campaign.not_in(paused_campaigns_query()))
        if campaigns:
            cond = and_(cond, outbox.c.campaign.in_(campaigns))
        return cond

    def _claim(self, campaigns: list[str] | None) -> Sequence[Any]:
        now = self.clock()
        ids = (select(outbox.c.id).where(self._due(campaigns, now))
               .order_by(outbox.c.not_before, outbox.c.id)
               .limit(self._claim_size)
               .with_for_update(skip_locked=True))
        with self.engine.begin() as conn:
            claimed = conn.execute(
                update(outbox).where(outbox.c.id.in_(ids.scalar_subquery()))
                .values(status="sending", lease_until=now + self.options.lease,
                        leased_by=self.options.worker_id, attempts=outbox.c.attempts + 1,
                        updated_at=now)
                .returning(outbox.c.id, outbox.c.campaign, outbox.c.channel,
                           outbox.c.attempts, outbox.c.address_id, outbox.c.customer_id,
                           outbox.c.step, outbox.c.variant)
            ).all()
        return claimed

    def _prepare_claimed(self, claimed: Sequence[Any]) -> list[_Job]:
        if not claimed:
            return []
        # Send-time policy may write (deferrals): its own short transaction, so that
        # rendering below does not hold the database's write lock.
        with self.engine.begin() as conn:
            verdict = check_at_send(conn, self.loaded, claimed, self.clock())
        with self.engine.connect() as conn:
            return self._prepare(conn, claimed, verdict)

    def _prepare(self, conn: Any, claimed: Sequence[Any],
                 verdict: SendTimeVerdict) -> list[_Job]:
        """Re-check reachability at send time, then render each message."""
        claimed = [row for row in claimed if row.id not in verdict.deferred]
        address_ids = [row.address_id for row in claimed]
        usable: dict[int, Any] = {}
        query = (
            select(addresses.c.id, addresses.c.address, addresses.c.data, addresses.c.consent,
                   addresses.c.invalid_at, addresses.c.channel, addresses.c.address_hash,
                   suppressions.c.id.label("suppressed"))
            .outerjoin(suppressions, and_(suppressions.c.channel == addresses.c.channel,
                                          suppressions.c.address_hash == addresses.c.address_hash))
            .where(addresses.c.id.in_(address_ids))
        )
        for row in conn.execute(query):
            usable[row.id] = row
        customer_ids = [row.customer_id for row in claimed]
        people = load_customers(conn, customer_ids)
        stats = load_stats(conn, customer_ids)
        jobs = []
        to_render: list[tuple[_Job, Any, Any, Any]] = []
        expired = expired_campaigns(self.loaded, {row.campaign for row in claimed},
                                    self.clock())
        for row in sorted(claimed, key=lambda r: r.id):
            job = _Job(row.id, row.campaign, row.channel, row.attempts, row.address_id)
            address = usable.get(row.address_id)
            customer = people.get(row.customer_id)
            if row.campaign in expired:
                job.skip_reason = "expired"  # the offer ended between planning and sending
            elif address is None or customer is None:
                job.skip_reason = "no_address"
            elif address.suppressed is not None:
                job.skip_reason = "suppressed"
            elif address.consent != "granted":
                job.skip_reason = "opted_out"
            elif address.invalid_at is not None:
                job.skip_reason = "suppressed"
            elif row.id in verdict.skip:
                job.skip_reason = verdict.skip[row.id]
            else:
                to_render.append((job, row, customer, address))
            jobs.append(job)
        # Promo codes only for messages that go out, committed in their own short
        # transaction before anything is sent (a code in a message is always on file).
        promos = issue_promos(self.engine, self.loaded, [row for _, row, _, _ in to_render],
                              self.clock())
        baskets = newest_carts(conn, [row.customer_id for _, row, _, _ in to_render])
        for job, row, customer, address in to_render:
            try:
                job.message = self.render(row.campaign, row.channel, customer,
                                          stats.get(row.customer_id, OrderStats()),
                                          address, row.id, step=row.step,
                                          promo=promos.get(row.id),
                                          cart=baskets.get(row.customer_id),
                                          variant=row.variant)
                # e.g. an SMS over its segment limit: a recorded skip, not a failure
                job.skip_reason = self.loaded.channel_settings[row.channel] \
                    .send_time_skip(job.message)
            except TemplateProblem as exc:
                job.problem = f"template: {exc}"
        # Tracked links' destinations, committed before anything is sent (like the codes).
        record_links(self.engine, [job.message for job in jobs if job.sendable])
        return jobs

    def render(self, campaign_name: str, channel: str, customer: Any, stats: OrderStats,
               address: Any, outbox_id: int | None, is_test: bool = False, step: str = "",
               promo: Promo | None = None, cart: dict[str, Any] | None = None,
               variant: str | None = None) -> RenderedMessage:
        campaign = self.loaded.config.campaigns[campaign_name]
        shop = self.loaded.config.shop
        claims = LinkClaims(customer.id, channel, address.address_hash, campaign_name)
        settings = self.loaded.channel_settings[channel]
        unsubscribe, preferences = link_urls(shop.public_url, claims)
        context = build_context(
            customer, stats, campaign_name, campaign, shop, channel, unsubscribe, preferences,
            {"unsubscribe_mailto": getattr(settings, "unsubscribe_mailto", None),
             **mechanics_context(self.loaded, campaign_name, customer, stats, promo, cart)},
        )
        # An A/B arm's own folder (or the campaign's), then a sequence step's subfolder.
        folder = step_folder(variant_folder(self.loaded, campaign_name, variant), campaign,
                             step)
        variant_context(self.loaded, campaign_name, variant, context)
        recipient = Recipient(customer.id, address.address, customer.name, customer.locale,
                              dict(address.data or {}))
        message = compose(channel, self.renderer, folder, campaign_name, recipient, context)
        override_subject(self.renderer, self.loaded, campaign_name, variant, message, context)
        message.outbox_id = outbox_id
        message.is_test = is_test
        track_message(self.loaded, message, variant)  # tracked links, UTM tags, pixel
        return message

    # -- sending -----------------------------------------------------------------------

    async def _worker(self, queue: asyncio.Queue[_Job | None], outcomes: list[_Outcome]) -> None:
        while True:
            job = await queue.get()
            try:
                if job is None:
                    return
                outcome = await self._send_one(job)
                outcomes.append(outcome)
                if job.started:
                    self._window.release()  # the outcome goes into the next mark's commit
                metrics.record_outcome(job.channel, outcome.status, outcome.reason,
                                       outcome.failure.kind.value if outcome.failure else None)
                if outcome.sent_attempt or outcome.status == "failed":
                    await self.guard.observe(job.campaign, outcome.status != "sent",
                                             outcome.reason, self.clock())
            finally:
                queue.task_done()

    async def _send_one(self, job: _Job) -> _Outcome:
        if self.stopping:
            return _Outcome(job, "released", reason="released: dispatcher stopping")
        if self.guard.is_paused(job.campaign):
            return _Outcome(job, "released", reason="released: campaign paused")
        if job.skip_reason:
            return _Outcome(job, "skipped", reason=job.skip_reason)
        if job.problem or job.message is None:
            failure = Failure(FailureKind.PERMANENT, job.problem or "nothing to send")
            return _Outcome(job, "failed", failure=failure, reason=failure.reason)
        channel = self.channels[job.channel]
        async with self._slots[job.channel]:
            limiter = self._limits.get(job.channel)
            if limiter is not None:
                await limiter.acquire()
            pacing = self._pacing.get(job.channel)
            if pacing is not None:
                await pacing.acquire(job.message.to)
            try:
                if self.stopping or self.guard.is_paused(job.campaign):
                    why = "dispatcher stopping" if self.stopping else "campaign paused"
                    return _Outcome(job, "released", reason=f"released: {why}")
                started = time.monotonic()
                try:
                    provider_id = await channel.send(job.message)
                except Exception as exc:  # classified below; nothing escapes unrecorded
                    metrics.observe_latency(job.channel, time.monotonic() - started)
                    failure = channel.classify(exc)
                    if failure.retry_after and limiter is not None:
                        await limiter.pause(failure.retry_after)
                    outcome = self._failed(job, failure)
                    outcome.sent_attempt = True
                    return outcome
                metrics.observe_latency(job.channel, time.monotonic() - started)
            finally:
                if pacing is not None:
                    pacing.release(job.message.to)
        return _Outcome(job, "sent", provider_id=provider_id, sent_attempt=True)

    async def _in_db(self, function: Callable[..., Any], *args: Any) -> Any:
        async with self._db_lock:
            return await asyncio.to_thread(function, *args)

    async def _hand_out(self, jobs: list[_Job], queue: asyncio.Queue[_Job | None]) -> None:
        """Queue ``jobs`` for the workers, each sendable one durably marked started first.

        A mark waits for a permit of the start window; the permits free at that moment
        are taken together, so one commit marks a group and records every outcome so
        far (the rows the freed permits were for).
        """
        rest = list(jobs)
        while rest and not self.stopping:  # on stop, unmarked rows are released at the end
            if not rest[0].sendable:  # skips and template failures: recorded, never started
                await queue.put(rest.pop(0))
                continue
            await self._window.acquire()
            if self.stopping:
                self._window.release()
                return
            group = [rest.pop(0)]
            while rest and rest[0].sendable and not self._window.locked():
                await self._window.acquire()
                group.append(rest.pop(0))
            batch = self._outcomes[:]
            del self._outcomes[:len(batch)]
            try:
                await self._in_db(self._write, batch, [job.outbox_id for job in group])
            except Exception:
                # Unmarked rows stay leased and unstarted: released at the end (or made
                # pending again by recovery), never sent without a mark.
                self._outcomes[:0] = batch
                for _ in group:
                    self._window.release()
                log.exception("could not mark sends as started",
                              extra={"outbox_ids": [job.outbox_id for job in group]})
                continue
            for job in group:
                job.started = True
                await queue.put(job)

    def _failed(self, job: _Job, failure: Failure) -> _Outcome:
        settings = self.loaded.channel_settings[job.channel]
        log.info("send failed", extra={"campaign": job.campaign, "outbox_id": job.outbox_id,
                                       "failure": failure.kind.value, "reason": failure.reason})
        # A systemic failure (our credentials, our network) is not the recipient's
        # fault: retry it like a temporary one; the error-rate guard pauses the campaign.
        retryable = failure.kind is FailureKind.RETRYABLE or failure.systemic
        if retryable and job.attempts < settings.max_attempts:
            delay = backoff(job.attempts, settings.retry_base, settings.retry_cap,
                            failure.retry_after)
            return _Outcome(job, "pending", failure=failure, reason=failure.reason,
                            not_before=self.clock() + delay)
        reason = failure.reason
        if retryable:
            reason = f"gave up after {job.attempts} attempts: {failure.reason}"
        return _Outcome(job, "failed", failure=failure, reason=reason)

    # -- recording -----------------------------------------------------------------------

    async def _writer(self, outcomes: list[_Outcome], flushed: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(self.options.flush_interval)
            if outcomes:
                await self._flush(outcomes)

    async def _flush(self, outcomes: list[_Outcome]) -> None:
        if not outcomes:
            return
        batch = outcomes[:]
        del outcomes[:len(batch)]
        await self._in_db(self._write, batch)

    def _write(self, batch: list[_Outcome], starts: Sequence[int] = ()) -> None:
        now = self.clock()
        for o in batch:
            stat = {"sent": "sent", "failed": "failed", "pending": "retried",
                    "skipped": "skipped", "released": "released"}[o.status]
            setattr(self.stats, stat, getattr(self.stats, stat) + 1)
        # The benchmark-only switch counts the outcomes but does not record them.
        recorded = batch if self.options.log_sends else []
        if not recorded and not starts:
            return
        params = []
        for o in recorded:
            released = o.status == "released"
            params.append({
                "oid": o.job.outbox_id, "st": "pending" if released else o.status,
                "da": 1 if released else 0, "pid": o.provider_id,
                "rsn": o.reason, "ecl": o.failure.kind.value if o.failure else None,
                "err": o.failure.reason if o.failure and o.status != "sent" else None,
                "nb": o.not_before, "sat": now if o.status == "sent" else None,
                "now": now, "dlv": delivered_at_send(o.job.channel, o.status),
            })
        gone = [o for o in recorded if o.failure and (
            o.failure.kind is FailureKind.RECIPIENT_GONE or o.failure.address_invalid)]
        skipped = [o.job.outbox_id for o in recorded if o.status == "skipped"]
        with self.engine.begin() as conn:
            if params:
                conn.execute(_RECORD_OUTCOME, params)
            if starts:
                conn.execute(update(outbox).where(outbox.c.id.in_(list(starts)))
                             .values(send_started_at=now))
            if skipped:
                # A skipped row no longer holds the campaign's once_per key.
                conn.execute(update(outbox).where(outbox.c.id.in_(skipped))
                             .values(dedupe_key=None))
            for o in gone:
                assert o.failure is not None
                record_gone(conn, o.job.channel, o.job.address_id, o.failure, o.job.campaign, now)

    async def _heartbeat(self) -> None:
        """Extend our leases while rows wait in the queue or in a slow provider call."""
        interval = max(1.0, self.options.lease.total_seconds() / 3)
        while True:
            await asyncio.sleep(interval)
            now = self.clock()
            await self._in_db(self._extend_leases, now)
            # Notice an operator's pause or resume while we are draining.
            await asyncio.to_thread(self.guard.refresh)

    def _extend_leases(self, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(outbox).where(outbox.c.status == "sending",
                                              outbox.c.leased_by == self.options.worker_id)
                         .values(lease_until=now + self.options.lease))

    def _next_due_in(self, campaigns: list[str] | None, deadline: datetime) -> float | None:
        now = self.clock()
        if now >= deadline:
            return None
        cond = and_(outbox.c.status == "pending", outbox.c.channel.in_(list(self.channels)),
                    outbox.c.campaign.not_in(paused_campaigns_query()))
        if campaigns:
            cond = and_(cond, outbox.c.campaign.in_(campaigns))
        with self.engine.connect() as conn:
            due = conn.execute(select(func.min(outbox.c.not_before)).where(cond)).scalar()
        if due is None or due > deadline:
            return None
        return max(0.05, min((due - now).total_seconds(), 5.0))

    def _finish_runs(self) -> None:
        open_rows = select(outbox.c.id).where(
            outbox.c.run_id == runs.c.id,
            or_(outbox.c.status == "pending", outbox.c.status == "sending"))
        with self.engine.begin() as conn:
            conn.execute(update(runs).where(runs.c.status == "planned", ~open_rows.exists())
                         .values(status="done", finished_at=self.clock()))


# One outcome per row, executed for a whole batch; built once (constructing the
# statement cost more than SQLite's work for the batch).
_RECORD_OUTCOME = update(outbox).where(outbox.c.id == bindparam("oid")).values(
    status=bindparam("st"), provider_id=bindparam("pid"), reason=bindparam("rsn"),
    error_class=bindparam("ecl"), last_error=bindparam("err"),
    not_before=func.coalesce(bindparam("nb", type_=outbox.c.not_before.type),
                             outbox.c.not_before),
    sent_at=bindparam("sat", type_=outbox.c.sent_at.type), lease_until=None, leased_by=None,
    updated_at=bindparam("now", type_=outbox.c.updated_at.type),
    attempts=outbox.c.attempts - bindparam("da"), send_started_at=None,
    delivered=bindparam("dlv", type_=outbox.c.delivered.type),
)


def backoff(attempt: int, base: timedelta, cap: timedelta,
            retry_after: float | None = None) -> timedelta:
    """Full-jitter exponential backoff; the provider's retry_after is honoured exactly."""
    if retry_after is not None:
        return timedelta(seconds=retry_after)
    ceiling = min(cap.total_seconds(), base.total_seconds() * (2 ** max(0, attempt - 1)))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))
