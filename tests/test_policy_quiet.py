"""Quiet hours in each customer's own time zone, across DST, and campaign deadlines."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from dispatcher.app import load, open_channels
from dispatcher.clock import clock_at
from dispatcher.config.policy_models import QuietHoursConfig
from dispatcher.plan.planner import plan_run
from dispatcher.policy.quiet import Slot, next_allowed
from dispatcher.send.sender import Sender

from .policy_peers import campaign, engine_of, outbox_rows, setup_shop
from .shop import Shop
from .smtp_server import SMTPServer

UTC = ZoneInfo("UTC")
WINDOW = QuietHoursConfig.model_validate({"allowed": "09:00-21:00",
                                          "channels": {"sms": "09:00-20:00"}})
CUSTOMERS = [
    {"id": "c1", "name": "Yuki", "email": "yuki@example.jp", "email_consent": "yes",
     "timezone": "Asia/Tokyo"},
    {"id": "c2", "name": "Jane", "email": "jane@example.com", "email_consent": "yes",
     "timezone": "America/New_York"},
    {"id": "c3", "name": "Olena", "email": "olena@example.com", "email_consent": "yes"},
]


def local(moment: datetime, zone: str) -> datetime:
    return moment.replace(tzinfo=UTC).astimezone(ZoneInfo(zone))


@pytest.mark.parametrize(("now", "zone", "window", "expected"), [
    # Spring forward in New York (2026-03-08, 02:00 EST -> 03:00 EDT): 09:00 EDT is 13:00 UTC
    ("2026-03-08T06:00", "America/New_York", "email", "2026-03-08T13:00"),
    # The same instant is 15:00 in Tokyo: inside the window, goes now
    ("2026-03-08T06:00", "Asia/Tokyo", "email", "2026-03-08T06:00"),
    # Fall back (2026-11-01, 02:00 EDT -> 01:00 EST): 09:00 EST is 14:00 UTC
    ("2026-11-01T05:30", "America/New_York", "email", "2026-11-01T14:00"),
    # After the window closes it waits for tomorrow morning (Tokyo 22:30 -> 09:00)
    ("2026-03-08T13:30", "Asia/Tokyo", "email", "2026-03-09T00:00"),
    # SMS has its own, shorter window: 20:30 in Kyiv waits; email at 20:30 does not
    ("2026-06-01T17:30", "Europe/Kyiv", "sms", "2026-06-02T06:00"),
    ("2026-06-01T17:30", "Europe/Kyiv", "email", "2026-06-01T17:30"),
])
def test_next_allowed_minute(now: str, zone: str, window: str, expected: str) -> None:
    slot = next_allowed(datetime.fromisoformat(now), zone, WINDOW.window_for(window))
    assert slot.not_before == datetime.fromisoformat(expected)
    assert slot.deferred == (now != expected)


def plan_at(shop: Shop, campaign_name: str, moment: datetime) -> None:
    loaded = load(str(shop.config_path))
    plan_run(engine_of(shop), loaded, campaign_name, moment, moment)


def send_at(shop: Shop, moment: datetime) -> None:
    """Run the sender as if the clock showed ``moment`` (UTC)."""
    loaded = load(str(shop.config_path))

    async def drain() -> None:
        async with open_channels(loaded, ["email"]) as channels:
            await Sender(engine_of(shop), loaded, channels, clock=lambda: moment).drain()

    asyncio.run(drain())


def test_customers_in_tokyo_and_new_york_planned_at_the_same_utc_time(
        shop: Shop, smtp: SMTPServer) -> None:
    setup_shop(shop, smtp.port, campaign("win_back"),
               'quiet_hours:\n  allowed: "09:00-21:00"\n', customers=CUSTOMERS)
    # Given the run is planned at 06:00 UTC on the day New York springs forward
    # (Tokyo 15:00, New York 01:00 EST, Kyiv 08:00)
    at = datetime(2026, 3, 8, 6, 0)
    out = shop.cli("plan", "win_back", "--at", at.isoformat()).output
    assert "deferred (quiet hours)" in out
    plan_at(shop, "win_back", at)
    rows = {r.customer_id: r for r in outbox_rows(shop)}
    # Then each is due at an allowed time of their own day
    assert local(rows["c1"].not_before, "Asia/Tokyo").strftime("%H:%M") == "15:00"
    assert rows["c2"].not_before == datetime(2026, 3, 8, 13, 0)  # 09:00 EDT, not 14:00 UTC
    assert local(rows["c2"].not_before, "America/New_York").strftime("%H:%M %Z") \
        == "09:00 EDT"
    assert local(rows["c3"].not_before, "Europe/Kyiv").strftime("%H:%M") == "09:00"
    # And the sender delivers each one only when its time comes
    send_at(shop, at)
    assert smtp.handler.recipients() == ["yuki@example.jp"]
    send_at(shop, datetime(2026, 3, 8, 12, 59))
    assert sorted(smtp.handler.recipients()) == ["olena@example.com", "yuki@example.jp"]
    send_at(shop, datetime(2026, 3, 8, 13, 0))
    assert sorted(smtp.handler.recipients()) == ["jane@example.com", "olena@example.com",
                                                 "yuki@example.jp"]


def test_wait_past_the_deadline_is_a_skip(shop: Shop, smtp: SMTPServer) -> None:
    # The offer ends at 12:00 Kyiv time (10:00 UTC) on the day
    setup_shop(shop, smtp.port, campaign("win_back", deadline="2026-03-08T12:00:00"),
               'quiet_hours:\n  allowed: "09:00-21:00"\n', customers=CUSTOMERS)
    at = datetime(2026, 3, 8, 6, 0)
    out = shop.cli("plan", "win_back", "--at", at.isoformat()).output
    assert "quiet hours expired" in out
    plan_at(shop, "win_back", at)
    rows = {r.customer_id: r for r in outbox_rows(shop)}
    assert (rows["c2"].status, rows["c2"].reason) == ("skipped", "quiet_hours_expired")
    assert rows["c1"].status == rows["c3"].status == "pending"
    # Planned after the deadline, the whole campaign is over: nobody is planned
    plan_at(shop, "win_back", datetime(2026, 3, 9, 6, 0))
    assert [r for r in outbox_rows(shop) if r.run_id != 1] == []


@pytest.mark.parametrize("key", ["expires_at", "deadline"])
def test_one_expiry_with_one_boundary(shop: Shop, smtp: SMTPServer, key: str) -> None:
    # Given an offer that ends at 12:00 Kyiv time (10:00 UTC), under either name
    # (planned every minute, so each moment below is a run of its own)
    setup_shop(shop, smtp.port, campaign("win_back", schedule='"* * * * *"',
                                         **{key: "2026-03-08T12:00:00"}),
               customers=CUSTOMERS)
    # A second before its end the campaign is planned; at its end nothing is
    plan_at(shop, "win_back", datetime(2026, 3, 8, 9, 59, 59))
    plan_at(shop, "win_back", datetime(2026, 3, 8, 10, 0, 0))
    rows = outbox_rows(shop)
    assert rows and {(r.run_id, r.status) for r in rows} == {(1, "pending")}


def test_both_names_of_the_expiry_are_refused_together(shop: Shop, smtp: SMTPServer) -> None:
    shop.write_config("email:\n  transport: file\n", "everyone:\n  id: {is_null: false}\n",
                      campaign("win_back", expires_at="2026-03-08T12:00:00",
                               deadline="2026-03-09T12:00:00"))
    shop.copy_templates("win_back")
    result = shop.cli("validate", expect=2)
    assert "campaigns.win_back.deadline" in result.output


def test_bad_window_is_rejected_with_the_accepted_form() -> None:
    with pytest.raises(ValueError, match="allowed hours like '09:00-21:00'"):
        QuietHoursConfig.model_validate({"allowed": "9am-9pm"})


def test_row_coming_due_at_night_waits_for_the_morning(shop: Shop, smtp: SMTPServer) -> None:
    # flash ends at 06:00 Kyiv time on the 9th (04:00 UTC); win_back has no deadline
    setup_shop(shop, smtp.port, campaign("win_back") + campaign(
        "flash", deadline="2026-03-09T06:00:00"),
        'quiet_hours:\n  allowed: "09:00-21:00"\n', customers=CUSTOMERS[1:2])
    # Given both are planned at noon in New York (16:00 UTC), inside the window
    plan_at(shop, "win_back", datetime(2026, 3, 8, 16, 0))
    plan_at(shop, "flash", datetime(2026, 3, 8, 16, 0))
    # When the sender only gets to them at 23:00 there (03:00 UTC)
    send_at(shop, datetime(2026, 3, 9, 3, 0))
    # Then nothing goes out at night: win_back waits for 09:00, flash would miss its end
    assert smtp.handler.received == []
    rows = {r.campaign: r for r in outbox_rows(shop)}
    assert (rows["win_back"].status, rows["win_back"].not_before,
            rows["win_back"].attempts) == ("pending", datetime(2026, 3, 9, 13, 0), 0)
    assert (rows["flash"].status, rows["flash"].reason) == ("skipped", "quiet_hours_expired")
    send_at(shop, datetime(2026, 3, 9, 13, 0))
    assert smtp.handler.recipients() == ["jane@example.com"]


def test_window_opening_inside_the_spring_gap_opens_at_the_jump() -> None:
    # Kyiv, 2026-03-29: clocks jump from 03:00 EET to 04:00 EEST, so 03:30 never shows;
    # at 02:00 EET (00:00 UTC) the first allowed minute of "03:30-21:00" is 04:00 EEST.
    window = QuietHoursConfig.model_validate({"allowed": "03:30-21:00"}).allowed
    slot = next_allowed(datetime(2026, 3, 29, 0, 0), "Europe/Kyiv", window)
    assert local(slot.not_before, "Europe/Kyiv").strftime("%H:%M %Z") == "04:00 EEST"
    assert slot == Slot(datetime(2026, 3, 29, 1, 0), True)
    # New York, 2026-03-08, 02:00 EST -> 03:00 EDT: "02:30-21:00" opens at 03:00 EDT
    window = QuietHoursConfig.model_validate({"allowed": "02:30-21:00"}).allowed
    slot = next_allowed(datetime(2026, 3, 8, 5, 0), "America/New_York", window)
    assert local(slot.not_before, "America/New_York").strftime("%H:%M %Z") == "03:00 EDT"


def test_run_once_in_the_spring_gap_sends_at_the_first_allowed_minute(
        shop: Shop, smtp: SMTPServer) -> None:
    # Given a Kyiv customer and allowed hours 03:30-21:00
    setup_shop(shop, smtp.port, campaign("win_back"),
               'quiet_hours:\n  allowed: "03:30-21:00"\n', customers=CUSTOMERS[2:])
    # When run-once runs at 02:00 EET on the night the clocks jump 03:00 -> 04:00
    out = shop.cli("run-once", clock=clock_at(datetime(2026, 3, 29, 0, 0))).output
    # Then the message waits for 04:00 EEST (01:00 UTC), not 03:30 EET read as 04:30 EEST
    [row] = outbox_rows(shop)
    assert (row.status, row.not_before) == ("pending", datetime(2026, 3, 29, 1, 0))
    assert "1 message waits for the customer's quiet hours (the first at 04:00 " \
           "Europe/Kyiv); run again after that time." in " ".join(out.split())
    assert smtp.handler.received == []
    # A pass at 03:58 EET still sends nothing; the one at 04:00 EEST sends it
    shop.cli("run-once", "--wait-retries", "0", clock=clock_at(datetime(2026, 3, 29, 0, 58)))
    assert smtp.handler.received == []
    out = shop.cli("run-once", clock=clock_at(datetime(2026, 3, 29, 1, 0))).output
    assert smtp.handler.recipients() == ["olena@example.com"]
    assert "wait" not in out.split("uncertain")[-1]
