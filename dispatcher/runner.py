"""One pass of the dispatcher: plan the due run of each campaign, then send what is due."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .app import open_channels, open_store
from .config.load import LoadedConfig
from .mechanics.schedule import plan_due
from .planner import PlanResult
from .sender import Sender, SenderOptions, SendStats
from .store.db import utcnow
from .validate import validate_all


@dataclass
class RunOnceResult:
    plans: list[PlanResult] = field(default_factory=list)
    stats: SendStats = field(default_factory=SendStats)


async def run_once(loaded: LoadedConfig, campaigns: list[str], now: datetime | None = None,
                   wait_retries: float = 60,
                   options: SenderOptions | None = None) -> RunOnceResult:
    # Render every template against samples first: a broken template must fail the
    # run before anything is planned or sent (raises ConfigError, located).
    validate_all(loaded, campaigns)
    engine = open_store(loaded)
    result = RunOnceResult()
    plan_now = now or utcnow()
    # Higher priority plans first, so it gets the room under shared frequency caps.
    by_priority = sorted(campaigns, key=lambda n: -loaded.config.campaigns[n].priority)
    for name in by_priority:
        # Sequences plan each due step; other campaigns their cron's latest run.
        result.plans.extend(plan_due(engine, loaded, name, plan_now))
    options = options or SenderOptions(lease=loaded.config.daemon.lease)
    options.wait_for_retries = timedelta(seconds=wait_retries)
    async with open_channels(loaded) as channels:
        sender = Sender(engine, loaded, channels, options)
        # systemd stops a timer's one-shot with SIGTERM: finish in-flight sends, release
        # the rest, exit cleanly (the next run continues).
        with _stop_on_signals(sender):
            result.stats = await sender.drain(campaigns)
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
