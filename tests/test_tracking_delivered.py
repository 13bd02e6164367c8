"""One ``delivered`` column per message, from what each channel's real peer answered.

SMTP 250, a push service's 201 and Telegram's ok mean delivered at send; a hard bounce,
a 410 and a blocked bot mean not delivered. An SMS is unknown until Twilio's status
callback says delivered or undelivered. The report's funnel counts the column.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from .push_service import PushService
from .push_shop import setup_shop as push_setup
from .push_shop import subscribe
from .shop import Shop
from .smtp_server import SMTPServer
from .telegram_peer import TelegramPeer
from .test_channel_sms import JANE, OLENA
from .test_channel_sms import build as sms_build
from .test_channel_telegram import build as telegram_build
from .test_twilio_webhooks import Hooks
from .tracking_peers import campaign, email_setup, outbox_of
from .twilio_peer import TwilioPeer


def _delivered(shop: Shop) -> dict[str, tuple[str, bool | None]]:
    return {customer: (row.status, row.delivered) for customer, row in outbox_of(shop).items()}


def _funnel(shop: Shop, name: str) -> dict[str, object]:
    data = json.loads(shop.cli("report", name, "--format", "json").output)
    [arm] = data["funnel"]
    return arm  # type: ignore[no-any-return]


def test_smtp_250_is_delivered_and_a_hard_bounce_is_not(shop: Shop) -> None:
    with SMTPServer() as smtp:
        smtp.handler.rcpt_reply = lambda to: "550 5.1.1 no such mailbox" \
            if to == "olena@example.com" else None
        email_setup(shop, smtp.port, campaign())
        shop.cli("run-once", "news")
    assert _delivered(shop) == {"c1": ("failed", False), "c2": ("sent", True)}
    funnel = _funnel(shop, "news")
    assert (funnel["planned"], funnel["sent"], funnel["delivered"]) == (2, 1, 1)


@pytest.fixture
def twilio() -> Iterator[TwilioPeer]:
    with TwilioPeer() as peer:
        yield peer


def test_an_sms_is_delivered_when_twilio_says_so(shop: Shop, twilio: TwilioPeer,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    sms_build(shop, twilio, monkeypatch)
    shop.cli("run-once", "win_back")
    # Twilio accepted both: sent, delivery still unknown
    rows = {r.customer_id: r for r in outbox_of(shop).values() if r.campaign == "win_back"}
    assert {c: (r.status, r.delivered) for c, r in rows.items()} == \
        {"c1": ("sent", None), "c2": ("sent", None)}
    assert _funnel(shop, "win_back")["delivered"] == 0
    hooks = Hooks(shop)
    [olena] = twilio.sent_to(OLENA)
    [jane] = twilio.sent_to(JANE)
    for sid, status in ((olena["sid"], "sent"), (olena["sid"], "delivered"),
                        (jane["sid"], "undelivered"), (olena["sid"], "sent")):
        response = hooks.post("/twilio/status", {"MessageSid": sid, "MessageStatus": status,
                                                 "AccountSid": "AC1", "ErrorCode": "30003"
                                                 if status == "undelivered" else ""})
        assert response.status_code == 204
    rows = {r.customer_id: r for r in outbox_of(shop).values() if r.campaign == "win_back"}
    # a late "sent" does not undo "delivered"
    assert {c: r.delivered for c, r in rows.items()} == {"c1": True, "c2": False}
    funnel = _funnel(shop, "win_back")
    assert (funnel["sent"], funnel["delivered"]) == (2, 1)


def test_push_201_is_delivered_and_410_is_not(shop: Shop, monkeypatch: pytest.MonkeyPatch
                                              ) -> None:
    with PushService() as push:
        push_setup(shop, monkeypatch, [{"id": "c1", "name": "Olena"},
                                       {"id": "c2", "name": "Jane"}])
        olena, jane = push.subscriber("olena"), push.subscriber("jane")
        subscribe(shop, "c1", olena)
        subscribe(shop, "c2", jane)
        push.reply(jane, 410)
        shop.cli("run-once", "comeback")
    assert _delivered(shop) == {"c1": ("sent", True), "c2": ("failed", False)}


def test_telegram_ok_is_delivered_and_a_blocked_bot_is_not(
        shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    with TelegramPeer() as telegram:
        telegram_build(shop, telegram, monkeypatch)
        telegram.refuse("1001", 403)
        shop.cli("run-once", "win_back")
    assert _delivered(shop) == {"c1": ("failed", False), "c2": ("sent", True)}
