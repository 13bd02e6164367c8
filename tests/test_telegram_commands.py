"""/stop and /start to the shop's bot, through getUpdates on a loopback Bot API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from dispatcher.app import load, open_store
from dispatcher.daemon.telegram_bot import command_for, poll_commands
from dispatcher.store.db import address_hash
from dispatcher.store.schema import addresses, suppressions
from dispatcher.web.app import WebState

from .shop import Shop
from .telegram_peer import TelegramPeer
from .test_channel_telegram import build


@pytest.fixture
def telegram() -> Iterator[TelegramPeer]:
    with TelegramPeer() as peer:
        yield peer


def message(chat: int, text: str, chat_type: str = "private") -> dict[str, Any]:
    return {"update_id": 1, "message": {"message_id": 5, "date": 0, "text": text,
                                        "chat": {"id": chat, "type": chat_type}}}


def member(chat: int, status: str, chat_type: str = "private") -> dict[str, Any]:
    return {"update_id": 2, "my_chat_member": {
        "chat": {"id": chat, "type": chat_type}, "date": 0,
        "from": {"id": chat, "is_bot": False, "first_name": "U"},
        "old_chat_member": {"status": "member"}, "new_chat_member": {"status": status}}}


@pytest.mark.parametrize(("update", "expected"), [
    (message(1001, "/stop"), ("1001", False, "telegram:/stop")),
    (message(1001, "/STOP@shop_bot please"), ("1001", False, "telegram:/stop")),
    (message(1001, "/unsubscribe"), ("1001", False, "telegram:/unsubscribe")),
    (message(1001, "/start"), ("1001", True, "telegram:/start")),
    (message(1001, "/start promo-code"), ("1001", True, "telegram:/start")),
    (member(1001, "kicked"), ("1001", False, "telegram:blocked")),
    (message(1001, "stop"), None),  # not a command: a person talking
    (message(1001, "/help"), None),
    (member(-100555, "kicked", "supergroup"), None),  # removed from a group: not a person
    (member(1001, "member"), None),
    ({"update_id": 3, "edited_message": {"text": "/stop"}}, None),
])
def test_command_for_is_a_pure_table(update: dict[str, Any], expected: Any) -> None:
    change = command_for(update)
    got = None if change is None else (change.address, change.opt_in, change.source)
    assert got == expected


def run_bot_until(shop: Shop, done: Any) -> None:
    """Run the daemon's polling service until ``done()`` holds (or 15 s pass)."""
    loaded = load(str(shop.config_path))
    state = WebState(loaded, open_store(loaded), {})

    async def drive() -> None:
        stop = asyncio.Event()
        service = asyncio.create_task(poll_commands(state, stop))
        deadline = time.monotonic() + 15
        while not done() and time.monotonic() < deadline and not service.done():
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(service, 10)

    asyncio.run(drive())
    state.engine.dispose()


def consent(shop: Shop, chat: str) -> tuple[str | None, str | None, Any]:
    engine = open_store(load(str(shop.config_path)))
    with engine.connect() as conn:
        row = conn.execute(select(addresses.c.consent, addresses.c.consent_source).where(
            addresses.c.address_hash == address_hash("telegram", chat))).one()
        entry = conn.execute(select(suppressions.c.reason).where(
            suppressions.c.address_hash == address_hash("telegram", chat))).scalar()
    return row.consent, row.consent_source, entry


def test_stop_then_start_through_the_bot(shop: Shop, telegram: TelegramPeer,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    build(shop, telegram, monkeypatch)
    # Given Olena sends /stop to the shop's bot
    telegram.user_writes(1001, "/stop")
    # When the daemon's bot service polls
    # (until the reply is out and the update confirmed by the next poll's offset)
    run_bot_until(shop, lambda: bool(telegram.sent_to("1001")) and telegram.updates == [])
    # Then she is opted out, told so, and the update is confirmed
    assert consent(shop, "1001") == ("withdrawn", "telegram:/stop", "opted_out")
    [reply] = telegram.sent_to("1001")
    assert "/start" in reply["text"]
    assert telegram.updates == []  # confirmed with the next offset
    shop.cli("run-once", "win_back")
    assert len(telegram.sent_to("1001")) == 1  # only the bot's reply
    assert len(telegram.sent_to("1002")) == 1
    # When she sends /start
    telegram.user_writes(1001, "/start")
    run_bot_until(shop, lambda: len(telegram.sent_to("1001")) == 2)
    # Then offers reach her again
    assert consent(shop, "1001") == ("granted", "telegram:/start", None)
    shop.cli("run-once", "flash_sale")
    assert "Ми сумуємо" in telegram.sent_to("1001")[-1]["text"]


def test_service_stays_off_without_a_token(shop: Shop, telegram: TelegramPeer,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    build(shop, telegram, monkeypatch)
    shop.write_config("telegram:\n  transport: file", "x:\n  all:\n    - orders_count: 1",
                      "c:\n  segment: x\n  channels: [telegram]")
    shop.template("c/telegram.html", "hi")
    telegram.user_writes(1001, "/stop")
    run_bot_until(shop, lambda: False)
    assert telegram.calls == [] and telegram.updates  # the bot API was never asked


def test_replies_in_the_customers_language(
        shop: Shop, telegram: TelegramPeer, monkeypatch: pytest.MonkeyPatch) -> None:
    build(shop, telegram, monkeypatch, people=[
        {"id": "c1", "name": "Олена", "locale": "uk", "telegram_chat_id": "1001",
         "telegram_consent": "yes"},
        {"id": "c2", "name": "Jane", "locale": "en", "telegram_chat_id": "1002",
         "telegram_consent": "yes"},
    ])
    text = shop.config_path.read_text(encoding="utf-8")
    shop.config_path.write_text(text.replace("    retry_base: 1s\n", """    retry_base: 1s
    stop_reply:
      en: "Stopped. Send /start to resume."
      uk: "Більше не надсилатимемо пропозицій. Надішліть /start, щоб повернутися."
"""), encoding="utf-8")
    telegram.user_writes(1001, "/stop")
    telegram.user_writes(1002, "/stop")
    run_bot_until(shop, lambda: bool(telegram.sent_to("1001")) and
                  bool(telegram.sent_to("1002")))
    assert [m["text"] for m in telegram.sent_to("1001")] == [
        "Більше не надсилатимемо пропозицій. Надішліть /start, щоб повернутися."]
    assert [m["text"] for m in telegram.sent_to("1002")] == ["Stopped. Send /start to resume."]


def test_reply_texts_fall_back_to_the_app_language_then_the_first_entry() -> None:
    from channels.telegram_settings import TelegramSettings

    settings = TelegramSettings(start_reply={"en": "Welcome back", "uk": "З поверненням"})
    assert settings.reply(True, None, "uk-UA") == "З поверненням"
    assert settings.reply(True, "de", None) == "Welcome back"
    assert settings.reply(False, "uk") == settings.stop_reply  # one text for all


def test_updates_delivered_out_of_order_are_ordered_by_when_they_were_sent(
        shop: Shop, telegram: TelegramPeer, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given two customers whose consent was recorded two hours ago
    now = int(time.time())
    two_hours_ago = datetime.fromtimestamp(now - 7200, UTC).replace(tzinfo=None)
    build(shop, telegram, monkeypatch, people=[
        {"id": c, "name": c, "telegram_chat_id": chat, "telegram_consent": "yes",
         "consent_at": two_hours_ago.isoformat()}
        for c, chat in (("c1", "1001"), ("c2", "1002"))])
    # When Olena (1001) sent /stop ten minutes ago and /start five minutes ago, and
    # Jane (1002) /start ten minutes ago and /stop five minutes ago, but the Bot API
    # delivers each newer message before the older one
    telegram.user_writes(1001, "/start", date=now - 300)
    telegram.user_writes(1002, "/stop", date=now - 300)
    telegram.user_writes(1001, "/stop", date=now - 600)
    telegram.user_writes(1002, "/start", date=now - 600)
    run_bot_until(shop, lambda: len(telegram.sent_to("1001")) == 2 and
                  len(telegram.sent_to("1002")) == 2 and telegram.updates == [])
    assert telegram.updates == []  # all four applied and confirmed
    # Then each keeps what they said last: Olena gets offers, Jane does not
    assert consent(shop, "1001") == ("granted", "telegram:/start", None)
    assert consent(shop, "1002") == ("withdrawn", "telegram:/stop", "opted_out")
    shop.cli("run-once", "flash_sale")
    assert "Ми сумуємо" in telegram.sent_to("1001")[-1]["text"]
    assert len(telegram.sent_to("1002")) == 2  # the bot's two replies only


def test_a_message_dated_in_the_future_counts_as_sent_now(
        shop: Shop, telegram: TelegramPeer, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a /stop whose date is an hour ahead of our clock (a skewed clock)
    build(shop, telegram, monkeypatch)
    telegram.user_writes(1001, "/stop", date=int(time.time()) + 3600)
    run_bot_until(shop, lambda: len(telegram.sent_to("1001")) == 1)
    # When the person sends /start a minute later
    telegram.user_writes(1001, "/start")
    run_bot_until(shop, lambda: len(telegram.sent_to("1001")) == 2)
    # Then the /start is newer than the /stop: offers reach them again
    assert consent(shop, "1001") == ("granted", "telegram:/start", None)
