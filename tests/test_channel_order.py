"""Several channels in one campaign: the first reachable one wins, one message each;
per-chat pacing; test sends and imports of phone numbers and chat ids."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, select

from dispatcher.store.schema import addresses, outbox, test_sends

from .shop import Shop
from .smtp_server import SMTPServer
from .telegram_peer import TOKEN, TelegramPeer
from .twilio_peer import ACCOUNT_SID, AUTH_TOKEN, TwilioPeer

NOW = datetime.now(UTC).replace(tzinfo=None, microsecond=0)

SEGMENTS = """
lapsed:
  all:
    - orders_count: {gte: 1}
    - last_order_age: {gt: 90d}
"""


@pytest.fixture
def peers() -> Iterator[tuple[TelegramPeer, TwilioPeer, SMTPServer]]:
    with TelegramPeer() as telegram, TwilioPeer() as twilio, SMTPServer() as smtp:
        yield telegram, twilio, smtp


def build(shop: Shop, peers: tuple[TelegramPeer, TwilioPeer, SMTPServer],
          monkeypatch: pytest.MonkeyPatch, people: list[dict[str, str]]) -> None:
    telegram, twilio, smtp = peers
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    shop.write_config(f"""
email:
  host: 127.0.0.1
  port: {smtp.port}
  security: none
  from: "Shop <shop@shop.test>"
sms:
  account_sid: {ACCOUNT_SID}
  auth_token: ${{TWILIO_AUTH_TOKEN}}
  from: "+15005550006"
  base_url: {twilio.url}
telegram:
  token: ${{TELEGRAM_BOT_TOKEN}}
  base_url: {telegram.base_url}
""", SEGMENTS, """
win_back:
  segment: lapsed
  channels: [telegram, sms, email]
flash_sale:
  segment: lapsed
  channels: [telegram, sms, email]
""")
    for campaign in ("win_back", "flash_sale"):
        shop.template(f"{campaign}/telegram.html", "<b>{{ campaign.name }}</b> for you")
        shop.template(f"{campaign}/sms.txt", "{{ campaign.name }} for you")
        shop.template(f"{campaign}/email.subject", "{{ campaign.name }}")
        shop.template(f"{campaign}/email.txt", "{{ campaign.name }} for you")
    shop.cli("import", "customers", str(shop.csv("customers.csv", people)))
    orders = [{"id": f"o{p['id']}", "customer_id": p["id"], "total": "10", "currency": "UAH",
               "placed_at": (NOW - timedelta(days=120)).isoformat()} for p in people]
    shop.cli("import", "orders", str(shop.csv("orders.csv", orders)))


EVERYONE = [
    # reachable everywhere: Telegram first
    {"id": "all", "telegram_chat_id": "1001", "telegram_consent": "yes",
     "phone": "+380501110001", "sms_consent": "yes", "email": "all@example.com",
     "email_consent": "yes"},
    # stopped the bot: falls through to SMS
    {"id": "no_tg", "telegram_chat_id": "1002", "telegram_consent": "no",
     "phone": "+380501110002", "sms_consent": "yes", "email": "no_tg@example.com",
     "email_consent": "yes"},
    # no chat, no phone consent: email
    {"id": "mail", "phone": "+380501110003", "sms_consent": "", "email": "mail@example.com",
     "email_consent": "yes"},
    # nothing consented
    {"id": "none", "email": "none@example.com", "email_consent": "no"},
]


def test_first_reachable_channel_gets_the_only_message(
        shop: Shop, peers: tuple[TelegramPeer, TwilioPeer, SMTPServer],
        monkeypatch: pytest.MonkeyPatch) -> None:
    telegram, twilio, smtp = peers
    build(shop, peers, monkeypatch, EVERYONE)
    plan = shop.cli("plan", "win_back").output
    for channel in ("telegram", "sms", "email"):
        assert re.search(rf"via {channel}\s*│\s*1\b", plan), plan
    shop.cli("run-once", "win_back")
    assert [m["chat_id"] for m in telegram.sent] == ["1001"]
    assert [m["To"] for m in twilio.messages] == ["+380501110002"]
    assert smtp.handler.recipients() == ["mail@example.com"]
    engine = create_engine(shop.db_url())
    with engine.connect() as conn:
        by_customer = {r.customer_id: (r.channel, r.status) for r in conn.execute(select(outbox))}
    assert by_customer == {"all": ("telegram", "sent"), "no_tg": ("sms", "sent"),
                           "mail": ("email", "sent"), "none": (None, "skipped")}


def test_two_messages_to_one_chat_are_a_second_apart(
        shop: Shop, peers: tuple[TelegramPeer, TwilioPeer, SMTPServer],
        monkeypatch: pytest.MonkeyPatch) -> None:
    telegram, _, _ = peers
    build(shop, peers, monkeypatch, EVERYONE[:1])
    shop.cli("run-once", "win_back", "flash_sale")
    first, second = telegram.sent_to("1001")
    assert second["at"] - first["at"] >= 1.0  # Telegram's 1 message/s per chat


def test_test_send_goes_to_the_given_number_and_chat_marked_as_test(
        shop: Shop, peers: tuple[TelegramPeer, TwilioPeer, SMTPServer],
        monkeypatch: pytest.MonkeyPatch) -> None:
    telegram, twilio, _ = peers
    build(shop, peers, monkeypatch, EVERYONE)
    shop.cli("test-send", "win_back", "--customer", "all", "--channel", "sms",
             "--to", "+1 (555) 000-9999")
    shop.cli("test-send", "win_back", "--customer", "all", "--to", "777")
    assert [(m["To"], m["Body"]) for m in twilio.messages] == \
        [("+15550009999", "[TEST] win_back for you")]
    assert [(m["chat_id"], m["text"]) for m in telegram.sent] == \
        [("777", "[TEST] <b>win_back</b> for you")]
    engine = create_engine(shop.db_url())
    with engine.connect() as conn:
        assert conn.execute(select(outbox)).all() == []
        assert len(conn.execute(select(test_sends)).all()) == 2


def test_phone_numbers_and_chat_ids_import_normalized(
        shop: Shop, peers: tuple[TelegramPeer, TwilioPeer, SMTPServer],
        monkeypatch: pytest.MonkeyPatch) -> None:
    build(shop, peers, monkeypatch, [
        {"id": "a", "phone": "+38 (050) 111-22-33", "telegram_chat_id": " 00123 "},
        {"id": "b", "telegram_chat_id": "-1001234567890"},
    ])
    engine = create_engine(shop.db_url())
    with engine.connect() as conn:
        got = sorted((r.customer_id, r.channel, r.address) for r in conn.execute(
            select(addresses)))
    assert got == [("a", "sms", "+380501112233"), ("a", "telegram", "123"),
                   ("b", "telegram", "-1001234567890")]


@pytest.mark.parametrize(("column", "value", "message"), [
    ("telegram_chat_id", "@olena", "telegram_chat_id must be the numeric chat id"),
    ("phone", "050 111 22 33", "phone must be in international format"),
])
def test_bad_addresses_are_located(shop: Shop, column: str, value: str, message: str) -> None:
    shop.write_config("email: {}", SEGMENTS, "c:\n  segment: lapsed\n  channels: [sms]")
    shop.template("c/sms.txt", "hi")
    path = shop.csv("customers.csv", [{"id": "ok", column: ""}, {"id": "bad", column: value}])
    out = shop.cli("import", "customers", str(path), expect=1).output.replace("\n", "")
    assert re.search(rf"customers\.csv:3: {column}: ", out) and message in out, out
