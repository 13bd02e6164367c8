"""The last word is the customer's: one-click opt-outs racing a running daemon.

The daemon sends to a slow relay (50 ms a message) and serves the unsubscribe links.
While it sends, the test opts out customers whose rows it has claimed but not yet
started, through the RFC 8058 one-click POST, and notes when each 200 came back. An
opt-out committed before a message's start mark must stop that message: any message
the relay receives after its address's 200 must have been started before that 200
(it was already on its way), and nothing else.
"""

from __future__ import annotations

import random
import signal
import socket
import time
from datetime import UTC
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import create_engine, select

from dispatcher.links import LinkClaims, link_urls
from dispatcher.store.schema import addresses, outbox

from .daemon_peers import Output, SinkHandler, build_shop, start, states, wait_until
from .shop import Shop
from .smtp_server import SMTPServer, free_port

RECIPIENTS = 320


class TimedSink(SinkHandler):
    """Notes when each message arrived (before the relay's own 50 ms of work)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.arrivals: list[tuple[str, float]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            self.arrivals.extend((rcpt, time.time()) for rcpt in envelope.rcpt_tos)
        return await super().handle_DATA(server, session, envelope)


def test_an_opt_out_before_the_start_mark_stops_the_message(
        shop: Shop, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPATCHER_DATABASE_URL", db_url)
    monkeypatch.setenv("DISPATCHER_SECRET", "race-test-secret")
    handler = TimedSink(delay=0.05)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    rng = random.Random(14)
    with SMTPServer(handler) as smtp:
        build_shop(shop, smtp.port, RECIPIENTS, concurrency=4)
        shop.config_path.write_text(shop.config_path.read_text(encoding="utf-8").replace(
            "http://127.0.0.1:8080", base), encoding="utf-8")
        shop.cli("pause", "win_back")
        shop.cli("run-once", "win_back", "--wait-retries", "0")  # plans, sends nothing
        shop.cli("resume", "win_back")
        links = unsubscribe_paths(db_url, base)
        proc = start(shop, db_url, "run", "--port", str(port))
        output = Output(proc)
        opted: dict[str, tuple[float, float]] = {}  # address -> (POST sent, 200 received)
        try:
            wait_until(lambda: handler.count() > 0, proc=proc)
            with httpx.Client(base_url=base, timeout=30) as client:
                # While the daemon sends, opt out customers it has claimed but not started
                while not finished(db_url):
                    waiting = [r for r in claimed_unstarted(db_url, proc.pid)
                               if r.address not in opted]
                    if not waiting:
                        time.sleep(0.005)
                        continue
                    row = rng.choice(waiting)
                    posted = time.time()
                    response = client.post(links[row.customer_id],
                                           content=b"List-Unsubscribe=One-Click",
                                           headers={"Content-Type":
                                                    "application/x-www-form-urlencoded"})
                    assert response.status_code == 200, response.text
                    opted[row.address] = (posted, time.time())
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0, output.text()
        finally:
            if proc.poll() is None:
                proc.kill()

    assert len(opted) >= 10, f"only {len(opted)} opt-outs raced the sends"
    by_address = {r.address: r for r in outbox_rows(db_url)}
    late = []
    for address, (_posted, answered) in opted.items():
        row = by_address[address]
        arrived = [at for rcpt, at in handler.arrivals if rcpt == address]
        assert len(arrived) <= 1
        if not arrived:
            # Then an opted-out customer's row is a recorded skip, not a failure
            assert (row.status, row.reason) in {("skipped", "opted_out"),
                                                ("skipped", "suppressed")}, row
            continue
        assert row.status == "sent"
        if arrived[0] > answered:
            late.append(arrived[0] - answered)
            # A message that arrived after the 200 was already started when it came:
            # its start mark committed before the opt-out did.
            started = row.send_started_at
            assert started is not None, "the start mark of a sent row is kept"
            assert started.replace(tzinfo=UTC).timestamp() < answered, (
                f"{address}: started {started} after its opt-out's 200")
    skipped = sum(1 for a in opted if by_address[a].status == "skipped")
    # (the race was real: most opt-outs came before their message was started)
    assert skipped >= max(5, len(opted) // 3), (skipped, len(opted))
    print(f"{len(opted)} opt-outs raced the sends: {skipped} stopped, {len(late)} already "
          f"started (at most {max(late, default=0):.3f}s after the 200)")
    assert states(db_url)["sent"] + skipped == RECIPIENTS


def unsubscribe_paths(db_url: str, base: str) -> dict[str, str]:
    """Each customer's one-click path, as the message's List-Unsubscribe header has it."""
    engine = create_engine(db_url)
    with engine.connect() as conn:
        found = conn.execute(select(addresses.c.customer_id, addresses.c.address_hash)
                             .where(addresses.c.channel == "email")).all()
    engine.dispose()
    return {cid: urlsplit(link_urls(base, LinkClaims(cid, "email", digest, "win_back"))[0]).path
            for cid, digest in found}


def claimed_unstarted(db_url: str, pid: int) -> list[Any]:
    engine = create_engine(db_url)
    worker = f"{socket.gethostname()}:{pid}"
    with engine.connect() as conn:
        found = conn.execute(
            select(outbox.c.customer_id, addresses.c.address)
            .join(addresses, addresses.c.id == outbox.c.address_id)
            .where(outbox.c.status == "sending", outbox.c.leased_by == worker,
                   outbox.c.send_started_at.is_(None))).all()
    engine.dispose()
    return list(found)


def outbox_rows(db_url: str) -> list[Any]:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        found = conn.execute(select(outbox, addresses.c.address)
                             .join(addresses, addresses.c.id == outbox.c.address_id)).all()
    engine.dispose()
    return list(found)


def finished(db_url: str) -> bool:
    current = states(db_url)
    return not current["pending"] and not current["sending"]

