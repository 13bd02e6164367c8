"""run-once says what it did not send, why, and when to run again."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from dispatcher.clock import clock_at

from .policy_peers import campaign, outbox_rows, setup_shop
from .shop import Shop
from .smtp_server import RecordingHandler, SMTPServer

QUIET = 'quiet_hours:\n  allowed: "09:00-21:00"\n'
# 02:30 in Kyiv, 19:30 the evening before in New York
NIGHT_IN_KYIV = datetime(2026, 12, 1, 0, 30)
CUSTOMERS = [
    {"id": f"c{i}", "name": f"Kyiv {i}", "email": f"kyiv{i}@example.com",
     "email_consent": "yes", "timezone": "Europe/Kyiv"} for i in range(20)
] + [
    {"id": "c-ny", "name": "Jane", "email": "jane@example.com", "email_consent": "yes",
     "timezone": "America/New_York"},
    {"id": "c-tokyo", "name": "Yuki", "email": "yuki@example.jp", "email_consent": "yes",
     "timezone": "Asia/Tokyo"},
]


def one_line(text: str) -> str:
    return " ".join(text.split())


def test_quiet_hours_wait_is_reported_with_the_first_time(shop: Shop,
                                                          smtp: SMTPServer) -> None:
    setup_shop(shop, smtp.port, campaign("win_back"), QUIET, customers=CUSTOMERS)
    # When the pass runs at 02:30 in Kyiv (Tokyo 09:30, New York 19:30)
    out = one_line(shop.cli("run-once", clock=clock_at(NIGHT_IN_KYIV)).output)
    # Then New York and Tokyo get theirs now, and it says why the other 20 did not
    assert sorted(smtp.handler.recipients()) == ["jane@example.com", "yuki@example.jp"]
    assert "sent 2," in out
    assert ("20 messages wait for the customer's quiet hours (the first at 09:00 "
            "Europe/Kyiv); run again after that time.") in out
    # A pass after that time sends them and has nothing left to explain
    out = one_line(shop.cli("run-once", clock=clock_at(datetime(2026, 12, 1, 7, 5))).output)
    assert len(smtp.handler.received) == 22
    assert "wait" not in out


def test_the_first_waiting_customer_elsewhere_shows_both_clocks(shop: Shop,
                                                                smtp: SMTPServer) -> None:
    setup_shop(shop, smtp.port, campaign("win_back"), QUIET, customers=CUSTOMERS[-2:])
    # 23:00 in Kyiv (21:00 UTC): Tokyo is at 06:00, New York at 16:00
    out = one_line(shop.cli("run-once", clock=clock_at(datetime(2026, 12, 1, 21, 0))).output)
    assert smtp.handler.recipients() == ["jane@example.com"]
    assert ("1 message waits for the customer's quiet hours (the first at 09:00 Asia/Tokyo "
            "= 2026-12-02 02:00 Europe/Kyiv); run again after that time.") in out


def test_a_temporary_failure_is_reported_with_its_retry_time(shop: Shop) -> None:
    handler = RecordingHandler(rcpt_reply=lambda rcpt: "451 4.3.0 try later"
                               if rcpt.startswith("kyiv0@") else None)
    with SMTPServer(handler) as smtp:
        setup_shop(shop, smtp.port, campaign("win_back"), QUIET, customers=CUSTOMERS[:3])
        noon = datetime(2026, 12, 1, 10, 0)  # 12:00 in Kyiv
        out = one_line(shop.cli("run-once", "--wait-retries", "0",
                                clock=clock_at(noon)).output)
    assert sorted(handler.recipients()) == ["kyiv1@example.com", "kyiv2@example.com"]
    [retry] = [row for row in outbox_rows(shop) if row.status == "pending"]
    assert retry.not_before > noon
    first = retry.not_before + timedelta(hours=2)  # Kyiv is UTC+2 in December
    match = re.search(r"1 message waits to be retried after a temporary failure \(the first "
                      r"at (\d\d:\d\d) Europe/Kyiv\); run again after that time\.", out)
    assert match, out
    assert match.group(1) == f"{first:%H:%M}"


def test_a_run_planned_ahead_with_at_is_reported_as_planned_for_later(
        shop: Shop, smtp: SMTPServer) -> None:
    setup_shop(shop, smtp.port, campaign("win_back"), QUIET, customers=CUSTOMERS[:3])
    # Planning the run of two days ahead (--at) sends nothing before that time
    out = one_line(shop.cli("run-once", "--at", "2026-12-03T10:00:00",
                            clock=clock_at(datetime(2026, 12, 1, 10, 0))).output)
    assert smtp.handler.received == []
    assert ("3 messages are planned for later (the first at 2026-12-03 12:00 Europe/Kyiv); "
            "run again after that time.") in out


def test_a_paused_campaign_is_reported(shop: Shop, smtp: SMTPServer) -> None:
    setup_shop(shop, smtp.port, campaign("win_back"), QUIET, customers=CUSTOMERS[:3])
    noon = clock_at(datetime(2026, 12, 1, 10, 0))
    shop.cli("pause", "win_back", clock=noon)
    out = one_line(shop.cli("run-once", clock=noon).output)
    assert smtp.handler.received == []
    assert "3 messages wait because the campaign is paused" in out
