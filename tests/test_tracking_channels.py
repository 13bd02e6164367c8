"""Tracked links on every channel, read from what the file transports wrote.

SMS: bare URLs, billed in their tracked form (``plan`` and ``validate`` count it);
Telegram: ``<a href>`` and the button; push: the payload's ``url`` (never its icon).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from channels.sms_segments import count_segments

from .shop import Shop
from .tracking_peers import campaign, destinations, outbox_of, setup, tracked_links_in

FILES = """
email:
  transport: file
sms:
  transport: file
  max_segments: 3
telegram:
  transport: file
push:
  transport: file
"""
PEOPLE = [{"id": "c1", "name": "Олена Коваленко", "locale": "uk", "phone": "+380501234567",
           "sms_consent": "yes", "telegram_chat_id": "1001", "telegram_consent": "yes"}]


def _sent(shop: Shop, channel: str, name: str = "news") -> dict[str, Any]:
    [path] = (shop.folder / "outbox" / channel / name).glob("*.json")
    return json.loads(Path(path).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_sms_links_are_tracked_short_and_billed_in_their_tracked_form(shop: Shop) -> None:
    setup(shop, FILES, campaign(channels="[sms]"), customers=PEOPLE,
          extra="tracking:\n  base_url: https://k.example/\n")
    # 45 Cyrillic characters and a 21-character link fit one UCS-2 segment (70);
    # the tracked link (40 characters) does not
    shop.template("news/sms.txt", "Олено, нові надходження вже в магазині, дивіться "
                  "{{ shop.url }}/new")
    plan = shop.cli("plan", "news").output
    assert "SMS segments per message: 1 x 2 segments (UCS-2 1)" in plan, plan
    shop.cli("run-once", "news")
    sent = _sent(shop, "sms")
    [link] = tracked_links_in(sent["text"])
    assert link.startswith("https://k.example/c/") and len(link) == len("https://k.example/c/") + 20
    assert sent["data"]["segments"] == count_segments(sent["text"]).segments == 2
    assert destinations(shop) == {(outbox_of(shop)["c1"].id, 0):
                                  "https://shop.test/new?utm_source=dispatcher&utm_medium=sms"
                                  "&utm_campaign=news"}


def test_validate_checks_an_sms_in_its_tracked_form(shop: Shop) -> None:
    setup(shop, FILES.replace("max_segments: 3", "max_segments: 1"),
          campaign(channels="[sms]"), customers=PEOPLE)
    shop.template("news/sms.txt", "Олено, нові надходження вже в магазині, дивіться "
                  "{{ shop.url }}/new")
    result = shop.cli("validate", expect=2)
    assert "over the limit of 1" in result.output
    # the same text with its link untracked and untagged fits
    setup(shop, FILES.replace("max_segments: 3", "max_segments: 1"),
          campaign(channels="[sms]", track_clicks="false", utm="false"), customers=PEOPLE)
    shop.template("news/sms.txt", "Олено, нові надходження вже в магазині, дивіться "
                  "{{ shop.url }}/new")
    shop.cli("validate")


def test_telegram_links_and_button_are_tracked(shop: Shop) -> None:
    setup(shop, FILES, campaign(channels="[telegram]"), customers=PEOPLE)
    shop.cli("run-once", "news")
    sent = _sent(shop, "telegram")
    [in_text] = tracked_links_in(sent["text"])
    assert sent["text"].startswith('<b>Hi!</b> <a href="http://127.0.0.1:8080/c/')
    [button] = tracked_links_in(sent["data"]["button"]["url"])
    assert button != in_text
    row = outbox_of(shop)["c1"].id
    assert destinations(shop) == {
        (row, 0): "https://shop.test/new?utm_source=dispatcher&utm_medium=telegram"
                  "&utm_campaign=news",
        (row, 1): "https://shop.test/?from=tg&utm_source=dispatcher&utm_medium=telegram"
                  "&utm_campaign=news"}


def test_push_url_is_tracked_and_its_icon_is_not(shop: Shop) -> None:
    from channels.webpush_payload import encode_payload, encrypted_size
    from dispatcher.push.subscriptions import parse_subscription, save_subscription
    from dispatcher.store.db import make_engine

    from .push_service import PushService
    from .push_shop import LOOPBACK_POLICY, NOW

    setup(shop, FILES, campaign(channels="[push]"), customers=PEOPLE)
    with PushService() as service:  # only for a well-formed subscription's keys
        subscriber = service.subscriber("olena")
        engine = make_engine(shop.db_url())
        save_subscription(engine, "c1", parse_subscription(subscriber.subscription(),
                                                           LOOPBACK_POLICY), NOW, "offers")
        engine.dispose()
    shop.cli("run-once", "news")
    payload = _sent(shop, "push")["data"]["payload"]
    assert len(tracked_links_in(payload["url"])) == 1
    assert payload["icon"] == "https://shop.test/icon.png"
    assert _sent(shop, "push")["data"]["encrypted_size"] == \
        encrypted_size(len(encode_payload(payload)))
    # the marketer's own utm_source stays; medium and campaign are added
    assert list(destinations(shop).values()) == [
        "https://shop.test/new?utm_source=push_own&utm_medium=push&utm_campaign=news"]
