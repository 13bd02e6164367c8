"""Fencing: a dispatcher that stalls past its lease must not send what another one took over.

Two real ``dispatcher run`` processes share one database. One is frozen (SIGSTOP) while
it holds claimed rows, for several times its lease; the other recovers those rows when
the lease expires and sends them. Then the frozen one resumes (SIGCONT) with the same
rows still in its queues: every write it makes is matched against its claim, which it
no longer owns, so it sends none of them. A real SMTP server counts the copies.
"""

from __future__ import annotations

import signal
import socket
import time
from collections import Counter

import pytest

from dispatcher.store.schema import outbox

from .daemon_peers import (
    Output,
    SinkHandler,
    address,
    build_shop,
    rows,
    start,
    states,
    wait_until,
)
from .shop import Shop
from .smtp_server import SMTPServer

RECIPIENTS = 300


def plan_without_sending(shop: Shop) -> None:
    shop.cli("pause", "win_back")
    shop.cli("run-once", "win_back", "--wait-retries", "0")
    shop.cli("resume", "win_back")


def claimed_unstarted(db_url: str, pid: int) -> set[int]:
    worker = f"{socket.gethostname()}:{pid}"
    return {r.id for r in rows(db_url, outbox.c.status == "sending", outbox.c.leased_by == worker,
                               outbox.c.send_started_at.is_(None))}


def test_a_daemon_frozen_past_its_lease_sends_nothing_twice(
        shop: Shop, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPATCHER_DATABASE_URL", db_url)
    handler = SinkHandler(delay=0.05)  # a relay under load: claimed rows wait their turn
    with SMTPServer(handler) as smtp:
        build_shop(shop, smtp.port, RECIPIENTS, concurrency=4)  # lease: 2s
        plan_without_sending(shop)
        frozen = start(shop, db_url, "run", "--no-http")
        other = None
        try:
            # Given a daemon that is sending and holds claimed rows it has not started
            held: set[int] = set()

            def holding() -> bool:
                held.update(claimed_unstarted(db_url, frozen.pid))
                return handler.count() >= 10 and bool(held)

            wait_until(holding, proc=frozen)
            # When it stalls far past its lease while a second daemon does the work
            other = start(shop, db_url, "run", "--no-http")
            took_over = freeze_until_the_other_finishes(frozen, db_url, handler)
            held = claimed_unstarted(db_url, frozen.pid) | took_over
            # and then wakes up with those rows still in its queues
            frozen.send_signal(signal.SIGCONT)
            settle(Output(frozen))
            for proc in (frozen, other):
                proc.send_signal(signal.SIGTERM)
            codes = [frozen.wait(timeout=60), other.wait(timeout=60)]
        finally:
            for proc in (frozen, other):
                if proc is not None and proc.poll() is None:
                    proc.send_signal(signal.SIGCONT)
                    proc.kill()
    outputs = [Output(frozen).text(), Output(other).text()]
    assert codes == [0, 0], outputs
    # Then nobody got the message twice
    received = Counter(handler.recipients())
    assert {a: n for a, n in received.items() if n > 1} == {}
    # and nobody was lost: everyone received it or is listed as uncertain
    final = states(db_url)
    assert final["sent"] + final["uncertain"] == RECIPIENTS, final
    uncertain = {address(int(r.customer_id[1:]))
                 for r in rows(db_url, outbox.c.status == "uncertain")}
    assert set(received) | uncertain == {address(i) for i in range(RECIPIENTS)}
    # (the scenario happened: the second daemon sent rows the frozen one had claimed)
    assert held, "the frozen daemon held no claimed rows"
    assert {r.status for r in rows(db_url, outbox.c.id.in_(held))} <= {"sent", "uncertain"}


def freeze_until_the_other_finishes(proc, db_url: str, handler: SinkHandler) -> set[int]:  # type: ignore[no-untyped-def]
    """SIGSTOP ``proc`` until every row is sent or uncertain (done by the other daemon).

    A process frozen inside a database transaction holds its locks (SQLite's write lock,
    PostgreSQL's row locks) and the other daemon waits for them: when nothing moves for
    a while, thaw it for a moment and freeze it again. Returns the rows ``proc`` held
    claimed but unstarted while it was frozen.
    """
    for _ in range(10):
        proc.send_signal(signal.SIGSTOP)
        held = claimed_unstarted(db_url, proc.pid)
        seen, moved_at = handler.count(), time.monotonic()
        while time.monotonic() - moved_at < 8:
            current = states(db_url)
            if current["sent"] + current["uncertain"] == RECIPIENTS:
                return held
            if handler.count() != seen:
                seen, moved_at = handler.count(), time.monotonic()
            time.sleep(0.1)
        proc.send_signal(signal.SIGCONT)  # the other daemon waits for our locks
        time.sleep(0.3)
    raise AssertionError("the second daemon never finished while the first was frozen")


def settle(output: Output) -> None:
    """Give the woken daemon time to act on what it held (it finds nothing it may send)."""
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline and "sender: {" not in output.text():
        time.sleep(0.1)
