"""The core path: config -> import -> plan -> run-once -> a real SMTP server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, func, select

from dispatcher.store.schema import outbox

from .shop import Shop
from .smtp_server import SMTPServer, email_channel

NOW = datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def ago(**kw: float) -> str:
    return (NOW - timedelta(**kw)).isoformat()


SEGMENTS = """
lapsed:
  all:
    - orders_count: {gte: 1}
    - last_order_age: {gt: 90d}
"""

CAMPAIGNS = """
win_back:
  segment: lapsed
  channels: [email]
  schedule: "0 11 * * *"
"""


def build(shop: Shop, port: int) -> None:
    shop.write_config(email_channel(port), SEGMENTS, CAMPAIGNS)
    shop.copy_templates("win_back")
    customers = shop.csv("customers.csv", [
        # lapsed, consented, Ukrainian: gets the uk template
        {"id": "c1", "name": "Олена Коваленко", "locale": "uk", "email": "olena@example.com",
         "email_consent": "yes", "timezone": "Europe/Kyiv"},
        # lapsed, consented, English
        {"id": "c2", "name": "Jane Doe", "locale": "en", "email": "jane@example.com",
         "email_consent": "yes"},
        # lapsed but no consent
        {"id": "c3", "name": "No Consent", "email": "nc@example.com", "email_consent": ""},
        # lapsed but opted out
        {"id": "c4", "name": "Opted Out", "email": "out@example.com", "email_consent": "no"},
        # recent buyer: not in the segment
        {"id": "c5", "name": "Recent Buyer", "email": "recent@example.com",
         "email_consent": "yes"},
        # lapsed, no email address at all
        {"id": "c6", "name": "No Address"},
    ])
    orders = shop.csv("orders.csv", [
        {"id": "o1", "customer_id": "c1", "placed_at": ago(days=200), "total": "120.50",
         "currency": "UAH"},
        {"id": "o2", "customer_id": "c1", "placed_at": ago(days=120), "total": "80",
         "currency": "UAH"},
        {"id": "o3", "customer_id": "c2", "placed_at": ago(days=100), "total": "15",
         "currency": "EUR"},
        {"id": "o4", "customer_id": "c3", "placed_at": ago(days=95), "total": "15",
         "currency": "EUR"},
        {"id": "o5", "customer_id": "c4", "placed_at": ago(days=300), "total": "15",
         "currency": "EUR"},
        {"id": "o6", "customer_id": "c5", "placed_at": ago(days=3), "total": "15",
         "currency": "EUR"},
        {"id": "o7", "customer_id": "c6", "placed_at": ago(days=150), "total": "15",
         "currency": "EUR"},
    ])
    shop.cli("import", "customers", str(customers))
    shop.cli("import", "orders", str(orders))


def test_plan_shows_funnel_and_sends_nothing(shop: Shop, smtp: SMTPServer) -> None:
    build(shop, smtp.port)
    out = shop.cli("plan", "win_back").output
    assert "segment" in out and "5" in out
    assert "no address" in out and "no consent" in out and "opted out" in out
    assert "= to send" in out
    assert smtp.handler.received == []


def test_run_once_delivers_exactly_the_planned_messages(shop: Shop, smtp: SMTPServer) -> None:
    build(shop, smtp.port)
    shop.cli("run-once", "win_back")
    assert sorted(smtp.handler.recipients()) == ["jane@example.com", "olena@example.com"]
    by_rcpt = {r.rcpt_tos[0]: r.message for r in smtp.handler.received}
    olena = by_rcpt["olena@example.com"]
    text = olena.get_body(("plain",)).get_content()
    html = olena.get_body(("html",)).get_content()
    assert "Олена" in text and "Олена" in html
    assert "Давно вас не бачили" in text  # the uk locale folder was used
    assert "Олена" in str(olena["To"])
    assert olena["Message-ID"].startswith("<dispatcher.")
    assert olena["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    jane = by_rcpt["jane@example.com"]
    assert "Hi Jane" in jane.get_body(("plain",)).get_content()

    engine = create_engine(shop.db_url())
    with engine.connect() as conn:
        rows = {r.customer_id: r for r in conn.execute(select(outbox))}
    assert rows["c1"].status == "sent" and rows["c2"].status == "sent"
    assert rows["c3"].status == "skipped" and rows["c3"].reason == "no_consent"
    assert rows["c4"].reason == "opted_out"
    assert rows["c6"].reason == "no_address"
    assert "c5" not in rows


def test_second_run_for_same_scheduled_time_sends_nothing(shop: Shop, smtp: SMTPServer) -> None:
    build(shop, smtp.port)
    shop.cli("run-once", "win_back")
    assert len(smtp.handler.received) == 2
    second = shop.cli("run-once", "win_back").output
    assert "already planned" in second
    assert len(smtp.handler.received) == 2
    engine = create_engine(shop.db_url())
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar() == 5


def test_next_day_run_does_not_resend_once_per_customer(shop: Shop, smtp: SMTPServer) -> None:
    build(shop, smtp.port)
    shop.cli("run-once", "win_back")
    tomorrow = (NOW + timedelta(days=1)).isoformat()
    shop.cli("run-once", "win_back", "--at", tomorrow)
    assert len(smtp.handler.received) == 2


@pytest.mark.parametrize("locale", ["uk", "en"])
def test_preview_and_test_send(shop: Shop, smtp: SMTPServer, locale: str) -> None:
    build(shop, smtp.port)
    customer = "c1" if locale == "uk" else "c2"
    out = shop.cli("preview", "win_back", "--customer", customer).output
    assert ("Олена" if locale == "uk" else "Jane") in out
    assert smtp.handler.received == []
    shop.cli("test-send", "win_back", "--customer", customer, "--to", "qa@shop.test")
    assert smtp.handler.recipients() == ["qa@shop.test"]
    message = smtp.handler.received[0].message
    assert message["Subject"].startswith("[TEST]")
    assert message["X-Dispatcher-Test"] == "yes"
    # a test send is not a campaign send: the real run still sends to everyone
    shop.cli("run-once", "win_back")
    assert sorted(smtp.handler.recipients()) == ["jane@example.com", "olena@example.com",
                                                 "qa@shop.test"]


def test_run_once_warns_when_real_links_use_the_development_key(
        shop: Shop, smtp: SMTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    build(shop, smtp.port)
    monkeypatch.delenv("DISPATCHER_SECRET", raising=False)
    assert "DISPATCHER_SECRET is not set" in shop.cli("run-once", "win_back").output
    monkeypatch.setenv("DISPATCHER_SECRET", "a-real-secret")
    assert "DISPATCHER_SECRET" not in shop.cli("run-once", "win_back").output
