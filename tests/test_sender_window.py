"""The start window: how many rows are marked started but not yet recorded.

Rows are marked ``send_started_at`` before they reach the workers, a group per commit,
so a worker never waits for the database before a send. The marks run at most
``daemon.start_ahead`` rows ahead of the ones on the wire: after a crash, that window
is what can turn 'uncertain'.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from .daemon_peers import SinkHandler, build_shop, output_of, start, started_unrecorded, states
from .shop import Shop
from .smtp_server import SMTPServer

CONCURRENCY = 4
RECIPIENTS = 80


def most_in_doubt(shop: Shop, db_url: str, start_ahead: int | None,
                  monkeypatch: pytest.MonkeyPatch) -> tuple[int, SinkHandler]:
    """Send to a slow relay, sampling the started-but-unrecorded rows all along."""
    monkeypatch.setenv("DISPATCHER_DATABASE_URL", db_url)
    handler = SinkHandler(delay=0.05)
    daemon = "" if start_ahead is None else f"  start_ahead: {start_ahead}\n"
    with SMTPServer(handler) as smtp:
        build_shop(shop, smtp.port, RECIPIENTS, concurrency=CONCURRENCY, daemon_extra=daemon)
        proc = start(shop, db_url, "run-once", "win_back", "--wait-retries", "0")
        seen = [0]

        def sample() -> None:
            while proc.poll() is None:
                seen[0] = max(seen[0], started_unrecorded(db_url, proc))
                time.sleep(0.005)

        sampler = threading.Thread(target=sample)
        sampler.start()
        proc.wait(timeout=120)
        sampler.join()
        assert proc.returncode == 0, output_of(proc)
    return seen[0], handler


@pytest.mark.parametrize("start_ahead", [0, 6])
def test_marks_run_ahead_by_start_ahead_and_no_further(
        shop: Shop, db_url: str, start_ahead: int, monkeypatch: pytest.MonkeyPatch) -> None:
    most, handler = most_in_doubt(shop, db_url, start_ahead, monkeypatch)
    # Everyone got exactly one message
    assert sorted(handler.recipients()) == sorted(set(handler.recipients()))
    assert handler.count() == RECIPIENTS
    assert states(db_url)["sent"] == RECIPIENTS
    # and the rows in doubt never exceeded the workers plus the marks ahead,
    assert most <= CONCURRENCY + start_ahead
    # while the window was used: with a slow relay it stays full.
    assert most > (CONCURRENCY if start_ahead else CONCURRENCY - 1)


def test_default_window_is_twice_the_workers(
        shop: Shop, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    most, handler = most_in_doubt(shop, db_url, None, monkeypatch)
    assert handler.count() == RECIPIENTS
    assert CONCURRENCY < most <= 2 * CONCURRENCY


def test_a_failed_start_mark_sends_nothing_and_loses_nobody(
        shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the database refuses the first commit that marks rows started
    from dispatcher.outbox.ledger import Ledger, Marks

    real_commit = Ledger.commit
    refused: list[list[int]] = []

    def flaky_commit(self: Ledger, records: Sequence[Any],
                     marks: Sequence[tuple[str, Sequence[int]]] = ()) -> Marks:
        if marks and not refused:
            refused.append([i for _, ids in marks for i in ids])
            raise OperationalError("UPDATE outbox", {}, Exception("disk I/O error"))
        return real_commit(self, records, marks)

    monkeypatch.setattr(Ledger, "commit", flaky_commit)
    handler = SinkHandler()
    with SMTPServer(handler) as smtp:
        build_shop(shop, smtp.port, 30, concurrency=CONCURRENCY)
        # When a run meets the failure
        first = shop.cli("run-once", "win_back", "--wait-retries", "0")
        # Then the rows it could not mark were not sent, and went back to pending
        assert refused and len(refused[0]) >= 1
        sent = set(handler.recipients())
        assert len(sent) == 30 - len(refused[0])
        assert states(shop.db_url())["pending"] == len(refused[0]), first.output
        # and the next run sends them, once
        shop.cli("run-once", "win_back", "--wait-retries", "0")
    assert sorted(handler.recipients()) == sorted(set(handler.recipients()))
    assert handler.count() == 30
    assert states(shop.db_url()) == {"sent": 30}
