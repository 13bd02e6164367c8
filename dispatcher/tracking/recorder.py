"""Clicks and opens are answered first and written after: an in-process queue that one
background thread writes to the database in batches.

The redirect never waits for the database's write lock (a sender's batch, a slow
PostgreSQL): the handler puts a small tuple on a queue and answers. The writer thread
takes everything queued (up to ``batch`` rows) at least every ``flush_interval`` and
writes it in one transaction. A failed write is retried with the same rows (nothing is
dropped on an error). ``close()`` (the daemon's shutdown, after the HTTP server stopped
answering) drains the queue, so a click that was answered is a click that is stored.
A SIGKILL loses at most the last ``flush_interval`` of clicks.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert

from dispatcher.store.schema import clicks, opens

log = logging.getLogger("dispatcher.tracking")

_CLOSE = object()
# Memory stays bounded while the database is away: past this many queued records new
# ones are dropped (and counted in the log) instead of growing without limit.
MAX_QUEUED = 200_000
# How often the writer looks for more records while it gathers a batch.
_POLL = 0.05


class EngagementRecorder:
    def __init__(self, engine: Engine, flush_interval: float = 1.0, batch: int = 1000) -> None:
        self.engine = engine
        self.flush_interval = flush_interval
        self.batch = batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False
        self.written = 0
        self.dropped = 0

    # -- the handlers' side: never blocks ----------------------------------------------

    def click(self, outbox_id: int, link: int, at: datetime, agent: str,
              bot: str | None) -> None:
        self._put((clicks, {"outbox_id": outbox_id, "link": link, "at": at, "agent": agent,
                            "bot": bot}))

    def open(self, outbox_id: int, at: datetime, agent: str) -> None:
        self._put((opens, {"outbox_id": outbox_id, "at": at, "agent": agent}))

    def _put(self, item: tuple[Any, dict[str, Any]]) -> None:
        if self._queue.qsize() >= MAX_QUEUED:  # the database has been away for long
            self.dropped += 1
            if self.dropped % 10_000 == 1:
                log.error("click/open queue full (%d): the database is not taking writes; "
                          "%d record(s) dropped so far", MAX_QUEUED, self.dropped)
            return
        self._queue.put(item)
        if self._thread is None:
            with self._start_lock:
                if self._thread is None and not self._closed:
                    self._thread = threading.Thread(target=self._run, daemon=True,
                                                    name="engagement-writer")
                    self._thread.start()
        if self._closed:  # after close(): nobody writes in the background any more
            self._drain_now()

    # -- shutdown -----------------------------------------------------------------------

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued, then stop the writer."""
        with self._start_lock:
            self._closed = True
            thread = self._thread
        if thread is None:
            self._drain_now()
            return
        self._queue.put(_CLOSE)
        thread.join(timeout)
        if thread.is_alive():
            log.error("clicks still unwritten after %ss at shutdown", timeout)

    # -- the writer thread ----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            items, closing = self._collect()
            if items:
                self._write_with_retries(items, closing)
            if closing:
                return

    def _collect(self) -> tuple[list[tuple[Any, dict[str, Any]]], bool]:
        """Wait for a record, then gather more for up to ``flush_interval``: a click
        waits at most that long in memory. True when close() was asked for.

        The gathering polls with short sleeps rather than a timed ``queue.get``: a timed
        lock wait (sem_clockwait) measures its deadline on a clock that a shifted clock
        such as libfaketime's (.ci/run's night pass) does not move, and then never times
        out, so the clicks would stay in memory."""
        first = self._queue.get()
        if first is _CLOSE:
            return self._take_all(), True
        items = [first]
        deadline = time.monotonic() + self.flush_interval
        while len(items) < self.batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                time.sleep(min(_POLL, remaining))
                continue
            if item is _CLOSE:
                return items + self._take_all(), True
            items.append(item)
        return items, False

    def _take_all(self) -> list[tuple[Any, dict[str, Any]]]:
        items: list[tuple[Any, dict[str, Any]]] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return items
            if item is not _CLOSE:
                items.append(item)

    def _drain_now(self) -> None:
        items = self._take_all()
        if items:
            self._write_with_retries(items, closing=True)

    def _write_with_retries(self, items: list[tuple[Any, dict[str, Any]]],
                            closing: bool) -> None:
        delay, attempt = 0.2, 0
        while True:
            attempt += 1
            try:
                self._write(items)
                return
            except Exception:
                log.exception("could not write %d click/open record(s) (attempt %d); "
                              "keeping them to try again", len(items), attempt)
                if closing and attempt >= 5:
                    log.error("giving up on %d click/open record(s) at shutdown", len(items))
                    return
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _write(self, items: list[tuple[Any, dict[str, Any]]]) -> None:
        by_table: dict[Any, list[dict[str, Any]]] = {}
        for table, row in items:
            by_table.setdefault(table, []).append(row)
        with self.engine.begin() as conn:
            for table, rows in by_table.items():
                conn.execute(insert(table), rows)
        self.written += len(items)
