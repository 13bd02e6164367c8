"""Render the messages a planned run would send, exactly as the sender will, to measure
them (``plan``: SMS segments and cost, push payload sizes).

    the planner's rows for one channel (to send, not already handled), streamed
      -> every one of them up to ``limit``, else a simple random sample of ``limit``
         (reservoir sampling, seeded by the run: the same data gives the same sample)
      -> rendered in chunks through the sender's one render path (dispatcher/message/builder.py)
         with the sender's inputs: the customer and their order stats, the address the
         planner picked, the A/B arm, the step, the newest cart, links in their tracked
         length, and a stand-in promo code of the real code's length issued at the
         planned send time
      -> a value per message, summed (``Total``): exact when every message was rendered,
         else estimated with its margin at 95% confidence

Memory holds at most ``limit`` planned rows and one chunk of rendered messages, however
large the run. Planning itself stays one set-based statement.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, select

from dispatcher.config.load import LoadedConfig
from dispatcher.plan.planner import Funnel, planned_rows
from dispatcher.policy.quiet import known_zones
from dispatcher.store.schema import addresses
from dispatcher.store.states import OutboxStatus

if TYPE_CHECKING:  # the render path is imported when a run has messages to measure
    from channels.base import RenderedMessage
    from dispatcher.message.builder import MessageBuilder

CHUNK = 500
DEFAULT_LIMIT = 2_000  # a margin of a few percent at 95%, in seconds of rendering
Z_95 = 1.96


@dataclass(frozen=True)
class PlanRun:
    """The run ``plan`` shows, handed to each of its reports (cli.PLAN_REPORTS)."""

    engine: Engine
    loaded: LoadedConfig
    campaign: str
    scheduled_for: datetime
    now: datetime
    step: str
    funnel: Funnel
    render_limit: int = DEFAULT_LIMIT


@dataclass
class Rendered:
    customer_id: str
    message: RenderedMessage | None  # None: the template raised on this customer's data
    problem: str | None = None
    variant: str | None = None  # the customer's A/B arm (None: no experiment)


@dataclass
class Total:
    """A sum over the run's ``population`` messages of one value per message, from
    every message or from a simple random sample of them."""

    population: int
    n: int = 0
    total: float = 0.0
    squares: float = 0.0

    def add(self, value: float) -> None:
        self.n += 1
        self.total += value
        self.squares += value * value

    @property
    def exact(self) -> bool:
        return self.n >= self.population

    @property
    def estimate(self) -> float:
        return self.total if self.exact or not self.n else self.total * self.population / self.n

    @property
    def margin(self) -> float:
        """Half the 95% confidence interval of the estimate (0 when exact): the normal
        approximation with the finite population correction."""
        if self.exact or self.n < 2:
            return 0.0
        mean = self.total / self.n
        variance = max(0.0, (self.squares - self.n * mean * mean) / (self.n - 1))
        shrink = 1 - self.n / self.population
        return Z_95 * self.population * math.sqrt(variance / self.n * shrink)

    def show(self, digits: int = 0) -> str:
        """``1,234`` when exact, ``~1,234 ± 56`` when estimated."""
        if self.exact:
            return f"{self.estimate:,.{digits}f}"
        return f"~{self.estimate:,.{digits}f} ± {self.margin:,.{digits}f}"


@dataclass
class Measured:
    """What ``render_planned`` went through: the run's messages on the channel and how
    many of them it rendered."""

    population: int = 0
    rendered: int = 0

    @property
    def sampled(self) -> bool:
        return self.rendered < self.population


def render_planned(run: PlanRun, channel: str, visit: Callable[[Rendered], None]) -> Measured:
    """Render the run's messages on ``channel`` (all, or a sample: see the module doc)
    and hand each to ``visit``."""
    from dispatcher.message.builder import MessageBuilder

    kept, population = _keep(run, channel)
    builder = MessageBuilder(run.loaded)
    measured = Measured(population)
    with run.engine.connect() as conn:
        for start in range(0, len(kept), CHUNK):
            for rendered in _render_chunk(conn, run, builder, channel,
                                          kept[start:start + CHUNK]):
                measured.rendered += 1
                visit(rendered)
    return measured


def method(measured: Measured, what: str, run: PlanRun) -> str:
    """The line that says how the figures above were reached."""
    from dispatcher.mechanics.send_checks import describe_stand_in, promo_config

    inputs = ("the customer's A/B arm, locale, step and cart, the address the planner "
              "picked, links in their tracked length")
    config = promo_config(run.loaded.config.campaigns[run.campaign], run.step)
    if config is not None:
        inputs += "; " + describe_stand_in(config)
    if not measured.sampled:
        return f"(each of the {measured.population:,} {what} rendered as the sender will: " \
               f"{inputs})"
    return (f"(estimated from a simple random sample of {measured.rendered:,} of "
            f"{measured.population:,} {what}, each rendered as the sender will: {inputs}; "
            f"± is the margin at 95% confidence; --render-limit renders more)")


def by_arm(counts: Counter[str], of: Counter[str], measured: Measured,
           joiner: str = "of") -> str:
    """``by arm: listed 5 of 6, plain 0 of 7`` (per A/B arm: a count, ``joiner``, the
    arm's messages rendered), or "" when the run has no arms."""
    arms = sorted(name for name in of if name)
    if not arms:
        return ""
    sample = " in the sample" if measured.sampled else ""
    return "by arm" + sample + ": " + ", ".join(
        f"{name} {counts[name]:,} {joiner} {of[name]:,}" for name in arms)


def _keep(run: PlanRun, channel: str) -> tuple[list[Any], int]:
    """The planned rows to render (all up to the limit, else a uniform sample of that
    many; reservoir sampling over one streamed pass) and how many there were."""
    rng = random.Random(f"{run.campaign}|{run.step}|{run.scheduled_for.isoformat()}")
    kept: list[Any] = []
    seen = 0
    for row in _planned(run, channel):
        if seen < run.render_limit:
            kept.append(row)
        else:
            slot = rng.randrange(seen + 1)
            if slot < run.render_limit:
                kept[slot] = row
        seen += 1
    kept.sort(key=lambda r: r.customer_id)
    return kept, seen


def _planned(run: PlanRun, channel: str) -> Iterator[Any]:
    with run.engine.connect() as conn:
        rows = planned_rows(run.loaded, run.campaign, run.scheduled_for, run.now, run.step,
                            zones=known_zones(conn))
        query = (select(rows.c.customer_id, rows.c.address_id, rows.c.variant,
                        rows.c.not_before)
                 .where(rows.c.channel == channel, rows.c.status == OutboxStatus.PENDING,
                        rows.c.done == 0)
                 .order_by(rows.c.customer_id))
        result = conn.execution_options(stream_results=True, yield_per=2_000).execute(query)
        yield from result


def _render_chunk(conn: Connection, run: PlanRun, builder: MessageBuilder, channel: str,
                  chunk: list[Any]) -> Iterable[Rendered]:
    from dispatcher.mechanics.send_checks import newest_carts, sample_promo
    from dispatcher.render.context import OrderStats
    from dispatcher.render.recipients import load_customers, load_stats
    from dispatcher.render.templating import TemplateProblem

    ids = [row.customer_id for row in chunk]
    people, stats = load_customers(conn, ids), load_stats(conn, ids)
    carts = newest_carts(conn, ids)
    by_id = {a.id: a for a in conn.execute(
        select(addresses).where(addresses.c.id.in_([row.address_id for row in chunk])))}
    for row in chunk:
        customer, address = people.get(row.customer_id), by_id.get(row.address_id)
        if customer is None or address is None:  # changed since the plan's statement
            continue
        # Sent at the planned time (after quiet hours): the code is issued then.
        sent_at = max(run.now, row.not_before or run.now)
        try:
            message = builder.build(
                run.campaign, channel, customer, stats.get(row.customer_id, OrderStats()),
                address, step=run.step, variant=row.variant,
                promo=sample_promo(run.loaded, run.campaign, sent_at, run.step),
                cart=carts.get(row.customer_id), sample=True)  # tracked: the billed length
        except TemplateProblem as exc:
            yield Rendered(row.customer_id, None, f"template: {exc}", row.variant)
            continue
        except Exception as exc:  # as the sender: this message only (send/prepare.py)
            yield Rendered(row.customer_id, None,
                           f"message not built: {type(exc).__name__}: {exc}"[:500], row.variant)
            continue
        yield Rendered(row.customer_id, message, variant=row.variant)
