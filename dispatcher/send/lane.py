"""A channel's lane in a drain: start marks ahead of the workers, and the workers.

    inbox (built, unmarked) --window permit + rate token--> one commit marks a group
    started (the ledger re-reads consent and matches the claim token) --> ready -->
    the channel's workers: pacing --> last look at the opt-out board --> provider call
    --> classify --> the sender's retry policy

The window (workers + ``start_ahead``) bounds the rows that are started but not yet
recorded: the rows in doubt after a crash. A row's rate-limit token is taken before its
mark, so a started message waits about one send for its worker, never for the rate
limit. Opt-outs committed in this process after a job's mark reach its worker through
the opt-out board (policy/optout_board.py): the worker looks there after every wait, right
before the provider call, and such a job is recorded as skipped instead; an opt-out that
comes after that look waits, before it is answered, for the call to be over. An opt-out
committed by another process cannot stop a job already marked: at most the window (per
lane) can still go out after it, each within about one send of its mark.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from channels.base import Outcome, Retry, Unknown
from dispatcher.outbox.ledger import Record
from dispatcher.policy.optout_board import FORGOTTEN
from dispatcher.send import metrics
from dispatcher.send.pacing import RecipientPacing
from dispatcher.send.prepare import Job
from dispatcher.send.ratelimit import RateLimiter
from dispatcher.store.states import OutboxStatus

if TYPE_CHECKING:
    from dispatcher.send.sender import Sender

log = logging.getLogger("dispatcher.send.sender")


class Lane:
    """One channel's share of a drain: its queue, start window, rate limit and workers."""

    def __init__(self, sender: Sender, name: str) -> None:
        settings = sender.loaded.channel_settings[name]
        self.sender = sender
        self.name = name
        self.channel = sender.channels[name]
        self.workers = settings.concurrency
        ahead = sender.options.start_ahead
        self.window = asyncio.Semaphore(self.workers + (self.workers if ahead is None
                                                        else max(0, ahead)))
        self.limiter = RateLimiter(settings.rate) if settings.rate else None
        rate = getattr(settings, "per_recipient_rate", None)
        self.pacing = RecipientPacing(rate) if rate else None
        self.inbox: asyncio.Queue[Job] = asyncio.Queue()  # built, not yet marked
        self.ready: asyncio.Queue[Job] = asyncio.Queue()  # marked, for the workers
        self.in_lane = 0  # jobs put in and not yet done with

    def start(self) -> list[asyncio.Task[None]]:
        return [asyncio.create_task(self._hand_out()),
                *(asyncio.create_task(self._work()) for _ in range(self.workers))]

    def put(self, job: Job) -> None:
        self.in_lane += 1
        self.inbox.put_nowait(job)

    def has_room(self) -> bool:
        return self.inbox.qsize() <= 2 * self.workers

    def busy(self) -> bool:
        return self.in_lane > 0

    async def join(self) -> None:
        await self.inbox.join()
        await self.ready.join()

    # -- marking ------------------------------------------------------------------------

    async def _hand_out(self) -> None:
        """Mark jobs started a group per commit, as window permits and rate tokens free
        up, and queue the marked ones for the workers."""
        sender = self.sender
        while True:
            taken = [await self.inbox.get()]  # each gets its task_done
            group: list[Job] = []  # of those, the ones holding a window permit
            try:
                if not self._may_start(taken[0]):
                    continue
                await self.window.acquire()
                group.append(taken[0])
                if self.limiter is not None:
                    await self.limiter.acquire()
                while not self.inbox.empty() and not self.window.locked() and \
                        (self.limiter is None or self.limiter.try_acquire()):
                    taken.append(self.inbox.get_nowait())
                    if self._may_start(taken[-1]):
                        await self.window.acquire()
                        group.append(taken[-1])
                if not sender.stopping:  # else unmarked: released at the end of the drain
                    await self._mark(group)
                    group = []  # the marked ones hold their permits until their outcome
            except Exception:
                # Unmarked rows stay leased and unstarted: released at the end (or made
                # pending again by recovery), never sent without a mark.
                log.exception("could not mark sends as started",
                              extra={"outbox_ids": [j.outbox_id for j in group]})
            finally:
                for _ in group:
                    self.window.release()
                for job in taken:
                    if not job.started:
                        self.in_lane -= 1
                    self.inbox.task_done()
                if self.has_room():
                    sender.room_freed()

    def _may_start(self, job: Job) -> bool:
        sender = self.sender
        if sender.stopping:
            return False  # released at the end of the drain
        if sender.guard.is_paused(job.campaign):
            sender.release(job, "campaign paused")
            return False
        return True

    async def _mark(self, group: list[Job]) -> None:
        """One commit: the outcomes so far, and start marks for ``group``."""
        sender = self.sender
        by_claim: dict[str, list[int]] = {}
        for job in group:
            by_claim.setdefault(job.token, []).append(job.outbox_id)
        # Opt-outs announced from here on are the board's to report: the mark's own
        # re-read of consent sees every one committed before its statement runs.
        since = sender.board.now()
        for job in group:
            job.marked_since = since
        marks = await sender.commit(list(by_claim.items()))
        lost = 0
        for job in group:
            key = (job.token, job.outbox_id)
            if key in marks.started:
                job.started = True
                self.ready.put_nowait(job)
                continue
            self.window.release()
            job.claim.open_jobs -= 1
            if key not in marks.refused:
                lost += 1
            elif (reason := marks.refused[key]) is None:
                sender.stats.released += 1
            else:  # the customer opted out since the claim: recorded as a skip
                sender.stats.skipped += 1
                metrics.record_outcome(self.name, OutboxStatus.SKIPPED, reason, None)
        if lost:
            log.warning("claim lost: %d row(s) taken over by another dispatcher; not sent",
                        lost, extra={"channel": self.name})

    # -- sending ------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            job = await self.ready.get()
            try:
                await self._send(job)
            except Exception:
                log.exception("send failed unexpectedly", extra={"outbox_id": job.outbox_id})
            finally:
                self.window.release()
                self.in_lane -= 1
                self.ready.task_done()

    async def _send(self, job: Job) -> None:
        sender = self.sender
        if self._not_now(job, sender.board.why_stopped(
                job.channel, job.address_hash, job.customer_id, job.topic, job.marked_since)):
            return
        if self.limiter is not None:
            await self.limiter.wait_while_paused()
        assert job.message is not None
        if self.pacing is not None:
            await self.pacing.acquire(job.message.to)
        try:
            # The last look, after every wait: an opt-out announced before it stops the
            # job; one announced after it finds the job's flight and its answer waits
            # until the provider call below is over.
            stopped, flight = sender.board.last_look(
                job.channel, job.address_hash, job.customer_id, job.topic, job.marked_since)
            if self._not_now(job, stopped):
                if flight is not None:
                    sender.board.land(flight)
                return
            assert flight is not None
            started = time.monotonic()
            try:
                provider_id = await self.channel.send(job.message)
            except Exception as exc:  # classified below; nothing escapes unrecorded
                sender.board.land(flight)
                metrics.observe_latency(self.name, time.monotonic() - started)
                outcome = self._classify(exc)
                if isinstance(outcome, Retry) and outcome.after and self.limiter is not None:
                    await self.limiter.pause(outcome.after)
                await sender.observe(job, sender.resolve(job, sender.decide(job, outcome)))
                return
            except BaseException:  # cancelled (shutdown): the opt-out need not wait on us
                sender.board.land(flight)
                raise
            sender.board.land(flight)
            metrics.observe_latency(self.name, time.monotonic() - started)
        finally:
            if self.pacing is not None:
                self.pacing.release(job.message.to)
        record = Record(job.outbox_id, job.token, OutboxStatus.SENT, provider_id=provider_id)
        await sender.observe(job, sender.resolve(job, record))

    def _not_now(self, job: Job, stopped: str | None) -> bool:
        """Release a job that must not go out now, or record it as skipped if an opt-out
        was announced since its mark (``stopped``); True if it was either."""
        sender = self.sender
        if reason := self._why_not_now(job):
            sender.release(job, reason)
            return True
        if stopped is None:
            return False
        if stopped == FORGOTTEN:  # waited longer than the board remembers: ask the mark
            sender.release(job, "waited too long after its start mark")
            return True
        log.info("opted out after the start mark; not sent",
                 extra={"campaign": job.campaign, "outbox_id": job.outbox_id,
                        "reason": stopped})
        sender.resolve(job, Record(job.outbox_id, job.token, OutboxStatus.SKIPPED,
                                   reason=stopped))
        return True

    def _why_not_now(self, job: Job) -> str | None:
        sender = self.sender
        if sender.stopping:
            return "dispatcher stopping"
        if sender.guard.is_paused(job.campaign):
            return "campaign paused"
        if sender.clock() >= job.claim.lease_until:
            # Stalled past our lease (a frozen process): another dispatcher may have
            # recovered the row by now. Not sent; the release applies only if it is ours.
            return "lease expired before sending"
        return None

    def _classify(self, error: Exception) -> Outcome:
        try:
            return self.channel.classify(error)
        except Exception:  # a classifier bug must not lose the row: it may have gone out
            log.exception("classify failed", extra={"channel": self.name})
            return Unknown(f"unclassified {type(error).__name__}")
