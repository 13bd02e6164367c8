"""Telegram end to end: run-once -> python-telegram-bot's Bot -> a loopback Bot API."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, select

from dispatcher.store.db import address_hash
from dispatcher.store.schema import addresses, outbox, suppressions

from .shop import Shop
from .telegram_peer import TOKEN, TelegramPeer

NOW = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
TEMPLATE = "<b>Ми сумуємо</b>, {{ customer.name }}!\nВаш код: <code>BACK10</code>"
BUTTON = "До покупок | {{ shop.url }}/back?c={{ customer.id }}"


@pytest.fixture
def telegram() -> Iterator[TelegramPeer]:
    with TelegramPeer() as peer:
        yield peer


SEGMENTS = """
lapsed:
  all:
    - orders_count: {gte: 1}
    - last_order_age: {gt: 90d}
"""

# The links arrive as written (link tracking has its own tests: test_tracking_*).
CAMPAIGNS = """
win_back:
  segment: lapsed
  channels: [telegram]
  schedule: "0 11 * * *"
  track_clicks: false
  utm: false
flash_sale:
  segment: lapsed
  channels: [telegram]
  track_clicks: false
  utm: false
"""


def build(shop: Shop, peer: TelegramPeer, monkeypatch: pytest.MonkeyPatch,
          people: list[dict[str, str]] | None = None) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    shop.write_config(f"""
telegram:
  token: ${{TELEGRAM_BOT_TOKEN}}
  base_url: {peer.base_url}
  retry_base: 1s
""", SEGMENTS, CAMPAIGNS)
    for campaign in ("win_back", "flash_sale"):
        shop.template(f"{campaign}/telegram.html", TEMPLATE)
        shop.template(f"{campaign}/telegram.button", BUTTON)
    people = people or [
        {"id": "c1", "name": "<b>Олена & Co</b>", "telegram_chat_id": "1001",
         "telegram_consent": "yes"},
        {"id": "c2", "name": "Jane", "telegram_chat_id": "1002", "telegram_consent": "yes"},
    ]
    shop.cli("import", "customers", str(shop.csv("customers.csv", people)))
    orders = [{"id": f"o{p['id']}", "customer_id": p["id"], "total": "10", "currency": "UAH",
               "placed_at": (NOW - timedelta(days=120)).isoformat()} for p in people]
    shop.cli("import", "orders", str(shop.csv("orders.csv", orders)))


def outbox_rows(shop: Shop, campaign: str = "win_back") -> dict[str, object]:
    engine = create_engine(shop.db_url())
    with engine.connect() as conn:
        return {r.customer_id: r for r in conn.execute(
            select(outbox).where(outbox.c.campaign == campaign))}


def telegram_visible_text(markup: str) -> str:
    """What the user sees: Telegram drops the tags and decodes the entities."""
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def test_customer_text_is_escaped_and_template_markup_kept(
        shop: Shop, telegram: TelegramPeer, monkeypatch: pytest.MonkeyPatch) -> None:
    build(shop, telegram, monkeypatch)
    shop.cli("run-once", "win_back")
    [message] = telegram.sent_to("1001")
    assert message["parse_mode"] == "HTML"
    assert message["text"] == ("<b>Ми сумуємо</b>, &lt;b&gt;Олена &amp; Co&lt;/b&gt;!\n"
                               "Ваш код: <code>BACK10</code>")
    assert telegram_visible_text(message["text"]).startswith("Ми сумуємо, <b>Олена & Co</b>!")
    keyboard = json.loads(message["reply_markup"])["inline_keyboard"]
    assert keyboard == [[{"text": "До покупок", "url": "https://shop.test/back?c=c1"}]]
    row = outbox_rows(shop)["c1"]
    assert row.status == "sent"  # type: ignore[attr-defined]
    assert row.provider_id == f"1001:{message['message_id']}"  # type: ignore[attr-defined]


def test_blocked_bot_suppresses_the_chat(shop: Shop, telegram: TelegramPeer,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    build(shop, telegram, monkeypatch)
    telegram.refuse("1001", 403)
    shop.cli("run-once", "win_back")
    row = outbox_rows(shop)["c1"]
    assert (row.status, row.error_class) == ("failed", "gone")  # type: ignore[attr-defined]
    engine = create_engine(shop.db_url())
    with engine.connect() as conn:
        [entry] = conn.execute(select(suppressions)).all()
    assert entry.address_hash == address_hash("telegram", "1001")
    assert (entry.reason, entry.provider_code) == ("provider_gone", "403")
    assert "blocked by the user" in entry.source
    shop.cli("run-once", "flash_sale")
    assert len([a for a in telegram.attempts if a["chat_id"] == "1001"]) == 1
    assert outbox_rows(shop, "flash_sale")["c1"].reason == "suppressed"  # type: ignore[attr-defined]
    assert len(telegram.sent_to("1002")) == 2


def test_retry_after_waits_as_told_and_sends_once(shop: Shop, telegram: TelegramPeer,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    build(shop, telegram, monkeypatch)
    telegram.refuse("1001", 429, times=1, retry_after=2)
    shop.cli("run-once", "win_back", "--wait-retries", "20")
    first, second = [a for a in telegram.attempts if a["chat_id"] == "1001"]
    assert second["at"] - first["at"] >= 2.0  # the peer's clock: Telegram said 2 s
    assert len(telegram.sent_to("1001")) == 1
    row = outbox_rows(shop)["c1"]
    assert (row.status, row.attempts) == ("sent", 2)  # type: ignore[attr-defined]


def test_chat_not_found_is_permanent_and_marks_the_chat(
        shop: Shop, telegram: TelegramPeer, monkeypatch: pytest.MonkeyPatch) -> None:
    build(shop, telegram, monkeypatch)
    telegram.refuse("1002", 400)
    shop.cli("run-once", "win_back", "--wait-retries", "5")
    row = outbox_rows(shop)["c2"]
    assert (row.status, row.error_class) == ("failed", "gone")  # type: ignore[attr-defined]
    assert len([a for a in telegram.attempts if a["chat_id"] == "1002"]) == 1
    engine = create_engine(shop.db_url())
    with engine.connect() as conn:
        assert conn.execute(select(addresses.c.invalid_at)
                            .where(addresses.c.customer_id == "c2")).scalar() is not None


@pytest.mark.parametrize(("template", "expected"), [
    ("<b>Hi</b> {{ customer.name }}" + " слово" * 700, "Telegram allows 4096"),
    ("Hi<br>{{ customer.name }}", "<br> is not supported by Telegram"),
    ("<b>Hi {{ customer.name }}", "unclosed <b>"),
])
def test_validate_checks_telegram_html(shop: Shop, telegram: TelegramPeer,
                                       monkeypatch: pytest.MonkeyPatch, template: str,
                                       expected: str) -> None:
    build(shop, telegram, monkeypatch)
    shop.template("win_back/telegram.html", template)
    out = shop.cli("validate", expect=2).output.replace("\n", "")
    assert "templates/win_back/telegram.html" in out and expected in out
    assert telegram.attempts == []


def test_validate_accepts_supported_markup_and_a_button(shop: Shop, telegram: TelegramPeer,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    build(shop, telegram, monkeypatch)
    shop.cli("validate")
