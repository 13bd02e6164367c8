"""Helpers for the daemon tests: a shop of N lapsed customers, a slow or failing SMTP
sink, the dispatcher as a real subprocess, and outbox inspection."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import create_engine, func, select

from dispatcher.store.schema import outbox

from .shop import Shop
from .smtp_server import RecordingHandler

_started = itertools.count()
DISPATCHER = str(Path(sys.executable).with_name("dispatcher"))
NOW = datetime.now(UTC).replace(tzinfo=None, microsecond=0)

SEGMENTS = """
lapsed:
  all:
    - orders_count: {gte: 1}
    - last_order_age: {gt: 90d}
"""


class SinkHandler(RecordingHandler):
    """Counts recipients of accepted messages (without parsing them: thousands arrive),
    taking ``delay`` seconds per message like a relay under load."""

    def __init__(self, delay: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delay = delay
        self.accepted: list[str] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            self.accepted.extend(envelope.rcpt_tos)
        return "250 Message accepted"

    def recipients(self) -> list[str]:
        with self.lock:
            return list(self.accepted)

    def count(self) -> int:
        with self.lock:
            return len(self.accepted)


def address(i: int) -> str:
    return f"customer{i}@example.com"


def build_shop(shop: Shop, port: int, count: int, *, concurrency: int = 8,
               campaign_extra: str = "", channel_extra: str = "", daemon_extra: str = "",
               schedule: str = "0 11 * * *", max_attempts: int = 6) -> None:
    """``count`` consented, lapsed customers; one win_back campaign by email."""
    channel_extra = textwrap.indent(channel_extra, "  ")
    campaign_extra = textwrap.indent(campaign_extra, "  ")
    channels = f"""
email:
  host: 127.0.0.1
  port: {port}
  security: none
  from: "Test Shop <shop@shop.test>"
  concurrency: {concurrency}
  pool_size: {concurrency}
  retry_base: 1s
  retry_cap: 2s
  max_attempts: {max_attempts}
{channel_extra}
"""
    campaigns = f"""
win_back:
  segment: lapsed
  channels: [email]
  schedule: "{schedule}"
{campaign_extra}
"""
    shop.write_config(channels, SEGMENTS, campaigns)
    with open(shop.config_path, "a", encoding="utf-8") as fh:
        fh.write(f"daemon:\n  lease: 2s\n  poll_interval: 1s\n  shutdown_timeout: 20s\n"
                 f"{daemon_extra}")
    shop.copy_templates("win_back")
    placed = (NOW - timedelta(days=120)).isoformat()
    shop.csv("customers.csv", [{"id": f"c{i}", "name": f"Customer {i}", "locale": "en",
                                "email": address(i), "email_consent": "yes"}
                               for i in range(count)])
    shop.csv("orders.csv", [{"id": f"o{i}", "customer_id": f"c{i}", "placed_at": placed,
                             "total": "10", "currency": "EUR"} for i in range(count)])
    shop.cli("import", "customers", str(shop.folder / "customers.csv"))
    shop.cli("import", "orders", str(shop.folder / "orders.csv"))


def start(shop: Shop, db_url: str, *args: str) -> subprocess.Popen[bytes]:
    """Start ``dispatcher ARGS`` as its own process against the shop's config."""
    env = {**os.environ, "DISPATCHER_DATABASE_URL": db_url}
    env.pop("DISPATCHER_CONFIG", None)
    # Output goes to a file, not a pipe: a pipe nobody reads would block the process.
    log_path = shop.folder / f"dispatcher-{next(_started)}.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen([DISPATCHER, *args, "--config", str(shop.config_path)],
                                env=env, cwd=shop.folder, stdout=log_file,
                                stderr=subprocess.STDOUT)
    proc.log_path = log_path  # type: ignore[attr-defined]
    return proc


def output_of(proc: subprocess.Popen[bytes]) -> str:
    return Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]


def run(shop: Shop, db_url: str, *args: str, timeout: float = 300) -> str:
    proc = start(shop, db_url, *args)
    proc.wait(timeout=timeout)
    text = output_of(proc)
    assert proc.returncode == 0, text
    return text


def wait_until(condition: Callable[[], bool], timeout: float = 120,
               proc: subprocess.Popen[bytes] | None = None) -> bool:
    """Poll ``condition``; False if ``proc`` exits first. Never a timing assertion."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc is not None and proc.poll() is not None:
            return condition()
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


def kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def states(db_url: str) -> Counter[str]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return Counter(dict(conn.execute(  # type: ignore[arg-type]
                select(outbox.c.status, func.count()).group_by(outbox.c.status)).all()))
    finally:
        engine.dispose()


def rows(db_url: str, *where: Any) -> list[Any]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(outbox).where(*where)))
    finally:
        engine.dispose()


def started_unrecorded(db_url: str, proc: subprocess.Popen[bytes]) -> int:
    """Rows ``proc`` handed to the provider without writing the outcome (uncertain-to-be)."""
    return len(rows(db_url, outbox.c.status == "sending", outbox.c.send_started_at.is_not(None),
                    outbox.c.leased_by == f"{socket.gethostname()}:{proc.pid}"))


class Output:
    """The output of a process started by ``start`` (read from its log file)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc

    def text(self) -> str:
        return output_of(self.proc)

    def wait_for(self, needle: str, timeout: float = 60) -> None:
        wait_until(lambda: needle in self.text(), timeout)
