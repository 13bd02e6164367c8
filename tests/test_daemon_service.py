"""``dispatcher run`` as systemd would run it: READY/STOPPING, HTTP, SIGTERM, SIGHUP."""

from __future__ import annotations

import re
import signal
import socket
from collections import Counter
from pathlib import Path

import httpx
import pytest

from .daemon_peers import Output, SinkHandler, build_shop, start, states, wait_until
from .shop import Shop
from .smtp_server import RecordingHandler, SMTPServer
from .support.ports import free_port


def plan_without_sending(shop: Shop) -> None:
    """Plan today's run while paused, so the daemon under test does the sending."""
    shop.cli("pause", "win_back")
    shop.cli("run-once", "win_back", "--wait-retries", "0")
    shop.cli("resume", "win_back")


def test_sigterm_during_sends_exits_0_and_leaves_nothing_sending(
        shop: Shop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notify_path = str(tmp_path / "notify.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(60)
    monkeypatch.setenv("NOTIFY_SOCKET", notify_path)
    monkeypatch.setenv("DISPATCHER_SECRET", "daemon-test-secret")  # real sends + HTTP
    handler = SinkHandler(delay=0.2)  # a slow relay: sends are in flight when SIGTERM comes
    port = free_port()
    with SMTPServer(handler) as smtp:
        build_shop(shop, smtp.port, 200, concurrency=4)
        plan_without_sending(shop)
        proc = start(shop, shop.db_url(), "run", "--port", str(port))
        output = Output(proc)
        try:
            # Given a daemon that told systemd it is ready and is sending
            assert notify.recv(1024).startswith(b"READY=1")
            base = f"http://127.0.0.1:{port}"
            assert httpx.get(f"{base}/healthz").text == "ok"
            wait_until(lambda: handler.count() >= 8, proc=proc)
            metrics = httpx.get(f"{base}/metrics").text
            assert 'dispatcher_messages_total{channel="email",status="sent"}' in metrics
            assert 'dispatcher_outbox_rows{campaign="win_back",status="' in metrics
            depth = re.search(r'dispatcher_queue_depth\{channel="email"\} (\S+)', metrics)
            assert depth is not None and float(depth.group(1)) > 0
            assert "dispatcher_send_seconds_bucket" in metrics
            # When systemd stops it
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0, output.text()
        finally:
            if proc.poll() is None:
                proc.kill()
        assert notify.recv(1024) == b"STOPPING=1"
    # Then every send that started was recorded, and the rest waits for the next start
    final = states(shop.db_url())
    assert "sending" not in final and "uncertain" not in final
    assert final["sent"] == handler.count()
    assert final["sent"] + final["pending"] == 200 and final["pending"] > 0
    assert len(set(handler.recipients())) == handler.count()


def test_sighup_reloads_a_valid_config_and_keeps_the_old_one_when_invalid(
        shop: Shop) -> None:
    with SMTPServer(SinkHandler()) as smtp:
        build_shop(shop, smtp.port, 5)
        proc = start(shop, shop.db_url(), "run", "--no-http")
        output = Output(proc)
        try:
            output.wait_for("dispatcher running")
            good = shop.config_path.read_text()
            # An invalid edit: the error is logged with its place; the daemon keeps going.
            shop.config_path.write_text(good.replace("segment: lapsed", "segment: lapsd"))
            proc.send_signal(signal.SIGHUP)
            output.wait_for("config reload rejected")
            assert "config.yaml:" in output.text() and "unknown segment 'lapsd'" in output.text()
            assert proc.poll() is None
            # A valid edit (a second campaign) is picked up.
            shop.config_path.write_text(good.replace("campaigns:\n", (
                "campaigns:\n  second:\n    segment: lapsed\n    template: win_back\n"
                "    schedule: \"30 9 * * *\"\n"), 1))
            proc.send_signal(signal.SIGHUP)
            output.wait_for("config reloaded")
            assert "scheduled 2 campaign(s): second, win_back" in output.text()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()


@pytest.mark.postgres
def test_two_daemons_on_one_postgresql_share_the_work_and_send_once(
        shop: Shop, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPATCHER_DATABASE_URL", pg_url)
    handler = SinkHandler(delay=0.05)
    with SMTPServer(handler) as smtp:
        # Same config, same every-minute schedule; the last run was two minutes ago,
        # so both daemons fire the latest run at startup (inside its 10 minute grace).
        build_shop(shop, smtp.port, 400, concurrency=4, schedule="* * * * *",
                   campaign_extra="grace: 10m\nonce_per: customer")
        shop.cli("pause", "win_back")
        shop.cli("run-once", "win_back", "--wait-retries", "0",
                 "--at", _minutes_ago(2))
        shop.cli("resume", "win_back")
        first = start(shop, pg_url, "run", "--no-http")
        second = start(shop, pg_url, "run", "--no-http")
        outputs = [Output(first), Output(second)]
        try:
            wait_until(lambda: states(pg_url)["sent"] == 400, timeout=120)
            for proc in (first, second):
                proc.send_signal(signal.SIGTERM)
            codes = [first.wait(timeout=60), second.wait(timeout=60)]
        finally:
            for proc in (first, second):
                if proc.poll() is None:
                    proc.kill()
    texts = [o.text() for o in outputs]
    assert codes == [0, 0], texts
    received = Counter(handler.recipients())
    assert len(received) == 400 and set(received.values()) == {1}
    sent_by = [_sent_in(text) for text in texts]
    assert all(n > 0 for n in sent_by), sent_by  # both did part of the work
    assert sum(sent_by) == 400


def _minutes_ago(minutes: int) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) - timedelta(minutes=minutes)).replace(tzinfo=None).isoformat()


def _sent_in(text: str) -> int:
    import re

    return sum(int(n) for n in re.findall(r"sender: \{'sent': (\d+)", text))


def test_cron_fires_on_the_minute_while_running_and_sends_once(shop: Shop) -> None:
    """No catch-up involved: the daemon starts with nothing planned and APScheduler's
    job for "* * * * *" plans the next minute's run, which is sent once."""
    from datetime import UTC, datetime

    from sqlalchemy import create_engine, select

    from dispatcher.store.schema import runs

    handler = SinkHandler()
    with SMTPServer(handler) as smtp:
        build_shop(shop, smtp.port, 20, concurrency=4, schedule="* * * * *",
                   campaign_extra="once_per: customer")
        started = datetime.now(UTC).replace(tzinfo=None)
        proc = start(shop, shop.db_url(), "run", "--no-http")
        output = Output(proc)
        try:
            # at most a minute to the next fire, plus the send
            assert wait_until(lambda: handler.count() == 20, timeout=100, proc=proc), \
                output.text()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0, output.text()
        finally:
            if proc.poll() is None:
                proc.kill()
    engine = create_engine(shop.db_url())
    with engine.connect() as conn:
        fired = conn.execute(select(runs.c.scheduled_for, runs.c.status)).all()
    engine.dispose()
    assert len(fired) >= 1
    first = min(when for when, _ in fired)
    # a minute boundary after the daemon started (not a catch-up of an earlier one)
    assert first > started and first.second == 0 and first.microsecond == 0
    received = Counter(handler.recipients())
    assert len(received) == 20 and set(received.values()) == {1}


def test_refuses_to_serve_forgeable_links_for_real_sends(
        shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real recipients + HTTP + no DISPATCHER_SECRET: exit 2 before anything runs."""
    monkeypatch.delenv("DISPATCHER_SECRET", raising=False)
    with SMTPServer(SinkHandler()) as smtp:
        build_shop(shop, smtp.port, 5)
        result = shop.cli("run", "--port", str(free_port()), expect=2)
    assert "DISPATCHER_SECRET is not set" in result.output
    assert "email" in result.output
    assert states(shop.db_url()) == Counter()  # nothing planned


def test_serve_answers_the_links_of_a_one_shot_send_and_sends_nothing(
        shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    """The nightly-timer deployment: `run-once` sends, `serve` answers the unsubscribe
    link in the message (and never sends anything itself)."""
    from urllib.parse import urlsplit

    monkeypatch.setenv("DISPATCHER_SECRET", "serve-test-secret")
    handler = RecordingHandler()
    port = free_port()
    with SMTPServer(handler) as smtp:
        build_shop(shop, smtp.port, 6, campaign_extra="once_per: run")
        shop.config_path.write_text(shop.config_path.read_text(encoding="utf-8").replace(
            "http://127.0.0.1:8080", f"http://127.0.0.1:{port}"), encoding="utf-8")
        shop.cli("run-once", "win_back", "--wait-retries", "0")
        assert len(handler.received) == 6
        link = re.search(r"<(http[^>]+)>", handler.received[0].message["List-Unsubscribe"])
        assert link is not None and link.group(1).startswith(f"http://127.0.0.1:{port}/u/")
        # a campaign planned while paused: `serve` must leave it alone
        plan_without_sending_next_day(shop)
        proc = start(shop, shop.db_url(), "serve", "--port", str(port))
        output = Output(proc)
        try:
            base = f"http://127.0.0.1:{port}"
            assert wait_until(lambda: _healthy(base), timeout=60, proc=proc), output.text()
            response = httpx.post(f"{base}{urlsplit(link.group(1)).path}",
                                  content=b"List-Unsubscribe=One-Click",
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
            assert response.status_code == 200
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0, output.text()
        finally:
            if proc.poll() is None:
                proc.kill()
    assert len(handler.received) == 6  # serve sent nothing
    final = states(shop.db_url())
    assert final["sent"] == 6 and final["pending"] > 0
    assert _suppressed_reasons(shop.db_url()) == ["opted_out"]  # the one-click worked


def plan_without_sending_next_day(shop: Shop) -> None:
    from datetime import UTC, datetime, timedelta

    tomorrow = (datetime.now(UTC) + timedelta(days=1)).replace(tzinfo=None).isoformat()
    shop.cli("pause", "win_back")
    shop.cli("run-once", "win_back", "--wait-retries", "0", "--at", tomorrow)
    shop.cli("resume", "win_back")


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).text == "ok"
    except httpx.HTTPError:
        return False


def _suppressed_reasons(db_url: str) -> list[str]:
    from sqlalchemy import create_engine, select

    from dispatcher.store.schema import suppressions

    engine = create_engine(db_url)
    with engine.connect() as conn:
        reasons = [r.reason for r in conn.execute(select(suppressions.c.reason))]
    engine.dispose()
    return reasons
