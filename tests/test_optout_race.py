"""The last word is the customer's: one-click opt-outs racing a running daemon.

The daemon sends to a slow relay (50 ms a message) and serves the unsubscribe links.
While it sends, the test opts out customers whose rows it has claimed but not yet
started, through the RFC 8058 one-click POST, and notes when each 200 came back.

In the daemon's own process (``dispatcher run`` serves the link), no transmission to an
address may start after its opt-out's 200: the relay notes when each MAIL FROM
arrives, and none of an opted-out address's may come after the 200. Through another
process (``dispatcher serve`` beside the daemon) the guarantee is weaker: a message that
reaches the relay after the 200 must have been marked started before it (the mark
re-reads consent), so at most the lane's start window can still go out.
"""

from __future__ import annotations

import random
import signal
import socket
import time
from dataclasses import dataclass
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
from .smtp_server import SMTPServer
from .support.ports import free_port

RECIPIENTS = 320


class TimedSink(SinkHandler):
    """Notes when each transmission started: the MAIL FROM of its transaction."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mail_from_at: dict[int, float] = {}  # id(session) -> its last MAIL FROM
        self.arrivals: list[tuple[str, float]] = []  # (recipient, its MAIL FROM)

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        at = time.time()
        with self.lock:
            self.mail_from_at[id(session)] = at
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            at = self.mail_from_at[id(session)]
            self.arrivals.extend((rcpt, at) for rcpt in envelope.rcpt_tos)
        return await super().handle_DATA(server, session, envelope)


@dataclass
class Race:
    opted: dict[str, tuple[float, float]]  # address -> (POST sent, 200 received)
    arrivals: list[tuple[str, float]]
    rows: dict[str, Any]  # address -> its outbox row

    def started(self, address: str) -> list[float]:
        """When each transmission to ``address`` started (its MAIL FROM)."""
        return [at for rcpt, at in self.arrivals if rcpt == address]

    def late(self) -> dict[str, float]:
        """Opted-out addresses whose transmission started after their 200: how long after."""
        return {address: at - answered for address, (_posted, answered) in self.opted.items()
                for at in self.started(address) if at > answered}


def race(shop: Shop, db_url: str, *, via_other_process: bool) -> Race:
    """Run the daemon against a slow relay and opt out claimed, unstarted customers
    through the daemon's own HTTP app, or through ``dispatcher serve`` beside it."""
    handler = TimedSink(delay=0.05)
    port, other_port = free_port(), free_port()
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
        other = None
        if via_other_process:
            other = start(shop, db_url, "serve", "--port", str(other_port))
            wait_until(lambda: answers(f"http://127.0.0.1:{other_port}"), proc=other)
        proc = start(shop, db_url, "run", "--port", str(port))
        output = Output(proc)
        opted: dict[str, tuple[float, float]] = {}
        try:
            wait_until(lambda: handler.count() > 0, proc=proc)
            target = f"http://127.0.0.1:{other_port}" if via_other_process else base
            with httpx.Client(base_url=target, timeout=30) as client:
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
            for running in (proc, other):
                if running is not None and running.poll() is None:
                    running.kill()
    result = Race(opted, list(handler.arrivals), {r.address: r for r in outbox_rows(db_url)})
    # The race was real: the opt-outs came while the daemon sent, most of them in time
    # to stop their message, and every customer was either sent to or skipped.
    skipped = sum(1 for a in opted if result.rows[a].status == "skipped")
    assert len(opted) >= 10, f"only {len(opted)} opt-outs raced the sends"
    assert skipped >= max(5, len(opted) // 3), (skipped, len(opted))
    assert states(db_url)["sent"] + skipped == RECIPIENTS
    for address in opted:
        row = result.rows[address]
        arrived = result.started(address)
        assert len(arrived) <= 1
        if not arrived:
            # Then an opted-out customer's row is a recorded skip, not a failure
            assert (row.status, row.reason) in {("skipped", "opted_out"),
                                                ("skipped", "suppressed")}, row
        else:
            assert row.status == "sent"
    after_mark = sum(1 for a in opted if result.rows[a].status == "skipped"
                     and result.rows[a].send_started_at is not None)
    print(f"{len(opted)} opt-outs raced the sends: {skipped} stopped ({after_mark} after "
          f"their start mark), {len(result.late())} transmissions started after the 200 "
          f"(at most {max(result.late().values(), default=0):.3f}s after)")
    return result


def test_no_transmission_starts_after_an_in_process_opt_outs_200(
        shop: Shop, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPATCHER_DATABASE_URL", db_url)
    monkeypatch.setenv("DISPATCHER_SECRET", "race-test-secret")
    result = race(shop, db_url, via_other_process=False)
    assert result.late() == {}, "transmissions started after the opt-out's 200 (seconds)"


def test_an_opt_out_from_another_process_stops_what_is_not_yet_marked(
        shop: Shop, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPATCHER_DATABASE_URL", db_url)
    monkeypatch.setenv("DISPATCHER_SECRET", "race-test-secret")
    result = race(shop, db_url, via_other_process=True)
    for address, _after in result.late().items():
        # Another process's opt-out cannot reach the daemon's lanes: a message that
        # started after the 200 was marked started before the opt-out committed (the
        # mark re-reads consent), one of the lane's start window.
        answered = result.opted[address][1]
        started = result.rows[address].send_started_at
        assert started is not None, "the start mark of a sent row is kept"
        assert started.replace(tzinfo=UTC).timestamp() < answered, (
            f"{address}: started {started} after its opt-out's 200")


def answers(base: str) -> bool:
    try:
        httpx.get(base + "/healthz", timeout=1)
    except httpx.HTTPError:
        return False
    return True


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

