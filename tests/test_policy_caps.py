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


def test_a_capped_channel_falls_back_to_the_next_one_with_room(shop: Shop,
                                                                smtp: SMTPServer) -> None:
    people = [{"id": f"c{n}", "name": f"Person {n}", "email": f"p{n}@example.com",
               "email_consent": "yes", "phone": f"+38050123456{n}", "sms_consent": "yes"}
              for n in (1, 2)]
    setup_shop(shop, smtp.port,
               campaign("flash", once_per="run", channels="[sms, email]")
               + campaign("sms_only", once_per="run", channels="[sms]", priority="50"),
               "caps:\n  channels:\n    sms: 1 per 7d\n", customers=people)
    text = shop.config_path.read_text(encoding="utf-8")
    # SMS without a Twilio account: the file transport (outbox/sms/)
    shop.config_path.write_text(text.replace("channels:\n  email:", "channels:\n  sms: {}\n"
                                             "  email:", 1), encoding="utf-8")
    # The first run texts both customers
    shop.cli("run-once", "flash", "--at", days_ago(2))
    assert {(r.customer_id, r.channel) for r in outbox_rows(shop) if r.status == "sent"} == \
        {("c1", "sms"), ("c2", "sms")}
    # The next day their weekly SMS is used up: the same campaign goes by email
    # instead of not at all, and a campaign that only has SMS is capped
    assert "via email" in shop.cli("plan", "flash", "--at", days_ago(1)).output
    first_run = outbox_rows(shop)[0].run_id
    shop.cli("run-once", "flash", "sms_only", "--at", days_ago(1))
    second = {(r.customer_id, r.campaign, r.channel, r.status, r.reason)
              for r in outbox_rows(shop) if r.run_id != first_run}
    assert second == {("c1", "flash", "email", "sent", None),
                      ("c2", "flash", "email", "sent", None),
                      ("c1", "sms_only", "sms", "skipped", "capped:sms 1/7d"),
                      ("c2", "sms_only", "sms", "skipped", "capped:sms 1/7d")}
    assert sorted(smtp.handler.recipients()) == ["p1@example.com", "p2@example.com"]
