"""Retries, backoff and the error-rate pause, against a real SMTP server."""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from dispatcher.send.sender import backoff
from dispatcher.store.schema import outbox

from .daemon_peers import SinkHandler, address, build_shop, rows, states
from .shop import Shop
from .smtp_server import SMTPServer


def test_backoff_is_capped_exponential_with_jitter_and_honours_retry_after() -> None:
    base, cap = timedelta(seconds=30), timedelta(minutes=30)
    for attempt, ceiling in [(1, 30), (2, 60), (3, 120), (6, 960), (7, 1800), (20, 1800)]:
        delays = {backoff(attempt, base, cap).total_seconds() for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jittered: workers do not retry in lockstep
    assert backoff(3, base, cap, retry_after=7.5) == timedelta(seconds=7.5)


def test_temporary_451_for_a_tenth_of_recipients_all_delivered_once(
        shop: Shop, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPATCHER_DATABASE_URL", db_url)
    refused: set[str] = set()
    lock = threading.Lock()

    def first_time_451(rcpt: str) -> str | None:
        # Every tenth recipient is refused on its first attempt, then accepted.
        number = int(rcpt.split("@")[0].removeprefix("customer"))
        with lock:
            if number % 10 == 0 and rcpt not in refused:
                refused.add(rcpt)
                return "451 4.3.0 Mailbox busy, try again later"
        return None

    handler = SinkHandler(rcpt_reply=first_time_451)
    with SMTPServer(handler) as smtp:
        build_shop(shop, smtp.port, 100)
        out = shop.cli("run-once", "win_back", "--wait-retries", "60").output
    received = Counter(handler.recipients())
    assert set(received) == {address(i) for i in range(100)}
    assert set(received.values()) == {1}
    assert len(refused) == 10
    assert states(db_url) == Counter({"sent": 100})
    retried = rows(db_url, outbox.c.attempts == 2)
    assert {r.customer_id for r in retried} == {f"c{i}" for i in range(0, 100, 10)}
    assert "sent 100" in out


def test_permanent_failures_give_up_with_the_last_reason(
        shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    handler = SinkHandler(rcpt_reply=lambda rcpt: "452 4.2.2 Mailbox full"
                          if rcpt == address(3) else None)
    with SMTPServer(handler) as smtp:
        build_shop(shop, smtp.port, 40, max_attempts=2)
        shop.cli("run-once", "win_back", "--wait-retries", "30")
    failed = rows(shop.db_url(), outbox.c.status == "failed")
    assert [r.customer_id for r in failed] == ["c3"]
    assert failed[0].attempts == 2
    assert failed[0].reason == "gave up after 2 attempts: temporary SMTP failure 452 4.2.2"
    assert address(3) not in handler.recipients() and len(handler.recipients()) == 39
    status = shop.cli("status").output
    assert "gave up after 2 attempts" in status


class Authenticator:
    """Accepts one username/password once ``fixed`` is set; counts the connections that
    tried to log in (aiosmtplib tries each mechanism the server offers)."""

    def __init__(self) -> None:
        self.fixed = False
        self.peers: set[Any] = set()

    @property
    def attempts(self) -> int:
        return len(self.peers)

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str,
                 auth_data: Any) -> AuthResult:
        self.peers.add(session.peer)
        ok = (self.fixed and isinstance(auth_data, LoginPassword)
              and auth_data.password == b"right-password")
        return AuthResult(success=ok, handled=False)


def test_broken_smtp_password_pauses_the_campaign_and_resume_continues(
        shop: Shop, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPATCHER_DATABASE_URL", db_url)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong-password")
    auth = Authenticator()
    handler = SinkHandler()
    with SMTPServer(handler, authenticator=auth, auth_require_tls=False) as smtp:
        build_shop(shop, smtp.port, 300, concurrency=4,
                   channel_extra="username: shop\npassword: ${TEST_SMTP_PASSWORD}",
                   campaign_extra="pause_on_error_rate: 0.5\npause_min_attempts: 10")
        # Given a wrong password, when the campaign runs
        shop.cli("run-once", "win_back", "--wait-retries", "0")
        # Then it pauses after a handful of attempts instead of burning the list
        assert handler.recipients() == []
        assert 10 <= auth.attempts <= 10 + 2 * 4
        assert "failed" not in states(db_url)  # nobody is written off for our mistake
        status = shop.cli("status").output
        assert "PAUSED win_back" in status and "by error_rate" in status
        assert "SMTP authentication failed" in status
        # and stays paused: another run sends nothing and tries nothing
        before = auth.attempts
        shop.cli("run-once", "win_back", "--wait-retries", "0")
        assert auth.attempts == before

        # (as if the failures' backoff were long: an hour from now)
        backed_off = push_retries_back(db_url, timedelta(hours=1))
        assert backed_off > 0
        # When the password is fixed and the campaign resumed
        monkeypatch.setenv("TEST_SMTP_PASSWORD", "right-password")
        auth.fixed = True
        shop.cli("resume", "win_back")
        # (no waiting: resuming makes the backed-off failures due at once)
        shop.cli("run-once", "win_back", "--wait-retries", "0")
    # Then everyone gets the message exactly once
    received = Counter(handler.recipients())
    assert set(received) == {address(i) for i in range(300)}
    assert set(received.values()) == {1}
    assert states(db_url) == Counter({"sent": 300})
    assert "paused campaigns: none" in shop.cli("status").output


def test_operator_pause_holds_sending_and_resume_does_not_resend(
        shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    handler = SinkHandler()
    with SMTPServer(handler) as smtp:
        build_shop(shop, smtp.port, 30)
        shop.cli("pause", "win_back", "--reason", "checking the offer")
        shop.cli("run-once", "win_back", "--wait-retries", "0")
        assert handler.recipients() == []
        assert states(shop.db_url()) == Counter({"pending": 30})
        assert "by operator: checking the offer" in shop.cli("status").output
        report = json.loads(shop.cli("status", "--json").output)
        assert [(p["campaign"], p["by"]) for p in report["paused"]] == [("win_back", "operator")]
        assert report["outbox"] == {"win_back": {"pending": 30}}
        shop.cli("resume", "win_back")
        shop.cli("run-once", "win_back", "--wait-retries", "0")
        shop.cli("run-once", "win_back", "--wait-retries", "0")
    assert sorted(handler.recipients()) == sorted(address(i) for i in range(30))
    unknown = shop.cli("pause", "nope", expect=2).output
    assert "unknown campaign 'nope'" in unknown


def push_retries_back(db_url: str, by: timedelta) -> int:
    """Move every failed-and-waiting row's next attempt ``by`` into the future."""
    from datetime import UTC, datetime

    from sqlalchemy import create_engine, update

    from dispatcher.store.schema import outbox

    engine = create_engine(db_url)
    later = datetime.now(UTC).replace(tzinfo=None) + by
    with engine.begin() as conn:
        moved = conn.execute(update(outbox).where(
            outbox.c.status == "pending", outbox.c.attempts > 0).values(not_before=later))
    engine.dispose()
    return int(moved.rowcount or 0)
