"""Sending: lease due outbox rows, re-check consent, render, send, record.

    claimer  --batches-->  queue (bounded: memory stays flat)  -->  workers (per-channel
    semaphore + rate limiter)  -->  outcomes  -->  writer (batched UPDATEs)

A row is 'sending' from the moment it is leased until its outcome is written. If
the process dies in between, the lease expires and recovery marks the row
'uncertain' (never re-sent) unless its channel is idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, bindparam, func, or_, select, update

from channels.base import Channel, Failure, FailureKind, RenderedMessage

from .compose import Recipient, compose
from .config.load import LoadedConfig
from .context import OrderStats, build_context
from .experiments.render import override_subject, variant_context, variant_folder
from .links import LinkClaims, preferences_url, unsubscribe_url
from .policy.sendcheck import check_at_send
from .ratelimit import RateLimiter
from .recipient_pacing import RecipientPacing
from .recipients import load_customers, load_stats
from .store.db import utcnow
from .store.schema import addresses, outbox, runs, suppressions
from .suppress import record_gone
from .templating import TemplateProblem, TemplateRenderer

log = logging.getLogger("dispatcher.sender")


@dataclass
class SendStats:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    skipped: int = 0
    recovered_uncertain: int = 0

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


@dataclass
class _Outcome:
    job: _Job
    status: str
    provider_id: str | None = None
    failure: Failure | None = None
    reason: str | None = None
    not_before: datetime | None = None


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
    log_sends: bool = True  # benchmark-only switch; never off in production


class Sender:
    def __init__(self, engine: Engine, loaded: LoadedConfig, channels: dict[str, Channel],
                 options: SenderOptions | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.loaded = loaded
        self.channels = channels
        self.options = options or SenderOptions()
        self.clock = clock
        self.renderer = TemplateRenderer(loaded.templates_dir)
        settings = loaded.channel_settings
        self._slots = {name: asyncio.Semaphore(settings[name].concurrency) for name in channels}
        self._limits = {name: RateLimiter(rate) for name in channels
                        if (rate := settings[name].rate)}
        self._pacing = {name: RecipientPacing(rate) for name in channels
                        if (rate := getattr(settings[name], "per_recipient_rate", None))}
        self.stats = SendStats()

    # -- public -----------------------------------------------------------------------

    async def drain(self, campaigns: list[str] | None = None) -> SendStats:
        """Send every due row (of ``campaigns``), then return."""
        self.stats.recovered_uncertain += await asyncio.to_thread(self.recover_expired_leases)
        queue: asyncio.Queue[_Job | None] = asyncio.Queue(maxsize=self.options.batch_size * 2)
        outcomes: list[_Outcome] = []
        flushed = asyncio.Event()
        workers_count = min(500, sum(self.loaded.channel_settings[n].concurrency
                                     for n in self.channels) or 1)
        writer = asyncio.create_task(self._writer(outcomes, flushed))
        workers = [asyncio.create_task(self._worker(queue, outcomes))
                   for _ in range(workers_count)]
        heartbeat = asyncio.create_task(self._heartbeat())
        deadline = self.clock() + self.options.wait_for_retries
        try:
            while True:
                jobs = await asyncio.to_thread(self._claim, campaigns)
                if not jobs:
                    await queue.join()
                    await self._flush(outcomes)
                    wait = await asyncio.to_thread(self._next_due_in, campaigns, deadline)
                    if wait is None:
                        break
                    await asyncio.sleep(wait)
                    continue
                for job in jobs:
                    await queue.put(job)
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
        await asyncio.to_thread(self._finish_runs)
        return self.stats

    def recover_expired_leases(self) -> int:
        """Rows left 'sending' by a dead worker: uncertain, or pending again if idempotent."""
        now = self.clock()
        idempotent = [n for n, s in self.loaded.channel_settings.items() if s.idempotent]
        expired = and_(outbox.c.status == "sending", outbox.c.lease_until < now)
        with self.engine.begin() as conn:
            if idempotent:
                conn.execute(update(outbox).where(expired, outbox.c.channel.in_(idempotent))
                             .values(status="pending", lease_until=None, leased_by=None,
                                     updated_at=now, reason="lease expired; idempotent resend"))
            result = conn.execute(update(outbox).where(expired).values(
                status="uncertain", lease_until=None, updated_at=now,
                reason="worker stopped while sending; not re-sent (at-most-once)"))
        return int(result.rowcount or 0)

    # -- claiming -----------------------------------------------------------------------

    def _due(self, campaigns: list[str] | None, now: datetime) -> Any:
        cond = and_(outbox.c.status == "pending", outbox.c.not_before <= now,
                    outbox.c.channel.in_(list(self.channels)))
        if campaigns:
            cond = and_(cond, outbox.c.campaign.in_(campaigns))
        return cond

    def _claim(self, campaigns: list[str] | None) -> list[_Job]:
        now = self.clock()
        ids = (select(outbox.c.id).where(self._due(campaigns, now))
               .order_by(outbox.c.not_before, outbox.c.id)
               .limit(self.options.batch_size)
               .with_for_update(skip_locked=True))
        with self.engine.begin() as conn:
            claimed = conn.execute(
                update(outbox).where(outbox.c.id.in_(ids.scalar_subquery()))
                .values(status="sending", lease_until=now + self.options.lease,
                        leased_by=self.options.worker_id, attempts=outbox.c.attempts + 1,
                        updated_at=now)
                .returning(outbox.c.id, outbox.c.campaign, outbox.c.channel,
                           outbox.c.attempts, outbox.c.address_id, outbox.c.customer_id,
                           outbox.c.variant)
            ).all()
            if not claimed:
                return []
            return self._prepare(conn, claimed)

    def _prepare(self, conn: Any, claimed: Sequence[Any]) -> list[_Job]:
        """Re-check reachability at send time, then render each message."""
        verdict = check_at_send(conn, self.loaded, claimed, self.clock())
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
        for row in sorted(claimed, key=lambda r: r.id):
            job = _Job(row.id, row.campaign, row.channel, row.attempts, row.address_id)
            address = usable.get(row.address_id)
            customer = people.get(row.customer_id)
            if address is None or customer is None:
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
                try:
                    job.message = self.render(row.campaign, row.channel, customer,
                                              stats.get(row.customer_id, OrderStats()),
                                              address, row.id, variant=row.variant)
                    # e.g. an SMS over its segment limit: a recorded skip, not a failure
                    job.skip_reason = self.loaded.channel_settings[row.channel] \
                        .send_time_skip(job.message)
                except TemplateProblem as exc:
                    job.problem = f"template: {exc}"
            jobs.append(job)
        return jobs

    def render(self, campaign_name: str, channel: str, customer: Any, stats: OrderStats,
               address: Any, outbox_id: int | None, is_test: bool = False,
               variant: str | None = None) -> RenderedMessage:
        campaign = self.loaded.config.campaigns[campaign_name]
        shop = self.loaded.config.shop
        claims = LinkClaims(customer.id, channel, address.address_hash, campaign_name)
        settings = self.loaded.channel_settings[channel]
        context = build_context(
            customer, stats, campaign_name, campaign, shop, channel,
            unsubscribe_url(shop.public_url, claims), preferences_url(shop.public_url, claims),
            {"unsubscribe_mailto": getattr(settings, "unsubscribe_mailto", None)},
        )
        folder = variant_folder(self.loaded, campaign_name, variant)
        variant_context(self.loaded, campaign_name, variant, context)
        recipient = Recipient(customer.id, address.address, customer.name, customer.locale,
                              dict(address.data or {}))
        message = compose(channel, self.renderer, folder, campaign_name, recipient, context)
        override_subject(self.renderer, self.loaded, campaign_name, variant, message, context)
        message.outbox_id = outbox_id
        message.is_test = is_test
        return message

    # -- sending -----------------------------------------------------------------------

    async def _worker(self, queue: asyncio.Queue[_Job | None], outcomes: list[_Outcome]) -> None:
        while True:
            job = await queue.get()
            try:
                if job is None:
                    return
                outcomes.append(await self._send_one(job))
            finally:
                queue.task_done()

    async def _send_one(self, job: _Job) -> _Outcome:
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
                provider_id = await channel.send(job.message)
            except Exception as exc:  # classified below; nothing escapes unrecorded
                failure = channel.classify(exc)
                if failure.retry_after and limiter is not None:
                    await limiter.pause(failure.retry_after)
                return self._failed(job, failure)
            finally:
                if pacing is not None:
                    pacing.release(job.message.to)
        return _Outcome(job, "sent", provider_id=provider_id)

    def _failed(self, job: _Job, failure: Failure) -> _Outcome:
        settings = self.loaded.channel_settings[job.channel]
        log.info("send failed", extra={"campaign": job.campaign, "outbox_id": job.outbox_id,
                                       "failure": failure.kind.value, "reason": failure.reason})
        if failure.kind is FailureKind.RETRYABLE and job.attempts < settings.max_attempts:
            delay = backoff(job.attempts, settings.retry_base, settings.retry_cap,
                            failure.retry_after)
            return _Outcome(job, "pending", failure=failure, reason=failure.reason,
                            not_before=self.clock() + delay)
        reason = failure.reason
        if failure.kind is FailureKind.RETRYABLE:
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
        await asyncio.to_thread(self._write, batch)

    def _write(self, batch: list[_Outcome]) -> None:
        now = self.clock()
        params = []
        for o in batch:
            stat = {"sent": "sent", "failed": "failed", "pending": "retried",
                    "skipped": "skipped"}[o.status]
            setattr(self.stats, stat, getattr(self.stats, stat) + 1)
            params.append({
                "oid": o.job.outbox_id, "st": o.status, "pid": o.provider_id,
                "rsn": o.reason, "ecl": o.failure.kind.value if o.failure else None,
                "err": o.failure.reason if o.failure and o.status != "sent" else None,
                "nb": o.not_before, "sat": now if o.status == "sent" else None,
                "dk": o.status not in ("skipped",),
            })
        if not self.options.log_sends:
            return
        statement = (
            update(outbox).where(outbox.c.id == bindparam("oid")).values(
                status=bindparam("st"), provider_id=bindparam("pid"), reason=bindparam("rsn"),
                error_class=bindparam("ecl"), last_error=bindparam("err"),
                not_before=func.coalesce(bindparam("nb"), outbox.c.not_before),
                sent_at=bindparam("sat"), lease_until=None, leased_by=None, updated_at=now,
            )
        )
        gone = [o for o in batch if o.failure and (
            o.failure.kind is FailureKind.RECIPIENT_GONE or o.failure.address_invalid)]
        skipped = [o.job.outbox_id for o in batch if o.status == "skipped"]
        with self.engine.begin() as conn:
            conn.execute(statement, params)
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
            await asyncio.to_thread(self._extend_leases, now)

    def _extend_leases(self, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(outbox).where(outbox.c.status == "sending",
                                              outbox.c.leased_by == self.options.worker_id)
                         .values(lease_until=now + self.options.lease))

    def _next_due_in(self, campaigns: list[str] | None, deadline: datetime) -> float | None:
        now = self.clock()
        if now >= deadline:
            return None
        cond = and_(outbox.c.status == "pending", outbox.c.channel.in_(list(self.channels)))
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


def backoff(attempt: int, base: timedelta, cap: timedelta,
            retry_after: float | None = None) -> timedelta:
    """Full-jitter exponential backoff; the provider's retry_after is honoured exactly."""
    if retry_after is not None:
        return timedelta(seconds=retry_after)
    ceiling = min(cap.total_seconds(), base.total_seconds() * (2 ** max(0, attempt - 1)))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))
