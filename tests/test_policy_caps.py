"""Frequency caps: shared across campaigns, rolling windows, priority, exemptions."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from dispatcher.store.schema import outbox

from .policy_peers import (
    SEGMENTS,
    campaign,
    days_ago,
    email_channel,
    engine_of,
    outbox_rows,
    setup_shop,
)
from .shop import Shop
from .smtp_server import SMTPServer

# Listed low priority first, so the order in the file does not decide who wins.
TWO_EVENING_CAMPAIGNS = (
    campaign("win_back", once_per="run", schedule='"0 19 * * *"')
    + campaign("evening_sale", once_per="run", schedule='"0 19 * * *"', priority="200")
    + campaign("order_update", once_per="run", schedule='"0 19 * * *"', kind="transactional",
               topic="order_news")
)
SHARED_CAP = "caps:\n  global: 1 per 1d\n"


def test_two_campaigns_the_same_evening_share_a_cap_of_one_a_day(shop: Shop,
                                                                 smtp: SMTPServer) -> None:
    setup_shop(shop, smtp.port, TWO_EVENING_CAMPAIGNS, SHARED_CAP)
    # When both marketing campaigns and a transactional one run the same evening
    out = shop.cli("run-once", "win_back", "evening_sale", "order_update",
                   "--at", days_ago(1)).output
    assert "capped:global 1/1d=2" in out
    # Then each customer gets one marketing email (the higher-priority campaign's)
    # plus the transactional one, which the cap neither blocks nor counts
    rows = outbox_rows(shop)
    sent = sorted((r.customer_id, r.campaign) for r in rows if r.status == "sent")
    assert sent == [("c1", "evening_sale"), ("c1", "order_update"),
                    ("c2", "evening_sale"), ("c2", "order_update")]
    capped = {(r.customer_id, r.campaign, r.reason) for r in rows if r.status == "skipped"}
    assert capped == {("c1", "win_back", "capped:global 1/1d"),
                      ("c2", "win_back", "capped:global 1/1d")}
    assert len(smtp.handler.received) == 4
    assert "capped:global 1/1d" in shop.cli("plan", "win_back").output


def test_cap_window_is_rolling(shop: Shop, smtp: SMTPServer) -> None:
    setup_shop(shop, smtp.port, campaign("win_back", once_per="run"),
               "caps:\n  global: 1 per 2d\n")
    shop.cli("run-once", "win_back", "--at", days_ago(1))
    assert len(smtp.handler.received) == 2
    # A day later: still inside the 2-day window
    age_sends(shop, timedelta(days=1))
    assert "capped:global 1/2d" in shop.cli("plan", "win_back").output
    # Two days and a minute later: out of the window, the customers can be reached again
    age_sends(shop, timedelta(days=1, minutes=1))
    out = shop.cli("plan", "win_back").output
    assert "capped" not in out
    shop.cli("run-once", "win_back")
    assert len(smtp.handler.received) == 4


def age_sends(shop: Shop, by: timedelta) -> None:
    """Move every recorded send back in time (as if ``by`` had passed)."""
    engine = engine_of(shop)
    with engine.begin() as conn:
        rows = conn.execute(select(outbox.c.id, outbox.c.sent_at, outbox.c.not_before)).all()
        for row in rows:
            conn.execute(update(outbox).where(outbox.c.id == row.id).values(
                sent_at=row.sent_at and row.sent_at - by, not_before=row.not_before - by))
    engine.dispose()


def test_channel_and_campaign_caps_are_named(shop: Shop, smtp: SMTPServer) -> None:
    setup_shop(shop, smtp.port,
               campaign("win_back", once_per="run", cap='"1 per 30d"')
               + campaign("news", once_per="run", priority="50"),
               "caps:\n  channels:\n    email: 3 per 7d\n")
    shop.cli("run-once", "win_back", "news", "--at", days_ago(3))
    assert len(smtp.handler.received) == 4  # one each from both campaigns
    # win_back's own cap bites; news still has room under the email cap, once
    assert "capped:campaign 1/30d" in shop.cli("plan", "win_back").output
    shop.cli("run-once", "win_back", "news", "--at", days_ago(2))
    assert len(smtp.handler.received) == 6
    assert "capped:email 3/7d" in shop.cli("plan", "news").output
    shop.cli("run-once", "win_back", "news")
    assert len(smtp.handler.received) == 6


def test_bad_cap_is_a_located_config_error(shop: Shop, smtp: SMTPServer) -> None:
    shop.write_config(email_channel(smtp.port), SEGMENTS, campaign("win_back"))
    shop.copy_templates("win_back")
    with open(shop.config_path, "a", encoding="utf-8") as fh:
        fh.write("caps:\n  global: three a week\n")
    result = shop.cli("validate", expect=2)
    assert "config.yaml:" in result.output
    assert "caps.global: expected a cap like '3 per 7d'" in " ".join(result.output.split())


def test_cap_on_unknown_channel_is_a_located_config_error(shop: Shop,
                                                          smtp: SMTPServer) -> None:
    shop.write_config(email_channel(smtp.port), SEGMENTS, campaign("win_back"))
    shop.copy_templates("win_back")
    with open(shop.config_path, "a", encoding="utf-8") as fh:
        fh.write("caps:\n  channels:\n    emial: 2 per 7d\n")
    result = shop.cli("validate", expect=2)
    text = " ".join(result.output.split())
    assert "config.yaml:" in text and "caps.channels.emial: unknown channel 'emial'" in text
