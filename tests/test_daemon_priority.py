"""Campaigns the scheduler fires at the same minute are planned highest priority first,
so the shared frequency cap goes to the campaign the marketer ranked higher."""

from __future__ import annotations

import asyncio

from dispatcher.app import open_store
from dispatcher.config.load import load_config
from dispatcher.daemon.service import Daemon

from .mechanics_peers import customers, email_channel, outbox_rows, simple_templates
from .shop import Shop

CAMPAIGNS = """
{first}:
  segment: reachable
  channels: [email]
  schedule: "0 11 * * *"
  priority: {first_priority}
{second}:
  segment: reachable
  channels: [email]
  schedule: "0 11 * * *"
  priority: {second_priority}
"""


def plan_same_minute(shop: Shop, fired_first: str, fired_second: str) -> dict[str, set[str]]:
    loaded = load_config(shop.config_path)
    daemon = Daemon(loaded, serve_http=False)
    daemon._engine = open_store(loaded)

    async def fire_both() -> None:
        # APScheduler starts same-minute jobs a few milliseconds apart, in any order.
        await asyncio.gather(daemon._fire(fired_first), daemon._fire(fired_second))

    asyncio.run(fire_both())
    daemon._engine.dispose()
    by_campaign: dict[str, set[str]] = {}
    for row in outbox_rows(shop):
        by_campaign.setdefault(row.campaign, set()).add(f"{row.status}:{row.reason}")
    return by_campaign


def setup(shop: Shop, port: int = 2525) -> None:  # planning only: nothing is sent
    shop.write_config(email_channel(port), "reachable:\n  consent: email\n",
                      CAMPAIGNS.format(first="newsletter", first_priority=10,
                                       second="abandoned_cart", second_priority=300))
    shop.config_path.write_text(shop.config_path.read_text()
                                + "caps:\n  global: 1 per 7d\n", encoding="utf-8")
    for name in ("newsletter", "abandoned_cart"):
        simple_templates(shop, name, name)
    customers(shop, ["ann", "bob"])


def test_higher_priority_gets_the_cap_whichever_job_fires_first(shop: Shop) -> None:
    setup(shop)
    rows = plan_same_minute(shop, "newsletter", "abandoned_cart")
    assert rows["abandoned_cart"] == {"pending:None"}
    assert len(rows["newsletter"]) == 1
    (newsletter,) = rows["newsletter"]
    assert newsletter.startswith("skipped:capped")
