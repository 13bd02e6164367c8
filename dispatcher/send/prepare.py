"""Claimed rows -> jobs: the send-time checks, then one message per row that may go out.

Runs in a worker thread, a claim at a time, with a fixed number of queries per claim:
policy checks (topic opt-outs, quiet hours, deadlines), reachability (consent,
suppression, validity), customers and their order stats, promo codes and carts; then
each message is built. A message that cannot be built (its template raises on this
customer's data, runs out of its budget, ...) fails alone: its job carries the problem,
and every other job of the claim goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, select

from channels.base import RenderedMessage
from dispatcher.config.load import LoadedConfig
from dispatcher.mechanics.send_checks import expired_campaigns, issue_promos, newest_carts
from dispatcher.message.builder import MessageBuilder
from dispatcher.outbox.ledger import Claim
from dispatcher.outbox.reachable import skip_reason
from dispatcher.policy.sendcheck import check_at_send
from dispatcher.render.context import OrderStats
from dispatcher.render.recipients import load_customers, load_stats
from dispatcher.render.templating import TemplateProblem
from dispatcher.store.schema import addresses, suppressions
from dispatcher.tracking.store import record_links

log = logging.getLogger("dispatcher.send.sender")


@dataclass
class ClaimState:
    """What the sender knows of one of its claims while its rows are in its hands."""

    token: str
    lease_until: datetime  # as far as we know; past it the rows may be someone else's
    open_jobs: int = 0  # jobs without an outcome yet


@dataclass
class Job:
    outbox_id: int
    campaign: str
    channel: str
    attempts: int
    address_id: int | None
    claim: ClaimState = field(repr=False)
    customer_id: str = ""
    topic: str | None = None
    address_hash: str | None = None  # for the lane's last look at in-process opt-outs
    marked_since: float = 0.0  # when its start mark began, on the opt-out board's clock
    message: RenderedMessage | None = None
    problem: str | None = None  # the message could not be built
    skip_reason: str | None = None
    started: bool = False  # marked send_started_at; holds a permit of its lane's window

    @property
    def token(self) -> str:
        return self.claim.token

    @property
    def sendable(self) -> bool:
        return self.message is not None and not self.skip_reason and not self.problem


def prepare(engine: Engine, loaded: LoadedConfig, builder: MessageBuilder, claim: Claim,
            state: ClaimState, now: Callable[[], datetime]) -> list[Job]:
    if not claim.rows:
        return []
    # Send-time policy may write (deferrals): its own short transaction, so that
    # rendering below does not hold the database's write lock.
    with engine.begin() as conn:
        verdict = check_at_send(conn, loaded, claim.rows, now(), claim.token)
    rows = sorted((r for r in claim.rows if r.id not in verdict.deferred), key=lambda r: r.id)
    with engine.connect() as conn:
        usable = {row.id: row for row in conn.execute(
            select(addresses.c.id, addresses.c.address, addresses.c.data, addresses.c.consent,
                   addresses.c.invalid_at, addresses.c.channel, addresses.c.address_hash,
                   suppressions.c.id.label("suppressed"))
            .outerjoin(suppressions, and_(suppressions.c.channel == addresses.c.channel,
                                          suppressions.c.address_hash == addresses.c.address_hash))
            .where(addresses.c.id.in_([row.address_id for row in rows])))}
        customer_ids = [row.customer_id for row in rows]
        people = load_customers(conn, customer_ids)
        stats = load_stats(conn, customer_ids)
        expired = expired_campaigns(loaded, {row.campaign for row in rows}, now())
        jobs: list[Job] = []
        to_build: list[tuple[Job, Any, Any, Any]] = []
        for row in rows:
            job = Job(row.id, row.campaign, row.channel, row.attempts, row.address_id, state,
                      row.customer_id, row.topic)
            address, customer = usable.get(row.address_id), people.get(row.customer_id)
            job.address_hash = address.address_hash if address is not None else None
            if row.campaign in expired:
                job.skip_reason = "expired"  # the offer ended between planning and sending
            else:
                job.skip_reason = skip_reason(
                    address if customer is not None else None,
                    address is not None and address.suppressed is not None, False) \
                    or verdict.skip.get(row.id)
            if not job.skip_reason:
                to_build.append((job, row, customer, address))
            jobs.append(job)
        # Promo codes only for messages that go out, committed in their own short
        # transaction before anything is sent (a code in a message is always on file).
        promos = issue_promos(engine, loaded, [row for _, row, _, _ in to_build], now())
        baskets = newest_carts(conn, [row.customer_id for _, row, _, _ in to_build])
    for job, row, customer, address in to_build:
        try:
            job.message = builder.build(row.campaign, row.channel, customer,
                                        stats.get(row.customer_id, OrderStats()), address,
                                        row.id, step=row.step, promo=promos.get(row.id),
                                        cart=baskets.get(row.customer_id), variant=row.variant)
            # e.g. an SMS over its segment limit: a recorded skip, not a failure
            job.skip_reason = loaded.channel_settings[row.channel].send_time_skip(job.message)
        except TemplateProblem as exc:
            job.problem = f"template: {exc}"
        except Exception as exc:  # anything else building one message: that message only
            job.problem = f"message not built: {type(exc).__name__}: {exc}"[:500]
        if job.problem:
            log.warning("message not built: %s", job.problem,
                        extra={"campaign": job.campaign, "outbox_id": job.outbox_id})
    # Tracked links' destinations, committed before anything is sent (like the codes).
    record_links(engine, [job.message for job in jobs if job.sendable])
    state.open_jobs += len(jobs)
    return jobs
