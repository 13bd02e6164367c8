"""SMS end to end: config -> import -> run-once -> twilio's async client -> a loopback
server that speaks the Messages API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, select

from dispatcher.store.db import address_hash
from dispatcher.store.schema import addresses, outbox, suppressions

from .shop import Shop
from .twilio_peer import ACCOUNT_SID, AUTH_TOKEN, TwilioPeer

NOW = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
OLENA = "+380501234567"
JANE = "+15550001111"
SMS_UK = "{{ customer.first_name }}, ми сумуємо! Повертайтеся: {{ shop.url }}/back"
SMS_EN = "Hi {{ customer.first_name }}, we miss you! Come back: {{ shop.url }}/back"


@pytest.fixture
def twilio() -> Iterator[TwilioPeer]:
    with TwilioPeer() as peer:
        yield peer


def sms_channel(peer: TwilioPeer, extra: str = "") -> str:
    return f"""
sms:
  account_sid: {ACCOUNT_SID}
  auth_token: ${{TWILIO_AUTH_TOKEN}}
  from: "+15005550006"
  base_url: {peer.url}
  retry_base: 1s
  max_segments: 3
  price_per_segment: 0.0079
{extra}
"""


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
  channels: [sms]
  schedule: "0 11 * * *"
  track_clicks: false
  utm: false
flash_sale:
  segment: lapsed
  channels: [sms]
  track_clicks: false
  utm: false
"""


def build(shop: Shop, peer: TwilioPeer, monkeypatch: pytest.MonkeyPatch,
          extra: str = "", people: list[dict[str, str]] | None = None) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    shop.write_config(sms_channel(peer, extra), SEGMENTS, CAMPAIGNS)
    for campaign in ("win_back", "flash_sale"):
        shop.template(f"{campaign}/sms.txt", SMS_UK)
        shop.template(f"{campaign}/en/sms.txt", SMS_EN)
    people = people or [
        {"id": "c1", "name": "Олена Коваленко", "locale": "uk", "phone": "+380 50 123 45 67",
         "sms_consent": "yes"},
        {"id": "c2", "name": "Jane Doe", "locale": "en", "phone": JANE, "sms_consent": "yes"},
    ]
    shop.cli("import", "customers", str(shop.csv("customers.csv", people)))
    orders = [{"id": f"o{p['id']}", "customer_id": p["id"], "total": "10", "currency": "UAH",
               "placed_at": (NOW - timedelta(days=120)).isoformat()} for p in people]
    shop.cli("import", "orders", str(shop.csv("orders.csv", orders)))


def rows(shop: Shop) -> dict[str, object]:
    engine = create_engine(shop.db_url())
    with engine.connect() as conn:
        return {r.customer_id: r for r in conn.execute(
            select(outbox).where(outbox.c.campaign == "win_back"))}


def test_ucs2_text_is_delivered_through_twilio(shop: Shop, twilio: TwilioPeer,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    build(shop, twilio, monkeypatch)
    shop.cli("run-once", "win_back")
    [olena] = twilio.sent_to(OLENA)  # the imported "+380 50 123 45 67", in E.164
    assert olena["Body"] == "Олена, ми сумуємо! Повертайтеся: https://shop.test/back"
    assert olena["From"] == "+15005550006"
    [jane] = twilio.sent_to(JANE)
    assert jane["Body"] == "Hi Jane, we miss you! Come back: https://shop.test/back"
    sent = rows(shop)
    assert sent["c1"].status == "sent"  # type: ignore[attr-defined]
    assert sent["c1"].provider_id == olena["sid"]  # type: ignore[attr-defined]


def test_21610_suppresses_the_number_and_no_later_sms_goes_to_it(
        shop: Shop, twilio: TwilioPeer, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given Olena replied STOP to the shop's Twilio number (Twilio answers 21610)
    build(shop, twilio, monkeypatch)
    twilio.refuse(OLENA, 21610)
    # When the campaign runs
    shop.cli("run-once", "win_back")
    # Then the failure is recorded as "recipient gone", never retried
    row = rows(shop)["c1"]
    assert (row.status, row.error_class) == ("failed", "gone")  # type: ignore[attr-defined]
    assert len([a for a in twilio.attempts if a["To"] == OLENA]) == 1
    engine = create_engine(shop.db_url())
    with engine.connect() as conn:
        [entry] = conn.execute(select(suppressions)).all()
    assert entry.address_hash == address_hash("sms", OLENA)
    assert (entry.reason, entry.provider_code) == ("provider_gone", "21610")
    # And a later campaign does not even try her number
    out = shop.cli("plan", "flash_sale").output
    assert "suppressed" in out
    shop.cli("run-once", "flash_sale")
    assert len([a for a in twilio.attempts if a["To"] == OLENA]) == 1
    assert len(twilio.sent_to(JANE)) == 2


def test_429_is_retried_after_retry_after_and_delivered_once(
        shop: Shop, twilio: TwilioPeer, monkeypatch: pytest.MonkeyPatch) -> None:
    build(shop, twilio, monkeypatch)
    twilio.refuse(OLENA, 20429, status=429, times=1, retry_after=1)
    shop.cli("run-once", "win_back", "--wait-retries", "20")
    assert len([a for a in twilio.attempts if a["To"] == OLENA]) == 2
    assert len(twilio.sent_to(OLENA)) == 1
    row = rows(shop)["c1"]
    assert (row.status, row.attempts) == ("sent", 2)  # type: ignore[attr-defined]


def test_invalid_number_is_marked_and_skipped_by_later_plans(
        shop: Shop, twilio: TwilioPeer, monkeypatch: pytest.MonkeyPatch) -> None:
    build(shop, twilio, monkeypatch)
    twilio.refuse(JANE, 21211)
    shop.cli("run-once", "win_back")
    row = rows(shop)["c2"]
    assert (row.status, row.error_class) == ("failed", "gone")  # type: ignore[attr-defined]
    engine = create_engine(shop.db_url())
    with engine.connect() as conn:
        invalid = conn.execute(select(addresses.c.invalid_at, addresses.c.invalid_reason)
                               .where(addresses.c.customer_id == "c2")).one()
    assert invalid.invalid_at is not None and "21211" in invalid.invalid_reason
    shop.cli("run-once", "flash_sale")
    assert len([a for a in twilio.attempts if a["To"] == JANE]) == 1


def test_wrong_credentials_fail_without_sending(shop: Shop, twilio: TwilioPeer,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    build(shop, twilio, monkeypatch)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "not-the-token")
    shop.cli("run-once", "win_back")
    assert twilio.messages == []
    row = rows(shop)["c1"]
    assert row.status == "failed" and "20003" in row.last_error  # type: ignore[attr-defined]
    assert "not-the-token" not in row.last_error  # type: ignore[attr-defined]


def test_plan_and_preview_show_segments_and_cost(shop: Shop, twilio: TwilioPeer,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    build(shop, twilio, monkeypatch)
    out = shop.cli("plan", "win_back").output
    # Olena's text is Cyrillic (UCS-2), 55 characters: 1 segment; Jane's is GSM-7: 1.
    assert "1 x 1 segment" not in out and "2 x 1 segment" in out
    assert "UCS-2 1" in out and "GSM-7 1" in out
    assert "SMS total segments: 2" in out
    assert "SMS estimated cost: 0.02 USD" in out
    preview = shop.cli("preview", "win_back", "--customer", "c1").output
    assert "Олена, ми сумуємо!" in preview
    assert "SMS: 1 segment (UCS-2, 55 characters)" in preview
    assert twilio.attempts == []


def test_over_the_segment_limit_is_a_recorded_skip(shop: Shop, twilio: TwilioPeer,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    long_name = "Олександра-Вікторія " * 8  # makes her SMS 4 UCS-2 segments
    build(shop, twilio, monkeypatch, people=[
        {"id": "c1", "name": "Олена", "phone": OLENA, "sms_consent": "yes"},
        {"id": "c3", "name": long_name.replace(" ", ""), "phone": "+380671112233",
         "sms_consent": "yes"},
    ])
    out = shop.cli("plan", "win_back").output
    assert "over the limit of 3 segments (will be skipped): 1" in out
    shop.cli("run-once", "win_back")
    assert [m["To"] for m in twilio.messages] == [OLENA]
    row = rows(shop)["c3"]
    assert (row.status, row.reason) == ("skipped", "too_long")  # type: ignore[attr-defined]


def test_validate_rejects_a_template_over_the_segment_limit(
        shop: Shop, twilio: TwilioPeer, monkeypatch: pytest.MonkeyPatch) -> None:
    build(shop, twilio, monkeypatch)
    shop.template("win_back/sms.txt", "{{ customer.first_name }}, " + "дуже " * 60)
    out = shop.cli("validate", expect=2).output.replace("\n", "")  # rich wraps long lines
    assert "templates/win_back/sms.txt:1:1 campaigns.win_back" in out
    assert "over the limit of 3" in out and "UCS-2" in out


@pytest.mark.parametrize(("extra", "expected"), [
    ("  from: '+15005550006'\n  max_segment: 3", "channels.sms.max_segment: unknown key"),
    ("", "channels.sms: twilio needs 'from' (a number or sender id) or "
         "'messaging_service_sid'"),
    ("  messaging_service_sid: XX123", "channels.sms.messaging_service_sid: a Messaging "
                                       "Service SID starts with MG"),
])
def test_twilio_settings_errors_name_the_place(shop: Shop, monkeypatch: pytest.MonkeyPatch,
                                               extra: str, expected: str) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    shop.write_config(f"""
sms:
  account_sid: {ACCOUNT_SID}
  auth_token: ${{TWILIO_AUTH_TOKEN}}
{extra}
""", SEGMENTS, CAMPAIGNS)
    for campaign in ("win_back", "flash_sale"):
        shop.template(f"{campaign}/sms.txt", SMS_UK)
    out = shop.cli("validate", expect=2).output.replace("\n", "")
    assert "config.yaml:" in out and expected in out
    assert AUTH_TOKEN not in out


def test_messaging_service_sid_and_status_callback(shop: Shop, twilio: TwilioPeer,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    build(shop, twilio, monkeypatch)
    config = shop.config_path.read_text(encoding="utf-8").replace(
        '    from: "+15005550006"\n',
        "    messaging_service_sid: MG0123456789abcdef0123456789abcdef\n"
        "    status_callback: https://hooks.shop.test/twilio/status\n")
    shop.config_path.write_text(config, encoding="utf-8")
    shop.cli("run-once", "win_back")
    [olena] = twilio.sent_to(OLENA)
    assert olena["MessagingServiceSid"] == "MG0123456789abcdef0123456789abcdef"
    assert "From" not in olena
    assert olena["StatusCallback"] == "https://hooks.shop.test/twilio/status"
