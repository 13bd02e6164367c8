"""``dispatcher run``: one process holding the scheduler, the HTTP app, the background
services and the sender loop.

    startup   migrate, record/catch up missed runs, schedule, serve, READY=1
    fire      plan the due run (idempotent), wake the sender
    sender    drain due rows; sleep poll_interval or until woken; repeat
    SIGHUP    load + validate the config; swap it in, or keep the old one and log why
    SIGTERM   STOPPING=1, stop scheduling and claiming, let in-flight sends finish
              (bounded by shutdown_timeout), release unstarted leases, exit 0
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
from typing import Any

from sqlalchemy import Engine

from dispatcher.app import open_channels, open_store
from dispatcher.clock import Clock, system_clock
from dispatcher.config.errors import ConfigError
from dispatcher.config.load import LoadedConfig, load_config
from dispatcher.daemon.missed import catch_up
from dispatcher.daemon.schedule import install_jobs, make_scheduler
from dispatcher.daemon.sdnotify import notify
from dispatcher.daemon.services import BACKGROUND_SERVICES
from dispatcher.plan.due import plan_due
from dispatcher.send.guard import ErrorRateGuard
from dispatcher.send.sender import Sender, SenderOptions
from dispatcher.web.state import WebState

log = logging.getLogger("dispatcher.daemon")


# Scheduler jobs that fire within this many seconds of each other are planned as one
# batch (APScheduler starts same-minute jobs a few milliseconds apart).
FIRE_BATCH_WINDOW = 0.5


class Daemon:
    def __init__(self, loaded: LoadedConfig, host: str | None = None,
                 port: int | None = None, serve_http: bool = True,
                 dispatch: bool = True, clock: Clock = system_clock) -> None:
        self.loaded = loaded
        # "Now" for catch-up, planning and sending (the cron jobs themselves fire on
        # APScheduler's real-time clock).
        self.clock = clock
        # False for `dispatcher serve`: only the HTTP app and the background services
        # (unsubscribe links and webhooks for shops that send with the nightly one-shot).
        self.dispatch = dispatch
        self.host = host or loaded.config.daemon.host
        self.port = loaded.config.daemon.port if port is None else port
        self.serve_http = serve_http
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._generation = 0
        self._sender: Sender | None = None
        self._engine: Engine | None = None
        self._guard: ErrorRateGuard | None = None
        self._scheduler: Any = None
        self._web_state: Any = None
        self._due_fires: set[str] = set()
        self._planning: asyncio.Task[None] | None = None

    # -- lifecycle --------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.request_stop)
        loop.add_signal_handler(signal.SIGINT, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(self.reload()))
        self._engine = engine = await asyncio.to_thread(open_store, self.loaded)
        self._guard = ErrorRateGuard(engine, self.loaded)
        # Shared by the HTTP app (when the web extra is installed) and the background
        # services, which run either way.
        self._web_state = WebState(self.loaded, engine, {"daemon": self})
        try:
            if self.dispatch:
                done = await asyncio.to_thread(catch_up, engine, self.loaded, self.clock())
                if done.planned:
                    self._wake.set()
                self._scheduler = make_scheduler(self.loaded)
                install_jobs(self._scheduler, self.loaded, self._fire)
                self._scheduler.start()

            server, server_task = await self._start_http(engine)
            stop_services = asyncio.Event()
            services = self._start_services(stop_services)
            sender_task = asyncio.create_task(self._send_loop(), name="sender") \
                if self.dispatch else None
            notify(f"READY=1\nSTATUS={'dispatching' if self.dispatch else 'serving'}")
            log.info("dispatcher %s (pid %d)", "running" if self.dispatch else "serving HTTP",
                     _pid())

            await self._stop.wait()
            notify("STOPPING=1")
            log.info("stopping: no new claims; waiting for in-flight sends")
            if self._scheduler is not None:
                self._scheduler.shutdown(wait=False)
            if self._planning is not None:  # a plan is one transaction: let it finish
                await asyncio.wait([self._planning], timeout=30)
            if sender_task is not None:
                await self._stop_sender(sender_task)
            stop_services.set()
            await _finish(services, timeout=5)
            if server is not None:
                server.should_exit = True
                await _finish([server_task], timeout=5)
            await asyncio.to_thread(self._web_state.close)  # e.g. queued clicks written
        finally:
            engine.dispose()
        log.info("stopped")
        return 0

    def request_stop(self) -> None:
        if not self._stop.is_set():
            log.info("shutdown requested")
        self._stop.set()
        if self._sender is not None:
            self._sender.stop()

    async def reload(self) -> bool:
        """Load and validate the config again; keep the running one if it is invalid."""
        path = self.loaded.path
        try:
            new = await asyncio.to_thread(_load_and_validate, path)
        except ConfigError as exc:
            for issue in exc.issues:
                log.error("config reload: %s", issue)
            log.error("config reload rejected (%d problem(s)); still running the previous config",
                      len(exc.issues))
            return False
        except Exception as exc:  # any failure keeps the running config
            log.error("config reload rejected (%s: %s); still running the previous config",
                      type(exc).__name__, exc)
            return False
        if new.database_url() != self.loaded.database_url():
            log.warning("config reload: a new database URL takes effect only after a restart")
        self.loaded = new
        if self._guard is not None:
            self._guard.loaded = new
        if self._web_state is not None:
            self._web_state.loaded = new
        if self._scheduler is not None:
            install_jobs(self._scheduler, new, self._fire)
        self._generation += 1  # the sender reopens channels with the new settings
        if self._sender is not None:
            self._sender.stop()
        self._wake.set()
        log.info("config reloaded from %s", path)
        return True

    # -- scheduling ---------------------------------------------------------------------

    async def _fire(self, campaign: str) -> None:
        """A scheduler job: plan the campaign's due run, together with every other
        campaign that fires at the same moment, higher ``priority`` first, so campaigns
        due at the same minute share the frequency caps by priority, not by luck."""
        if self._stop.is_set() or campaign not in self.loaded.config.campaigns:
            return
        self._due_fires.add(campaign)
        if self._planning is None or self._planning.done():
            self._planning = asyncio.create_task(self._plan_due_fires(), name="planning")
        await asyncio.shield(self._planning)

    async def _plan_due_fires(self) -> None:
        await asyncio.sleep(FIRE_BATCH_WINDOW)  # let the same minute's other jobs join
        while self._due_fires and not self._stop.is_set():
            loaded = self.loaded
            batch = sorted((n for n in self._due_fires if n in loaded.config.campaigns),
                           key=lambda n: (-loaded.config.campaigns[n].priority, n))
            self._due_fires.clear()
            for campaign in batch:
                await self._plan(loaded, campaign)

    async def _plan(self, loaded: LoadedConfig, campaign: str) -> None:
        assert self._engine is not None
        now = self.clock()
        try:
            # The cron's latest run; for a sequence, each step that is due now.
            results = await asyncio.to_thread(plan_due, self._engine, loaded, campaign, now)
        except Exception:
            log.exception("planning failed", extra={"campaign": campaign})
            return
        for result in results:
            log.info("run %s: %s, %d to send", result.run_id,
                     "planned" if result.created else "already planned by another dispatcher",
                     result.funnel.to_send if result.created else 0,
                     extra={"campaign": campaign, "run_id": result.run_id,
                            "step": result.step})
        self._wake.set()

    # -- sending --------------------------------------------------------------------------

    async def _send_loop(self) -> None:
        assert self._engine is not None and self._guard is not None
        while not self._stop.is_set():
            generation, loaded = self._generation, self.loaded
            options = SenderOptions(lease=loaded.config.daemon.lease,
                                    start_ahead=loaded.config.daemon.start_ahead)
            try:
                async with open_channels(loaded) as channels:
                    while not self._stop.is_set() and generation == self._generation:
                        self._wake.clear()
                        sender = Sender(self._engine, loaded, channels, options,
                                        clock=self.clock, guard=self._guard)
                        self._sender = sender
                        if self._stop.is_set():
                            sender.stop()
                        stats = await sender.drain()
                        self._sender = None
                        if stats.sent or stats.failed or stats.uncertain \
                                or stats.recovered_uncertain:
                            log.info("sender: %s", stats.as_dict())
                        await self._idle(loaded.config.daemon.poll_interval.total_seconds())
            except Exception:
                # The database or a provider library failed outside a send: log, wait, retry.
                self._sender = None
                log.exception("sender loop failed; retrying")
                await self._idle(loaded.config.daemon.poll_interval.total_seconds())

    async def _idle(self, seconds: float) -> None:
        waits = [asyncio.create_task(self._stop.wait()), asyncio.create_task(self._wake.wait())]
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()

    async def _stop_sender(self, task: asyncio.Task[None]) -> None:
        if self._sender is not None:
            self._sender.stop()
        timeout = self.loaded.config.daemon.shutdown_timeout.total_seconds()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            # In-flight provider calls did not return in time: those rows stay 'sending'
            # and become 'uncertain' after their lease; never re-sent.
            log.error("in-flight sends did not finish within %ss; exiting anyway", timeout)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -- HTTP and services ------------------------------------------------------------------

    async def _start_http(self, engine: Engine) -> tuple[Any, asyncio.Task[Any] | None]:
        if not self.serve_http:
            return None, None
        try:
            from dispatcher.daemon.web import make_server
            from dispatcher.web.app import create_app
        except ImportError as exc:
            log.warning("HTTP app disabled (install the 'web' extra): %s", exc)
            return None, None
        server = make_server(create_app(self._web_state), self.host, self.port)
        task = asyncio.create_task(server.serve(), name="http")
        while not server.started and not task.done():
            await asyncio.sleep(0.05)
        if task.done():
            task.result()  # a bind error: raise it, the daemon cannot serve
        log.info("HTTP on http://%s:%d", self.host, self.port)
        return server, task

    def _start_services(self, stop: asyncio.Event) -> list[asyncio.Task[Any]]:
        tasks = []
        for path in BACKGROUND_SERVICES:
            module_name, _, attr = path.partition(":")
            function = getattr(importlib.import_module(module_name), attr)
            tasks.append(asyncio.create_task(_guarded(path, function(self._web_state, stop)),
                                             name=path))
        return tasks


def _load_and_validate(path: Any) -> LoadedConfig:
    from dispatcher.message.validate import validate_all

    loaded = load_config(path)
    validate_all(loaded)  # templates must still render: raises ConfigError
    return loaded


async def _guarded(name: str, coroutine: Any) -> None:
    try:
        await coroutine
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("background service %s failed", name)


async def _finish(tasks: list[Any], timeout: float) -> None:
    tasks = [t for t in tasks if t is not None]
    if not tasks:
        return
    _done, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _pid() -> int:
    import os

    return os.getpid()
