"""An A/B test on a sequence: each arm's own template folder, one subfolder per step."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from dispatcher.config.load import load_config
from dispatcher.experiments.assign import assign
from dispatcher.mechanics.sequences import step_times

from .mechanics_peers import NOW, email_channel, outbox_rows, received, tick
from .shop import Shop
from .smtp_server import SMTPServer

KYIV = ZoneInfo("Europe/Kyiv")
SALE_DAY = (NOW.replace(tzinfo=ZoneInfo("UTC")).astimezone(KYIV) - timedelta(days=2)).date()
CUSTOMERS = [f"vip{n}" for n in range(12)]


def test_each_arm_gets_its_own_step_templates(shop: Shop, smtp: SMTPServer) -> None:
    shop.write_config(email_channel(smtp.port), """
privileged:
  consent: email
""", f"""
closed_sale:
  segment: privileged
  starts_at: {SALE_DAY.isoformat()}
  grace: 2h
  steps:
    - {{name: announce, at: -1d}}
    - {{name: opens_today, at: "0d 09:00"}}
  variants:
    plain: {{weight: 1}}
    bold: {{weight: 1, template: closed_sale_bold}}
""")
    for folder, tone in (("closed_sale", "plain"), ("closed_sale_bold", "bold")):
        for step in ("announce", "opens_today"):
            shop.template(f"{folder}/{step}/email.subject", f"{tone} {step}")
            shop.template(f"{folder}/{step}/email.txt", f"{tone} {step}")
    shop.cli("validate")
    shop.cli("import", "customers", str(shop.jsonl("customers.jsonl", [
        {"id": cid, "name": cid.title(), "email": f"{cid}@example.com", "email_consent": "yes"}
        for cid in CUSTOMERS])))
    campaign = load_config(shop.config_path).config.campaigns["closed_sale"]
    arm = {cid: assign("closed_sale", campaign, cid) for cid in CUSTOMERS}
    assert set(arm.values()) == {"plain", "bold"}  # twelve ids land in both arms

    # Both steps are in the past: tick a minute after each, as the scheduler would.
    for step in step_times(campaign, "Europe/Kyiv"):
        tick(shop, "closed_sale", step.at + timedelta(minutes=1))

    expected = sorted((f"{cid}@example.com", f"{arm[cid]} {step}")
                      for cid in CUSTOMERS for step in ("announce", "opens_today"))
    assert sorted(received(smtp)) == expected
    rows = outbox_rows(shop)
    assert {(r.customer_id, r.step, r.variant) for r in rows} == {
        (cid, step, arm[cid]) for cid in CUSTOMERS for step in ("announce", "opens_today")}
