"""One campaign's broken template must not stop a running daemon's other campaigns.

The broken template passes ``validate`` (the sample customers have no ``orders_left``
attribute, so it divides by the default) but raises ZeroDivisionError for the real
customers, whose imported ``attr.orders_left`` is 0: the failure appears only at send
time, inside the running daemon. (Editing a template on disk under a running daemon
is not the way to break it: the daemon renders what it validated at start.)
"""

from __future__ import annotations

import signal

import pytest
from sqlalchemy import create_engine, select

from dispatcher.store.schema import outbox

from .daemon_peers import Output, SinkHandler, address, build_shop, start, wait_until
from .shop import Shop
from .smtp_server import SMTPServer

CUSTOMERS = 24
BROKEN_TEXT = ("Hi {{ customer.first_name }}, {{ 100 // customer.attributes.get('orders_left', 1)"
               "|int }}% of your reward is waiting.\n\nUnsubscribe: {{ unsubscribe_url }}\n")


def with_broken_campaign(shop: Shop, port: int) -> None:
    """win_back, and a campaign ``reward`` whose template raises for every real customer."""
    build_shop(shop, port, CUSTOMERS, concurrency=4)
    shop.config_path.write_text(shop.config_path.read_text().replace("campaigns:\n", (
        "campaigns:\n  reward:\n    segment: lapsed\n    channels: [email]\n"
        "    schedule: \"0 11 * * *\"\n    pause_min_attempts: 5\n"), 1))
    (shop.folder / "templates" / "reward").mkdir()
    for part in ("email.subject", "email.txt"):
        src = shop.folder / "templates" / "win_back" / part
        (shop.folder / "templates" / "reward" / part).write_text(
            src.read_text() if part == "email.subject" else BROKEN_TEXT)
    shop.cli("import", "customers", str(shop.csv("points.csv", [
        {"id": f"c{i}", "email": address(i), "email_consent": "yes",
         "attr.orders_left": "0"} for i in range(CUSTOMERS)])))
    # (validate renders with its sample customers without a problem)
    assert "OK: 2 campaigns" in shop.cli("validate").output


def test_preview_names_the_template_line_that_fails_for_this_customer(shop: Shop) -> None:
    with_broken_campaign(shop, 9)
    result = shop.cli("preview", "reward", "--customer", "c1", expect=2)
    assert "reward/email.txt:1: ZeroDivisionError" in result.output
    assert "Traceback" not in result.output


def test_a_template_that_raises_pauses_its_campaign_and_the_others_keep_sending(
        shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    handler = SinkHandler()
    with SMTPServer(handler) as smtp:
        # Given a second campaign whose template raises for every real customer
        with_broken_campaign(shop, smtp.port)
        for name in ("win_back", "reward"):
            shop.cli("pause", name)
        shop.cli("run-once", "--wait-retries", "0")  # plans both, sends nothing
        for name in ("win_back", "reward"):
            shop.cli("resume", name)

        # When a running daemon sends them
        proc = start(shop, shop.db_url(), "run", "--no-http")
        output = Output(proc)
        try:
            # Then the healthy campaign is sent to everyone
            wait_until(lambda: sent("win_back", shop) == CUSTOMERS, timeout=90, proc=proc)
            # and the broken one is paused, with its cause, in status and in the log
            wait_until(lambda: "PAUSED reward" in shop.cli("status").output, proc=proc)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0, output.text()
        finally:
            if proc.poll() is None:
                proc.kill()
    log = output.text()
    assert "sender loop failed" not in log, log
    assert "ZeroDivisionError" in log and "reward" in log
    status = shop.cli("status").output
    assert "by error_rate" in status and "ZeroDivisionError" in status
    assert "reward/email.txt" in status
    # nobody got a half-rendered reward message, and nobody is written off for our mistake
    assert len(handler.recipients()) == CUSTOMERS
    reward = rows_of("reward", shop)
    assert {r.status for r in reward} == {"pending"}
    assert sent("reward", shop) == 0


def rows_of(campaign: str, shop: Shop) -> list:  # type: ignore[type-arg]
    engine = create_engine(shop.db_url())
    with engine.connect() as conn:
        found = conn.execute(select(outbox).where(outbox.c.campaign == campaign)).all()
    engine.dispose()
    return list(found)


def sent(campaign: str, shop: Shop) -> int:
    return sum(1 for r in rows_of(campaign, shop) if r.status == "sent")
