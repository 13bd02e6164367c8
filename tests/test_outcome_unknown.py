"""A provider that takes the message and then never answers in time: sent once, 'uncertain'.

Each channel's real library talks to its loopback peer, which accepts the message (the
customer has it) and then answers after the client's timeout, or drops the connection
before answering. Retrying would send the customer a second copy: the row must become
``uncertain``, never be sent again, and show up in ``dispatcher status``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import create_engine, select

from dispatcher.store.schema import outbox

from .daemon_peers import SEGMENTS, SinkHandler, build_shop
from .push_service import PushService
from .push_shop import setup_shop, subscribe
from .shop import Shop
from .smtp_server import SMTPServer
from .telegram_peer import TOKEN, TelegramPeer
from .test_channel_sms import build as build_sms
from .twilio_peer import TwilioPeer

LATE = 2.5  # the peer answers this long after taking the message
TIMEOUT = "  timeout: 1\n  max_attempts: 4\n"  # our client gives up after 1 s


def outbox_states(shop: Shop) -> list[tuple[str, int, str]]:
    engine = create_engine(shop.db_url())
    with engine.connect() as conn:
        found = [(r.status, r.attempts, r.reason or "") for r in conn.execute(select(outbox))]
    engine.dispose()
    return found


def assert_sent_once_and_uncertain(shop: Shop, deliveries: int, channel: str) -> None:
    # Then the customer got exactly one message
    assert deliveries == 1
    # and the row says what we know: it may have been delivered; it is not sent again
    [(state, attempts, reason)] = outbox_states(shop)
    assert (state, attempts) == ("uncertain", 1), reason
    assert "may have been delivered" in reason
    # and the operator sees it
    status = shop.cli("status").output
    assert "uncertain rows (sent or not, unknown; never re-sent): 1" in status
    assert f"via {channel}" in status and "may have been delivered" in status


class KeepsThenDrops(SinkHandler):
    """Takes the whole message, then the connection drops before the 250 goes out."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            self.accepted.extend(envelope.rcpt_tos)
        assert server.transport is not None
        server.transport.abort()
        return "250 Message accepted"


class KeepsThenAnswersLate(SinkHandler):
    """Takes the whole message, then answers 250 after the client's timeout."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            self.accepted.extend(envelope.rcpt_tos)
        await asyncio.sleep(LATE)
        return "250 Message accepted"


@pytest.mark.parametrize("handler_class", [KeepsThenDrops, KeepsThenAnswersLate])
def test_smtp_after_data_no_answer_is_uncertain_and_not_resent(
        shop: Shop, handler_class: type[SinkHandler]) -> None:
    handler = handler_class()
    with SMTPServer(handler) as smtp:
        build_shop(shop, smtp.port, 1, concurrency=1, max_attempts=4,
                   channel_extra="timeout: 1")
        # When the nightly run meets a server that takes the message but never says 250
        shop.cli("run-once", "win_back", "--wait-retries", "15")
    assert_sent_once_and_uncertain(shop, handler.count(), "email")


def test_twilio_answering_past_the_timeout_texts_once(
        shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    # The repro from issue 14: a Twilio that answers after 2.5 s, timeout 1, 4 attempts.
    with TwilioPeer(answer_delay=LATE) as twilio:
        build_sms(shop, twilio, monkeypatch, extra=TIMEOUT, people=[
            {"id": "c1", "name": "Jane Doe", "locale": "en", "phone": "+15550001111",
             "sms_consent": "yes"}])
        shop.cli("run-once", "win_back", "--wait-retries", "20")
        posts = len(twilio.attempts)
    assert posts == 1
    assert_sent_once_and_uncertain(shop, len(twilio.messages), "sms")


def test_bot_api_answering_past_the_timeout_messages_the_chat_once(
        shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    with TelegramPeer(answer_delay=LATE) as telegram:
        shop.write_config(f"""
telegram:
  token: ${{TELEGRAM_BOT_TOKEN}}
  base_url: {telegram.base_url}
  retry_base: 1s
{TIMEOUT}""", SEGMENTS, CAMPAIGN.format(channel="telegram"))
        shop.template("win_back/telegram.html", "<b>We miss you</b>, {{ customer.name }}!")
        one_lapsed_customer(shop, {"telegram_chat_id": "1001", "telegram_consent": "yes"})
        shop.cli("run-once", "win_back", "--wait-retries", "20")
        calls = len(telegram.attempts)
        delivered = len(telegram.sent_to("1001"))
    assert calls == 1
    assert_sent_once_and_uncertain(shop, delivered, "telegram")


def test_push_service_answering_past_the_timeout_pushes_once(
        shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    with PushService(answer_delay=LATE) as push:
        setup_shop(shop, monkeypatch, [{"id": "c1", "name": "Olena"}], channel_extra=TIMEOUT)
        browser = push.subscriber("olena")
        subscribe(shop, "c1", browser)
        shop.cli("run-once", "comeback", "--wait-retries", "20")
        calls = len(push.attempts["olena"])
        delivered = len(push.titles(browser))
    assert calls == 1
    assert_sent_once_and_uncertain(shop, delivered, "push")


CAMPAIGN = """
win_back:
  segment: lapsed
  channels: [{channel}]
  schedule: "0 11 * * *"
"""


def one_lapsed_customer(shop: Shop, address: dict[str, Any]) -> None:
    from .daemon_peers import NOW

    shop.cli("import", "customers", str(shop.csv("customers.csv", [
        {"id": "c1", "name": "Jane", "locale": "en", **address}])))
    shop.cli("import", "orders", str(shop.csv("orders.csv", [
        {"id": "o1", "customer_id": "c1", "total": "10", "currency": "EUR",
         "placed_at": (NOW - timedelta(days=120)).isoformat()}])))

