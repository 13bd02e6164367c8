"""A one-shot run sends a campaign only near its scheduled time, never a year-old date."""

from __future__ import annotations

from datetime import datetime, timedelta

from .shop import Shop
from .smtp_server import SMTPServer
from .test_core_email import NOW, SEGMENTS, build, email_channel


def yearly_on(when: datetime) -> str:
    """A cron firing once a year at ``when``'s wall clock, read in the config's zone
    (Europe/Kyiv, 2-3 h off UTC: well inside the margins these tests use)."""
    return f'"{when.minute} {when.hour} {when.day} {when.month} *"'


def greeting(schedule: str) -> str:
    return f"""
greeting:
  segment: lapsed
  template: win_back
  channels: [email]
  schedule: {schedule}
  once_per: year
"""


def test_yearly_greeting_a_month_after_its_date_is_not_sent(shop: Shop,
                                                           smtp: SMTPServer) -> None:
    build(shop, smtp.port)
    shop.write_config(email_channel(smtp.port), SEGMENTS,
                      greeting(yearly_on(NOW - timedelta(days=30))))
    out = shop.cli("run-once").output
    assert "greeting: not due" in out
    assert smtp.handler.received == []
    # a second pass says the same; nothing was planned that could leak out later
    assert "already planned" not in shop.cli("run-once").output
    assert smtp.handler.received == []


def test_yearly_greeting_on_its_day_is_sent_once(shop: Shop, smtp: SMTPServer) -> None:
    build(shop, smtp.port)
    shop.write_config(email_channel(smtp.port), SEGMENTS,
                      greeting(yearly_on(NOW - timedelta(hours=3))))
    shop.cli("run-once")
    assert sorted(smtp.handler.recipients()) == ["jane@example.com", "olena@example.com"]
    # the nightly pass a few hours later still belongs to the same date: nothing twice
    later = (NOW + timedelta(hours=6)).isoformat()
    assert "not due" not in shop.cli("run-once", "--at", later).output
    assert len(smtp.handler.received) == 2
