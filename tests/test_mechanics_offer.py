"""Time-limited offers: the deadline in the customer's words; nothing after it."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from zoneinfo import ZoneInfo

from dispatcher.app import open_channels, open_store
from dispatcher.config.load import load_config
from dispatcher.plan.planner import plan_run
from dispatcher.send.sender import Sender

from .mechanics_peers import NOW, at, email_channel, outbox_rows, received, tick
from .shop import Shop
from .smtp_server import SMTPServer

SEGMENTS = """
reachable:
  consent: email
"""


def build(shop: Shop, smtp: SMTPServer, expires_local: str) -> None:
    shop.write_config(email_channel(smtp.port), SEGMENTS, f"""
flash_sale:
  segment: reachable
  schedule: "0 * * * *"
  expires_at: "{expires_local}"
""")
    shop.template("flash_sale/email.subject", "Only until {{ expires_at }}")
    shop.template("flash_sale/email.txt", "Hurry: until {{ expires_at }}")
    shop.template("flash_sale/uk/email.subject", "Лише до {{ expires_at }}")
    shop.template("flash_sale/uk/email.txt", "Поспішайте: до {{ expires_at }}")
    shop.cli("import", "customers", str(shop.jsonl("customers.jsonl", [
        {"id": "kyiv", "name": "Олена", "locale": "uk", "timezone": "Europe/Kyiv",
         "email": "olena@example.com", "email_consent": "yes"},
        {"id": "ny", "name": "Jane", "locale": "en", "timezone": "America/New_York",
         "email": "jane@example.com", "email_consent": "yes"},
    ])))


def test_deadline_in_each_customers_locale_and_time_zone(shop: Shop, smtp: SMTPServer) -> None:
    build(shop, smtp, "2099-12-31 23:00")  # Kyiv time (the config's zone)
    tick(shop, "flash_sale", at(hours=1))
    tick(shop, "flash_sale", NOW)  # the next hourly run: once per customer, nothing new
    assert len(received(smtp)) == 2
    subjects = dict(received(smtp))
    assert subjects["olena@example.com"] == "Лише до 31 грудня 2099 р., 23:00"
    # 23:00 in Kyiv is 16:00 in New York
    assert subjects["jane@example.com"] == "Only until December 31, 2099, 4:00 PM"


def test_expired_offer_plans_and_sends_nothing(shop: Shop, smtp: SMTPServer) -> None:
    kyiv_now = NOW.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo("Europe/Kyiv"))
    build(shop, smtp, (kyiv_now - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M"))
    out = tick(shop, "flash_sale", NOW).output
    assert received(smtp) == [] and outbox_rows(shop) == []
    assert "flash_sale" in out


def test_offer_expiring_between_plan_and_send_is_skipped(shop: Shop, smtp: SMTPServer) -> None:
    kyiv_now = NOW.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo("Europe/Kyiv"))
    # Given: the offer ends 30 minutes ago; the run was planned an hour ago, in time
    build(shop, smtp, (kyiv_now - timedelta(minutes=30)).strftime("%Y-%m-%d %H:%M"))
    loaded = load_config(shop.config_path)
    engine = open_store(loaded)
    plan = plan_run(engine, loaded, "flash_sale", at(hours=1), at(hours=1))
    assert plan.funnel.to_send == 2

    # When: the sender gets to the rows now (say it was down for an hour)
    async def send() -> None:
        async with open_channels(loaded) as channels:
            await Sender(engine, loaded, channels).drain()

    asyncio.run(send())
    # Then: nothing went out; each row says why
    assert received(smtp) == []
    assert {(r.status, r.reason) for r in outbox_rows(shop)} == {("skipped", "expired")}


def test_quiet_hours_wait_past_the_deadline_becomes_a_skip(shop: Shop, smtp: SMTPServer) -> None:
    kyiv = ZoneInfo("Europe/Kyiv")
    kyiv_now = NOW.replace(tzinfo=ZoneInfo("UTC")).astimezone(kyiv)
    build(shop, smtp, (kyiv_now + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M"))
    # Given: messages may go out only in a window opening 3 h from now (Kyiv time,
    # where both customers now live), but the offer ends in 1 h
    opens = kyiv_now + timedelta(hours=3)
    window = f"{opens:%H}:00-{opens + timedelta(hours=1):%H}:00"
    text = shop.config_path.read_text()
    shop.config_path.write_text(text.replace(
        "campaigns:", f'quiet_hours:\n  allowed: "{window}"\ncampaigns:', 1))
    shop.cli("import", "customers", str(shop.jsonl("moved.jsonl", [
        {"id": "ny", "name": "Jane", "locale": "en", "timezone": "Europe/Kyiv",
         "email": "jane@example.com", "email_consent": "yes"}])))
    # When: the hourly run plans the offer
    tick(shop, "flash_sale", NOW)
    # Then: the wait would end after the deadline, so nobody is sent it, and it says why
    assert received(smtp) == []
    assert {(r.status, r.reason) for r in outbox_rows(shop)} == {
        ("skipped", "quiet_hours_expired")}
