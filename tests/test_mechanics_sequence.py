"""The closed-sale warm-up: four steps at their times, each with its own template,
and a customer who ordered after step 2 leaves the sequence."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from dispatcher.config.load import load_config
from dispatcher.mechanics.sequences import step_times

from .mechanics_peers import NOW, email_channel, orders, received, tick
from .shop import Shop
from .smtp_server import SMTPServer

KYIV = ZoneInfo("Europe/Kyiv")
# The sale opened (Kyiv date) six days ago, so all four steps are in the past.
SALE_DAY = (NOW.replace(tzinfo=ZoneInfo("UTC")).astimezone(KYIV) - timedelta(days=6)).date()


def local(day_offset: int, hour: int, minute: int = 0) -> datetime:
    moment = datetime.combine(SALE_DAY + timedelta(days=day_offset), datetime.min.time())
    moment = moment.replace(hour=hour, minute=minute, tzinfo=KYIV)
    return moment.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def build(shop: Shop, smtp: SMTPServer, keep_last_day: bool = False) -> None:
    shop.write_config(email_channel(smtp.port), """
privileged:
  all:
    - consent: email
    - attributes.vip: true
""", f"""
closed_sale:
  segment: privileged
  starts_at: {SALE_DAY.isoformat()}
  grace: 2h
  steps:
    - {{name: announce, at: -3d}}
    - {{name: reminder, at: "-1d 18:00"}}
    - {{name: opens_today, at: "0d 09:00"}}
    - {{name: last_day, after: "2d 20:00", keep_converted: {str(keep_last_day).lower()}}}
""")
    for step, subject in [("announce", "In 3 days: our closed sale"),
                          ("reminder", "Tomorrow: the closed sale"),
                          ("opens_today", "The closed sale opens today"),
                          ("last_day", "Last day of the closed sale")]:
        shop.template(f"closed_sale/{step}/email.subject", subject)
        shop.template(f"closed_sale/{step}/email.txt", f"{subject}, {{{{ customer.first_name }}}}")
    shop.cli("import", "customers", str(shop.jsonl("customers.jsonl", [
        {"id": cid, "name": cid.title(), "email": f"{cid}@example.com", "email_consent": "yes",
         "attributes": {"vip": cid != "plain"}} for cid in ("vip1", "vip2", "plain")])))


def test_step_times_follow_offsets(shop: Shop, smtp: SMTPServer) -> None:
    build(shop, smtp)
    loaded = load_config(shop.config_path)
    times = [(t.step.name, t.at) for t in step_times(loaded.config.campaigns["closed_sale"],
                                                      "Europe/Kyiv")]
    assert times == [("announce", local(-3, 10)), ("reminder", local(-1, 18)),
                     ("opens_today", local(0, 9)), ("last_day", local(2, 20))]


def test_four_steps_at_their_times_and_a_converted_customer_leaves(
        shop: Shop, smtp: SMTPServer) -> None:
    build(shop, smtp)
    steps = [local(-3, 10), local(-1, 18), local(0, 9), local(2, 20)]
    # Given: before the first step, nothing is due
    tick(shop, "closed_sale", steps[0] - timedelta(minutes=5))
    assert received(smtp) == []
    # When: the first two steps fire (and a tick between them plans nothing new)
    tick(shop, "closed_sale", steps[0] + timedelta(minutes=1))
    tick(shop, "closed_sale", steps[0] + timedelta(hours=5))
    tick(shop, "closed_sale", steps[1] + timedelta(minutes=1))
    assert sorted(received(smtp)) == sorted([
        ("vip1@example.com", "In 3 days: our closed sale"),
        ("vip2@example.com", "In 3 days: our closed sale"),
        ("vip1@example.com", "Tomorrow: the closed sale"),
        ("vip2@example.com", "Tomorrow: the closed sale"),
    ])
    # vip2 orders after step 2
    orders(shop, [{"id": "p1", "customer_id": "vip2",
                   "placed_at": steps[1] + timedelta(hours=2)}])
    tick(shop, "closed_sale", steps[2] + timedelta(minutes=1))
    tick(shop, "closed_sale", steps[2] + timedelta(minutes=2))  # same run: once
    tick(shop, "closed_sale", steps[3] + timedelta(minutes=30))
    # Then: vip1 got all four in order, vip2 only the first two, "plain" nothing
    assert [s for r, s in received(smtp) if r == "vip1@example.com"] == [
        "In 3 days: our closed sale", "Tomorrow: the closed sale",
        "The closed sale opens today", "Last day of the closed sale"]
    assert [s for r, s in received(smtp) if r == "vip2@example.com"] == [
        "In 3 days: our closed sale", "Tomorrow: the closed sale"]
    assert all(r != "plain@example.com" for r, _ in received(smtp))


def test_keep_converted_step_still_reaches_buyers(shop: Shop, smtp: SMTPServer) -> None:
    build(shop, smtp, keep_last_day=True)
    orders(shop, [{"id": "p1", "customer_id": "vip2", "placed_at": local(-2, 12)}])
    tick(shop, "closed_sale", local(-3, 10, 1))
    tick(shop, "closed_sale", local(0, 9, 1))
    tick(shop, "closed_sale", local(2, 20, 1))
    vip2 = [s for r, s in received(smtp) if r == "vip2@example.com"]
    assert vip2 == ["In 3 days: our closed sale", "Last day of the closed sale"]


def test_a_missed_step_past_its_grace_is_not_sent_late(shop: Shop, smtp: SMTPServer) -> None:
    build(shop, smtp)
    tick(shop, "closed_sale", local(-3, 13))  # 3 h after announce; grace is 2 h
    assert received(smtp) == []


def test_plan_previews_the_current_step_with_conversions_out(shop: Shop,
                                                             smtp: SMTPServer) -> None:
    build(shop, smtp)
    orders(shop, [{"id": "p1", "customer_id": "vip2", "placed_at": local(-2, 12)}])
    out = shop.cli("plan", "closed_sale", "--at", local(0, 9, 30).isoformat()).output
    assert "closed_sale step opens_today" in " ".join(out.split())
    # vip2 ordered after the sequence began: only vip1 is still in it
    assert re.search(r"= to send\s*│\s*1\b", out), out
    assert received(smtp) == []


def test_planning_a_sequence_without_a_step_plans_nobody(shop: Shop, smtp: SMTPServer) -> None:
    from dispatcher.app import open_store
    from dispatcher.plan.planner import plan_run

    build(shop, smtp)
    loaded = load_config(shop.config_path)
    engine = open_store(loaded)
    result = plan_run(engine, loaded, "closed_sale", local(0, 9), local(0, 9, 1))
    assert result.funnel.segment == 0
    engine.dispose()


def test_preview_shows_the_current_step(shop: Shop, smtp: SMTPServer) -> None:
    build(shop, smtp)  # the sale opened six days ago: "last_day" is the latest step
    out = shop.cli("preview", "closed_sale", "--customer", "vip1").output
    assert "Last day of the closed sale, Vip1" in out
