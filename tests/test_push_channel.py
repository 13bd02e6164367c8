"""Web push end to end: pywebpush -> a loopback push service that verifies VAPID and decrypts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import create_engine, select

from dispatcher.store.db import address_hash
from dispatcher.store.schema import addresses, outbox, suppressions

from .push_service import PushService
from .push_shop import NOW, setup_shop, subscribe
from .shop import Shop


@pytest.fixture
def push() -> PushService:
    with PushService() as service:
        yield service


def rows(shop: Shop, table):  # type: ignore[no-untyped-def]
    engine = create_engine(shop.db_url())
    with engine.connect() as conn:
        result = conn.execute(select(table)).all()
    engine.dispose()
    return result


def test_message_arrives_signed_and_decrypts_to_the_rendered_payload(
        shop: Shop, monkeypatch: pytest.MonkeyPatch, push: PushService) -> None:
    pair = setup_shop(shop, monkeypatch, [
        {"id": "c1", "name": "Олена Коваленко", "locale": "uk"},
        # quotes, a backslash and a newline in a name must not break the JSON payload
        {"id": "c2", "name": 'Jane "JJ"\\ O\'Brien\nSecond line'},
    ])
    push.expected_vapid_key = pair.public_key
    olena, jane = push.subscriber("olena"), push.subscriber("jane")
    subscribe(shop, "c1", olena)
    subscribe(shop, "c2", jane)

    shop.cli("run-once", "comeback")

    assert push.problems == []
    assert push.titles(olena) == ["Олена, we miss you"]
    assert push.titles(jane) == ['Jane, we miss you']
    payload = next(d.payload for d in push.delivered if d.subscriber == "olena")
    assert payload == {"title": "Олена, we miss you",
                       "body": "Your 1 orders mean a lot. Come back for -15%.",
                       "url": "https://shop.test/back?c=comeback",
                       "icon": "https://shop.test/icon.png"}
    headers = next(d.headers for d in push.delivered if d.subscriber == "olena")
    assert headers["ttl"] == "7200" and headers["urgency"] == "high"
    sent = {r.customer_id: r for r in rows(shop, outbox)}
    assert sent["c1"].status == "sent" and sent["c1"].provider_id.startswith(push.origin)


def test_json_special_characters_in_customer_data_are_escaped(
        shop: Shop, monkeypatch: pytest.MonkeyPatch, push: PushService) -> None:
    name = 'Jane "JJ" \\ O\'Brien </script>\nline2'
    setup_shop(shop, monkeypatch, [{"id": "c1", "name": name}],
               push_json='{"title": "{{ customer.name }}", "body": "{{ customer.name }}!"}')
    jane = push.subscriber("jane")
    subscribe(shop, "c1", jane)
    shop.cli("run-once", "comeback")
    stored = name.replace("\n", " ")  # the import keeps a name on one line
    assert push.delivered[0].payload == {"title": stored, "body": stored + "!"}


def test_410_deletes_that_subscription_only_and_the_next_campaign_uses_the_other(
        shop: Shop, monkeypatch: pytest.MonkeyPatch, push: PushService) -> None:
    setup_shop(shop, monkeypatch, [{"id": "c1", "name": "Olena"}],
               names=("first", "second"))
    laptop, phone = push.subscriber("laptop"), push.subscriber("phone")
    subscribe(shop, "c1", laptop, NOW - timedelta(days=30))
    subscribe(shop, "c1", phone, NOW)  # newest: gets the message
    push.reply(phone, 410)

    # When the newest subscription has expired at the push service
    shop.cli("run-once", "first")

    # Then it is deleted and suppressed, with the provider's code; the laptop stays
    assert len(push.attempts["phone"]) == 1 and push.attempts["laptop"] == []
    left = rows(shop, addresses)
    assert [a.address for a in left] == [laptop.endpoint]
    gone = rows(shop, suppressions)
    assert [(s.address_hash, s.reason, s.provider_code) for s in gone] == [
        (address_hash("push", phone.endpoint), "provider_gone", "410")]
    assert rows(shop, outbox)[0].status == "failed"

    # And the next campaign goes to the remaining subscription, nothing to the dead one
    shop.cli("run-once", "second")
    assert push.titles(laptop) == ["Olena, we miss you"]
    assert len(push.attempts["phone"]) == 1


def test_429_is_retried_after_retry_after_and_delivered_once(
        shop: Shop, monkeypatch: pytest.MonkeyPatch, push: PushService) -> None:
    setup_shop(shop, monkeypatch, [{"id": "c1", "name": "Olena"}])
    phone = push.subscriber("phone")
    subscribe(shop, "c1", phone)
    push.reply(phone, 429, {"Retry-After": "1"})

    shop.cli("run-once", "comeback", "--wait-retries", "30")

    assert push.titles(phone) == ["Olena, we miss you"]
    first, second = push.attempts["phone"]
    assert second - first >= 1.0  # the push service's Retry-After was honoured
    row = rows(shop, outbox)[0]
    assert (row.status, row.attempts) == ("sent", 2)


def test_oversize_payload_is_a_validate_error(
        shop: Shop, monkeypatch: pytest.MonkeyPatch, push: PushService) -> None:
    setup_shop(shop, monkeypatch, [{"id": "c1", "name": "Olena"}],
               push_json='{"title": "Sale", "body": "' + "x" * 4000 + '"}')
    result = shop.cli("validate", expect=2)
    flat = "".join(result.output.split())  # the console wraps long lines
    assert "templates/comeback/push.json:1:1campaigns.comeback:push:" in flat
    # {"title":"Sale","body":"x...x"} is 4026 bytes of JSON, 4129 once encrypted
    assert "pushpayloadis4129bytesencrypted,overthe4096-bytelimit" in flat


def test_payload_too_large_for_one_customer_is_skipped_at_send_time(
        shop: Shop, monkeypatch: pytest.MonkeyPatch, push: PushService) -> None:
    # Sample renders fit; one real customer's name makes the payload too large.
    setup_shop(shop, monkeypatch, [{"id": "c1", "name": "Olena"},
                                   {"id": "c2", "name": "Я" * 2100}],
               push_json='{"title": "Hi {{ customer.name }}"}')
    shop.cli("validate")
    olena, long_name = push.subscriber("olena"), push.subscriber("long")
    subscribe(shop, "c1", olena)
    subscribe(shop, "c2", long_name)

    shop.cli("run-once", "comeback")

    assert push.titles(olena) == ["Hi Olena"] and push.attempts["long"] == []
    by_customer = {r.customer_id: r for r in rows(shop, outbox)}
    assert (by_customer["c2"].status, by_customer["c2"].reason) == \
        ("skipped", "payload_too_large")


def test_one_http_session_is_reused_for_all_messages(
        shop: Shop, monkeypatch: pytest.MonkeyPatch, push: PushService) -> None:
    customers = [{"id": f"c{i}", "name": f"N{i}"} for i in range(12)]
    setup_shop(shop, monkeypatch, customers)  # concurrency: 2
    for c in customers:
        subscribe(shop, c["id"], push.subscriber(c["id"]))

    shop.cli("run-once", "comeback")

    assert len(push.delivered) == 12
    # keep-alive connections bounded by the channel's concurrency, not one per message
    assert 1 <= push.connections <= 2


def test_unconfigured_push_writes_files_instead(
        shop: Shop, monkeypatch: pytest.MonkeyPatch, push: PushService) -> None:
    setup_shop(shop, monkeypatch, [{"id": "c1", "name": "Olena"}])
    monkeypatch.setenv("VAPID_PRIVATE_KEY", "")
    subscribe(shop, "c1", push.subscriber("olena"))
    shop.cli("run-once", "comeback")
    assert push.attempts == {}
    files = list((shop.folder / "outbox" / "push" / "comeback").glob("*.json"))
    assert len(files) == 1
    text = files[0].read_text(encoding="utf-8")
    assert "Olena, we miss you" in text and "p256dh" not in text


def test_preview_shows_the_payload_and_its_encrypted_size(
        shop: Shop, monkeypatch: pytest.MonkeyPatch, push: PushService) -> None:
    setup_shop(shop, monkeypatch, [{"id": "c1", "name": "Olena"}])
    subscribe(shop, "c1", push.subscriber("olena"))
    out = shop.cli("preview", "comeback", "--customer", "c1").output
    assert "Subject: Olena, we miss you" in out
    assert "push payload (" in out and " of 4096 bytes encrypted)" in out
    assert '"url":"https://shop.test/back?c=comeback"' in out
    assert push.attempts == {}  # a preview sends nothing


def test_test_send_goes_to_a_subscribed_test_browser_only(
        shop: Shop, monkeypatch: pytest.MonkeyPatch, push: PushService) -> None:
    setup_shop(shop, monkeypatch, [{"id": "c1", "name": "Olena"}, {"id": "qa", "name": "QA"}])
    olena, qa_browser = push.subscriber("olena"), push.subscriber("qa")
    subscribe(shop, "c1", olena)
    subscribe(shop, "qa", qa_browser)
    shop.cli("test-send", "comeback", "--customer", "c1", "--channel", "push",
             "--to", qa_browser.endpoint)
    assert push.titles(qa_browser) == ["[TEST] Olena, we miss you"]
    assert push.attempts["olena"] == []
    unknown = shop.cli("test-send", "comeback", "--customer", "c1", "--channel", "push",
                       "--to", push.origin + "/sub/never-subscribed", expect=1)
    assert "no push subscription on file" in unknown.output
    # a test send is not a campaign send
    shop.cli("run-once", "comeback")
    assert push.titles(olena) == ["Olena, we miss you"]
