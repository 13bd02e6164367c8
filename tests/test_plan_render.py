"""``plan`` counts what the sender will bill: every SMS rendered as the sender renders it
(promo code, A/B variant, locale, tracked links), or a stated random sample; and it
flags push payloads that a customer's data makes too large.

Each count is held to what ``run-once`` then actually sends: the bodies the
Twilio-shaped peer received, the files the file transport wrote, the rows it skipped.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from channels.sms_segments import count_segments
from dispatcher.store.schema import outbox

from .shop import Shop
from .twilio_peer import ACCOUNT_SID, AUTH_TOKEN, TwilioPeer

NOW = datetime.now(UTC).replace(tzinfo=None, microsecond=0)

SEGMENTS = """
lapsed:
  all:
    - orders_count: {gte: 1}
    - last_order_age: {gt: 90d}
"""

# Two arms with different texts, a holdout that gets nothing, a personal code, tracked
# links: every one of them changes what is billed.
CAMPAIGN = """
comeback:
  segment: lapsed
  channels: [sms]
  promo: {prefix: "CB-", length: 10}
  holdout: 20%
  variants:
    short: {}
    long: {template: comeback_long}
"""

TEMPLATES = {
    "comeback/sms.txt": "{{ customer.first_name }}, повертайтеся! Код {{ promo.code }}: -10%",
    "comeback/en/sms.txt": "{{ customer.first_name }}, come back! Code {{ promo.code }}: "
                           "10% off",
    "comeback_long/sms.txt": "{{ customer.first_name }}, ми сумуємо за вами. Ваш "
                             "персональний код {{ promo.code }} дає знижку 10% до "
                             "{{ promo.expires_on }}. {{ shop.url }}/back",
    "comeback_long/en/sms.txt": "{{ customer.first_name }}, we miss you. Your personal code "
                                "{{ promo.code }} takes 10% off until {{ promo.expires_on }}. "
                                "{{ shop.url }}/back",
}

NAMES = [
    ("Jane Doe", "en"), ("Олена Коваленко", "uk"), ("Bartholomew-Maximilian Fitzgerald", "en"),
    ("Олександра-Вікторія Шевченко", "uk"), ("Zoë Kravitz", "en"),  # ë: not GSM-7
    ("José Ortega", "en"), ("Łucja Nowak", "en"), ("Anna [VIP] Berg", "en"),  # [ ]: 2 septets
    ("Іван", "uk"), ("Ed", "en"), ("Світлана", "en"),  # Cyrillic name, English text
    ("Maximiliana-Konstantina-Alexandrovna-" * 3, "en"), ("Гліб", "uk"),
    ("Kateryna", "uk"), ("Oleh", "en"), ("Марія-Антуанетта", "uk"),
    ("Christopher", "en"), ("Єлизавета", "uk"), ("Li", "en"), ("Ярослав", "uk"),
    # a name long enough to go over max_segments: skipped at send time, never billed
    ("Олександра-Вікторія-Анастасія-Маргарита-" * 5, "uk"),
]


def sms_channel(extra: str) -> str:
    return f"""
sms:
{extra}
  max_segments: 3
  price_per_segment: 0.05
  currency: EUR
"""


def build(shop: Shop, channel: str, people: list[tuple[str, str]]) -> None:
    shop.write_config(sms_channel(channel), SEGMENTS, CAMPAIGN)
    for path, text in TEMPLATES.items():
        shop.template(path, text)
    customers = [{"id": f"c{i:03d}", "name": name.strip(), "locale": locale,
                  "phone": f"+38050{i:07d}", "sms_consent": "yes"}
                 for i, (name, locale) in enumerate(people)]
    shop.cli("import", "customers", str(shop.csv("customers.csv", customers)))
    orders = [{"id": f"o-{c['id']}", "customer_id": c["id"], "total": "10", "currency": "UAH",
               "placed_at": (NOW - timedelta(days=120)).isoformat()} for c in customers]
    shop.cli("import", "orders", str(shop.csv("orders.csv", orders)))
    shop.cli("validate")  # the templates are fine: any "do not render" would be false


def planned_total(plan: str) -> tuple[int, int]:
    """(total segments, ± half-width; 0 when every message was rendered)."""
    found = re.search(r"SMS total segments: (~?)([\d,]+)(?: ± ([\d,]+))?", plan)
    assert found is not None, plan
    return int(found.group(2).replace(",", "")), int((found.group(3) or "0").replace(",", ""))


def outbox_rows(shop: Shop) -> list[Any]:
    engine = create_engine(shop.db_url())
    with engine.connect() as conn:
        rows = list(conn.execute(select(outbox).where(outbox.c.campaign == "comeback")))
    engine.dispose()
    return rows


@pytest.fixture
def twilio(monkeypatch: pytest.MonkeyPatch) -> Iterator[TwilioPeer]:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    with TwilioPeer() as peer:
        yield peer


def test_plan_counts_the_segments_the_sender_bills(shop: Shop, twilio: TwilioPeer) -> None:
    build(shop, f"""  account_sid: {ACCOUNT_SID}
  auth_token: ${{TWILIO_AUTH_TOKEN}}
  from: "+15005550006"
  base_url: {twilio.url}""", NAMES)

    plan = shop.cli("plan", "comeback").output
    shop.cli("run-once", "comeback")

    # What Twilio bills: the segments of every body it accepted
    billed = sum(count_segments(m["Body"]).segments for m in twilio.messages)
    assert len(twilio.messages) >= 10
    total, margin = planned_total(plan)
    assert (total, margin) == (billed, 0), plan
    assert f"SMS estimated cost: {Decimal('0.05') * billed:.2f} EUR" in plan
    # the message over max_segments is named, skipped, and not in the total
    skipped = [r for r in outbox_rows(shop) if r.reason == "too_long"]
    assert len(skipped) == 1
    assert "SMS over the limit of 3 segments (will be skipped): 1" in plan
    # every message the run sends was rendered: the text says how
    sent = len(twilio.messages) + len(skipped)
    assert f"each of the {sent} SMS rendered as the sender will" in plan, plan
    assert "stand-in" in plan and "CB- + 10 characters" in plan
    assert "do not render" not in plan and "raise" not in plan
    # holdout rows are in the plan's funnel, not in the bill
    held = [r for r in outbox_rows(shop) if r.status == "held_out"]
    assert held and all(r.channel == "sms" for r in held)
    # and each A/B arm's bill, counted on the bodies of that arm's customers
    arm_of = {r.customer_id: r.variant for r in outbox_rows(shop)}
    segments: Counter[str] = Counter()
    for m in twilio.messages:
        segments[arm_of[f"c{int(m['To'][-7:]):03d}"]] += count_segments(m["Body"]).segments
    messages = Counter(r.variant for r in outbox_rows(shop) if r.status != "held_out")
    assert set(messages) == {"short", "long"}
    assert (f"SMS segments billed by arm: long {segments['long']} over {messages['long']}, "
            f"short {segments['short']} over {messages['short']} messages") in plan, plan


def test_plan_beyond_its_render_limit_states_its_sample_and_precision(shop: Shop) -> None:
    # 240 customers whose names make their SMS 1, 2 or 3 segments long
    people = [(name if i % 3 else name + " " + "Олександрівна-Кон" * (i % 4), locale)
              for i, (name, locale) in enumerate((NAMES[:-1] * 13)[:240])]
    build(shop, "  transport: file", people)

    plan = shop.cli("plan", "comeback", "--render-limit", "60").output
    everyone = shop.cli("plan", "comeback").output  # the default limit renders them all
    shop.cli("run-once", "comeback")

    written = list((shop.folder / "outbox" / "sms" / "comeback").glob("*.json"))
    billed = sum(count_segments(json.loads(p.read_text(encoding="utf-8"))["text"]).segments
                 for p in written)
    skipped = len([r for r in outbox_rows(shop) if r.reason == "too_long"])
    messages = len(written) + skipped
    assert messages > 60
    assert re.search(rf"estimated from a simple random sample of 60 of {messages} SMS", plan), \
        plan
    total, margin = planned_total(plan)
    assert margin > 0 and "at 95% confidence" in plan
    assert abs(total - billed) <= margin, (total, margin, billed)
    assert re.search(r"SMS estimated cost: ~[\d.]+ ± [\d.]+ EUR", plan), plan
    assert planned_total(everyone) == (billed, 0), everyone


PUSH_JSON = """{
  "title": "{{ customer.first_name }}, your cart is waiting",
  "body": "{% if cart %}{% for item in cart['items'] %}{{ item.name }} x {{ item.qty }}; \
{% endfor %}{% endif %}",
  "url": "{{ shop.url }}/cart"
}
"""


def test_plan_flags_push_payloads_that_customer_data_makes_too_large(
        shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    from .push_service import PushService
    from .push_shop import setup_shop, subscribe

    with PushService() as push:
        setup_shop(shop, monkeypatch, [{"id": "small", "name": "Olena"},
                                       {"id": "big", "name": "Ivan"}], names=("cart",),
                   push_json=PUSH_JSON)
        config = shop.config_path.read_text(encoding="utf-8")
        shop.config_path.write_text(config.replace(
            "    once_per: customer", "    once_per: cart\n"
            "    trigger: {cart_abandoned: {idle: [2h, 48h]}}"), encoding="utf-8")
        subscribe(shop, "small", push.subscriber("small"))
        subscribe(shop, "big", push.subscriber("big"))
        updated = (NOW - timedelta(hours=5)).isoformat()
        many = [{"sku": f"s{i}", "name": f"Троянди сорту «Королева ночі» №{i}", "qty": 1}
                for i in range(80)]
        shop.cli("import", "carts", str(shop.jsonl("carts.jsonl", [
            {"id": "k1", "customer_id": "small", "updated_at": updated,
             "items": [{"sku": "rose", "name": "Троянди", "qty": 3}]},
            {"id": "k2", "customer_id": "big", "updated_at": updated, "items": many}])))
        shop.cli("validate")  # the sample cart fits: only real data is too large

        plan = shop.cli("plan", "cart").output
        assert re.search(r"push payloads over the 4096-byte limit \(will be skipped as "
                         r"payload_too_large\): 1 of 2", plan), plan
        assert "customer big" in plan

        shop.cli("run-once", "cart")
        rows = {r.customer_id: r for r in outbox_rows_of(shop, "cart")}
        assert (rows["big"].status, rows["big"].reason) == ("skipped", "payload_too_large")
        assert rows["small"].status == "sent" and len(push.delivered) == 1


def outbox_rows_of(shop: Shop, campaign: str) -> list[Any]:
    engine = create_engine(shop.db_url())
    with engine.connect() as conn:
        rows = list(conn.execute(select(outbox).where(outbox.c.campaign == campaign)))
    engine.dispose()
    return rows


def test_plan_flags_too_large_push_payloads_per_ab_arm(
        shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    from .push_service import PushService
    from .push_shop import setup_shop, subscribe

    people = [{"id": f"p{i:02d}", "name": f"Name{i}"} for i in range(12)]
    with PushService() as push:
        # the "plain" arm's template leaves the cart out; the "listed" arm lists it
        setup_shop(shop, monkeypatch, people, names=("cart",),
                   push_json=PUSH_JSON.replace("{% if cart %}", "{% if false %}"))
        shop.template("cart_listed/push.json", PUSH_JSON)
        config = shop.config_path.read_text(encoding="utf-8")
        shop.config_path.write_text(config.replace(
            "    once_per: customer", "    once_per: cart\n"
            "    trigger: {cart_abandoned: {idle: [2h, 48h]}}\n"
            "    variants:\n      plain: {}\n      listed: {template: cart_listed}"),
            encoding="utf-8")
        for person in people:
            subscribe(shop, person["id"], push.subscriber(person["id"]))
        updated = (NOW - timedelta(hours=5)).isoformat()
        many = [{"sku": f"s{i}", "name": f"Троянди сорту «Королева ночі» №{i}", "qty": 1}
                for i in range(80)]
        shop.cli("import", "carts", str(shop.jsonl("carts.jsonl", [
            {"id": f"k-{p['id']}", "customer_id": p["id"], "updated_at": updated,
             "items": many} for p in people])))
        shop.cli("validate")

        plan = shop.cli("plan", "cart").output
        shop.cli("run-once", "cart")

    rows = outbox_rows_of(shop, "cart")
    arms = Counter(r.variant for r in rows)
    too_large = Counter(r.variant for r in rows if r.reason == "payload_too_large")
    assert set(arms) == {"plain", "listed"} and too_large == Counter({"listed": arms["listed"]})
    assert (f"push payloads over the limit by arm: listed {arms['listed']} of "
            f"{arms['listed']}, plain 0 of {arms['plain']}") in plan, plan
    assert f"(will be skipped as payload_too_large): {arms['listed']} of 12" in plan
