"""One pass of the dispatcher: plan the due run of each campaign, then send what is due."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dispatcher.app import open_channels, open_store
from dispatcher.clock import Clock, system_clock
from dispatcher.config.load import LoadedConfig
from dispatcher.message.validate import validate_all
from dispatcher.outbox.waiting import Waiting, waiting_rows
from dispatcher.plan.due import due_runs
from dispatcher.plan.planner import PlanResult, plan_run
from dispatcher.send.sender import Sender, SenderOptions, SendStats

# How old a campaign's latest scheduled time may be for a one-shot pass to still run it.
# The one-shot timer runs every hour (a shop may run it less often, at least daily), so
# a day covers every fire since the last pass; anything older (last New Year's
# greeting, seen in November) was missed, not due.
ONE_SHOT_LOOKBACK = timedelta(days=1)


@dataclass
class RunOnceResult:
    plans: list[PlanResult] = field(default_factory=list)
    stats: SendStats = field(default_factory=SendStats)
    # campaign -> its latest scheduled time, too old to send now (not planned)
    stale: dict[str, datetime] = field(default_factory=dict)
    # What this pass left for later, and why (quiet hours, retries, planned ahead)
    waiting: list[Waiting] = field(default_factory=list)


async def run_once(loaded: LoadedConfig, campaigns: list[str], now: datetime | None = None,
                   wait_retries: float = 60,
                   options: SenderOptions | None = None,
                   clock: Clock = system_clock) -> RunOnceResult:
    """Plan as of ``now`` (default: the clock's time; ``--at`` sets it for a catch-up)
    and send by ``clock``: quiet hours and retries are judged by the clock, never by a
    pretended planning time, so a catch-up at night still waits for the morning."""
    # Render every template against samples first: a broken template must fail the
    # run before anything is planned or sent (raises ConfigError, located).
    validate_all(loaded, campaigns)
    engine = open_store(loaded)
    result = RunOnceResult()
    plan_now = now or clock()
    # Higher priority plans first, so it gets the room under shared frequency caps.
    by_priority = sorted(campaigns, key=lambda n: -loaded.config.campaigns[n].priority)
    for name in by_priority:
        lookback = max(loaded.config.campaigns[name].grace, ONE_SHOT_LOOKBACK)
        # Sequences: each due step (due_runs keeps them within their grace); other
        # campaigns: their cron's latest run, unless it is older than the lookback.
        for step, scheduled in due_runs(loaded, name, plan_now):
            if not step and plan_now - scheduled > lookback:
                result.stale[name] = scheduled
                continue
            result.plans.append(plan_run(engine, loaded, name, scheduled, plan_now, step=step))
    options = options or SenderOptions(lease=loaded.config.daemon.lease,
                                       start_ahead=loaded.config.daemon.start_ahead)
    options.wait_for_retries = timedelta(seconds=wait_retries)
    async with open_channels(loaded) as channels:
        sender = Sender(engine, loaded, channels, options, clock=clock)
        # systemd stops a timer's one-shot with SIGTERM: finish in-flight sends, release
        # the rest, exit cleanly (the next run continues).
        with _stop_on_signals(sender):
            result.stats = await sender.drain(campaigns)
    result.waiting = await asyncio.to_thread(waiting_rows, engine, loaded, campaigns, clock())
    engine.dispose()
    return result


@contextlib.contextmanager
def _stop_on_signals(sender: Sender) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    installed = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, sender.stop)
            installed.append(signum)
        except (NotImplementedError, RuntimeError):  # not the main thread (tests)
            pass
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
