"""At-most-once across crashes: SIGKILL the dispatcher at random moments, restart it,
and count what a real SMTP server received.

The recipient count defaults to 1,500 to keep the suite quick; set
DISPATCHER_KILL_RECIPIENTS=20000 for the full-size run.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter

import pytest

from dispatcher.store.schema import outbox

from .daemon_peers import (
    SinkHandler,
    address,
    build_shop,
    kill,
    rows,
    run,
    start,
    started_unrecorded,
    states,
    wait_until,
)
from .shop import Shop
from .smtp_server import SMTPServer

RECIPIENTS = int(os.environ.get("DISPATCHER_KILL_RECIPIENTS", "1500"))
CONCURRENCY = 8
# Rows marked started at any instant: the workers' plus as many marked ahead (the
# default daemon.start_ahead); tests/test_sender_window.py checks the window itself.
IN_DOUBT = 2 * CONCURRENCY
KILLS = 4


def test_sigkill_at_random_moments_sends_nobody_twice(
        shop: Shop, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPATCHER_DATABASE_URL", db_url)
    handler = SinkHandler()
    rng = random.Random(20261123)
    with SMTPServer(handler) as smtp:
        build_shop(shop, smtp.port, RECIPIENTS, concurrency=CONCURRENCY)
        kills = 0
        for attempt in range(KILLS):
            # Given a dispatcher sending (the one-shot first, then the daemon, alternating)
            command = (["run-once", "win_back", "--wait-retries", "0"] if attempt % 2 == 0
                       else ["run", "--no-http"])
            proc = start(shop, db_url, *command)
            target = handler.count() + rng.randint(20, RECIPIENTS // (KILLS + 2))
            # When it is killed without warning after some messages went out
            wait_until(lambda target=target: handler.count() >= target, proc=proc,
                       timeout=max(120, RECIPIENTS / 20))
            if proc.poll() is None:
                kill(proc)
                kills += 1
            # Then no more rows are in doubt than the start window holds
            in_doubt = started_unrecorded(db_url, proc)
            print(f"kill {attempt + 1} ({command[0]}): {in_doubt} row(s) in doubt")
            assert in_doubt <= IN_DOUBT
        assert kills >= 2, "the dispatcher finished before it could be killed"

        # And restarts finish the job once the dead workers' leases have expired
        for _ in range(10):
            time.sleep(2.5)  # the lease in the test config is 2s
            run(shop, db_url, "run-once", "win_back", "--wait-retries", "0")
            current = states(db_url)
            if not current["pending"] and not current["sending"]:
                break

    received = Counter(handler.recipients())
    duplicates = {a: n for a, n in received.items() if n > 1}
    assert duplicates == {}
    uncertain = rows(db_url, outbox.c.status == "uncertain")
    in_doubt = {address(int(r.customer_id[1:])) for r in uncertain}
    everyone = {address(i) for i in range(RECIPIENTS)}
    # Nobody silently lost: received, or recorded as uncertain.
    assert set(received) | in_doubt == everyone
    assert len(uncertain) <= kills * IN_DOUBT
    final = states(db_url)
    assert final["sent"] + final["uncertain"] == RECIPIENTS
    assert final["sent"] >= len(received) - len(uncertain)
    # The operator can see which rows are in doubt.
    status = shop.cli("status").output
    assert f"uncertain rows (sent or not, unknown; never re-sent): {len(uncertain)}" in status
    for row in uncertain[:3]:
        assert f"outbox {row.id} win_back customer {row.customer_id}" in status
