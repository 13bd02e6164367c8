"""``preview`` shows what ``run-once`` would do for one customer.

The channel is the one the planner picks (consent, addresses, opt-outs, channel order,
caps); a customer outside the segment, capped, opted out of the topic or already
messaged is told so with the reason; ``--channel`` forces a channel and says what
``run-once`` would do instead. Each preview is held to the outbox row that
``run-once`` then writes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from dispatcher.store.schema import outbox

from .policy_peers import serve, token_for, web_state
from .shop import Shop

NOW = datetime.now(UTC).replace(tzinfo=None, microsecond=0)

FILES = """
email:
  transport: file
sms:
  transport: file
"""

SEGMENTS = """
lapsed:
  all:
    - orders_count: {gte: 1}
    - last_order_age: {gt: 90d}
just_bob:
  id: capped
"""

CAMPAIGNS = """
win_back:
  segment: lapsed
  channels: [email, sms]
  track_clicks: false
  utm: false
  promo: {prefix: "WB-", length: 9}
news:
  segment: just_bob
  channels: [email, sms]
  track_clicks: false
  utm: false
"""
POLICY = """
caps:
  global: 1 per 7d
"""

PEOPLE = [
    # email on file but never consented, SMS consented: the planner picks SMS
    {"id": "sms_only", "name": "Олена Коваленко", "locale": "uk", "email": "olena@example.com",
     "email_consent": "", "phone": "+380501110001", "sms_consent": "yes"},
    # reachable by email; ordered last week: not lapsed
    {"id": "recent", "name": "Jane Doe", "locale": "en", "email": "jane@example.com",
     "email_consent": "yes"},
    # got this week's one message (the global cap) from another campaign
    {"id": "capped", "name": "Bob Smith", "locale": "en", "email": "bob@example.com",
     "email_consent": "yes"},
    # switched the "offers" topic off on the preference page
    {"id": "no_offers", "name": "Ann Lee", "locale": "en", "email": "ann@example.com",
     "email_consent": "yes"},
    # both channels consented: email, the first in the order
    {"id": "both", "name": "Ivan Petrenko", "locale": "uk", "email": "ivan@example.com",
     "email_consent": "yes", "phone": "+380501110005", "sms_consent": "yes"},
]


def build(shop: Shop) -> None:
    shop.write_config(FILES, SEGMENTS, CAMPAIGNS)
    with open(shop.config_path, "a", encoding="utf-8") as fh:
        fh.write(POLICY.lstrip("\n"))
    for name in ("win_back", "news"):
        shop.template(f"{name}/email.subject", "{{ customer.first_name }}, come back")
        shop.template(f"{name}/email.txt", "EMAIL for {{ customer.first_name }}"
                      "{% if promo %} code {{ promo.code }}{% endif %}")
        shop.template(f"{name}/sms.txt", "SMS for {{ customer.first_name }}"
                      "{% if promo %} code {{ promo.code }}{% endif %}")
    shop.cli("import", "customers", str(shop.csv("customers.csv", PEOPLE)))
    orders = [{"id": f"o-{p['id']}", "customer_id": p["id"], "total": "10", "currency": "UAH",
               "placed_at": (NOW - timedelta(days=8 if p["id"] == "recent" else 120))
               .isoformat()} for p in PEOPLE]
    shop.cli("import", "orders", str(shop.csv("orders.csv", orders)))


def switch_offers_off(shop: Shop, customer_id: str, email: str) -> None:
    """The customer unticks every topic on the preference page (over HTTP)."""
    import httpx

    token = token_for(customer_id, email)
    with serve(web_state(shop)) as base, httpx.Client(base_url=base) as client:
        page = client.get(f"/preferences/{token}")
        address = re.search(r'name="address" value="(\d+)"', page.text)
        assert address is not None, page.text
        saved = client.post(f"/preferences/{token}", data={"address": address.group(1)})
        assert saved.status_code == 200


def outbox_by_customer(shop: Shop, campaign: str) -> dict[str, Any]:
    engine = create_engine(shop.db_url())
    with engine.connect() as conn:
        found = {r.customer_id: r for r in conn.execute(
            select(outbox).where(outbox.c.campaign == campaign))}
    engine.dispose()
    return found


def preview(shop: Shop, customer: str, *extra: str) -> str:
    return str(shop.cli("preview", "win_back", "--customer", customer, *extra).output)


def test_preview_tells_what_run_once_then_does(shop: Shop) -> None:
    # Given a shop where Bob already had this week's one message (the global cap) ...
    build(shop)
    shop.cli("run-once", "news")
    assert list(outbox_by_customer(shop, "news")) == ["capped"]
    # ... and Ann switched the campaign's topic off
    switch_offers_off(shop, "no_offers", "ann@example.com")

    # When each customer is previewed
    shown = {p["id"]: preview(shop, p["id"]) for p in PEOPLE}

    # Then each preview says what run-once does next
    shop.cli("run-once", "win_back")
    rows = outbox_by_customer(shop, "win_back")

    # SMS, not the unconsented email on file: the text shown is the SMS
    assert "run-once would send this by sms" in shown["sms_only"], shown["sms_only"]
    assert "email: not consented" in shown["sms_only"]
    assert "win_back -> sms for customer sms_only" in shown["sms_only"]
    assert "SMS for Олена code WB-" in shown["sms_only"]
    assert "EMAIL for" not in shown["sms_only"]
    assert (rows["sms_only"].channel, rows["sms_only"].status) == ("sms", "sent")

    # outside the segment: no row at all
    assert "run-once would not message this customer: not in segment 'lapsed'" \
        in shown["recent"], shown["recent"]
    assert "recent" not in rows

    # Skips, named as the outbox records them
    assert "run-once would skip this customer: capped:global 1/7d" in shown["capped"], \
        shown["capped"]
    assert (rows["capped"].status, rows["capped"].reason) == ("skipped", "capped:global 1/7d")
    assert "run-once would skip this customer: topic_opted_out" in shown["no_offers"], \
        shown["no_offers"]
    assert (rows["no_offers"].status, rows["no_offers"].reason) == \
        ("skipped", "topic_opted_out")
    # both channels reachable: the first in the campaign's order
    assert "run-once would send this by email" in shown["both"]
    assert (rows["both"].channel, rows["both"].status) == ("email", "sent")

    # The promo code shown is a stand-in of the real code's length, and says so
    assert re.search(r"code WB-X{9}\b", shown["sms_only"]), shown["sms_only"]
    assert "stand-in" in shown["sms_only"]

    # And afterwards: already sent, not again
    again = preview(shop, "sms_only")
    assert "run-once would not send it again: already planned or sent" in again, again


def test_channel_forces_a_channel_and_says_what_run_once_would_do(shop: Shop) -> None:
    build(shop)
    forced = preview(shop, "sms_only", "--channel", "email")
    assert "win_back -> email for customer sms_only" in forced
    assert "EMAIL for Олена" in forced and "Subject: Олена, come back" in forced
    assert "--channel email: run-once would send this by sms, not email " \
           "(email: not consented)" in forced, forced
    # forcing the channel the planner picks anyway says so
    same = preview(shop, "sms_only", "--channel", "sms")
    assert "run-once would send this by sms" in same and "not sms" not in same
    assert "SMS for Олена" in same


def test_preview_of_a_customer_with_no_reachable_channel(shop: Shop) -> None:
    build(shop)
    shop.cli("import", "customers", str(shop.csv("more.csv", [
        {"id": "nobody", "name": "No Body", "email": "nobody@example.com",
         "email_consent": "no"}])))
    shop.cli("import", "orders", str(shop.csv("more_orders.csv", [
        {"id": "o-nobody", "customer_id": "nobody", "total": "5", "currency": "UAH",
         "placed_at": (NOW - timedelta(days=200)).isoformat()}])))
    out = preview(shop, "nobody")
    assert "run-once would skip this customer: opted_out" in out, out
    assert "email: opted out" in out and "sms: no address" in out
    shop.cli("run-once", "win_back")
    row = outbox_by_customer(shop, "win_back")["nobody"]
    assert (row.status, row.reason) == ("skipped", "opted_out")


@pytest.mark.parametrize("shop_fixture", ["pg_shop"])
def test_preview_uses_the_planner_on_postgresql(request: pytest.FixtureRequest,
                                                shop_fixture: str) -> None:
    shop: Shop = request.getfixturevalue(shop_fixture)
    build(shop)
    out = preview(shop, "sms_only")
    assert "run-once would send this by sms" in out, out
    assert "not in segment 'lapsed'" in preview(shop, "recent")
