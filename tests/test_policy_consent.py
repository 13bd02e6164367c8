"""Consent history, re-imports, erasure, and opt-outs that arrive mid-run."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from dispatcher.app import load
from dispatcher.clock import clock_at
from dispatcher.plan.planner import plan_run
from dispatcher.policy.consent import history, opt_out_everywhere, record_consent
from dispatcher.policy.forget import pseudonym
from dispatcher.store.db import address_hash
from dispatcher.store.schema import addresses, consent_events, customers, topic_optouts

from .policy_peers import (
    NOW,
    campaign,
    consent_of,
    days_ago,
    engine_of,
    iso,
    outbox_rows,
    setup_shop,
    suppressed_hashes,
)
from .shop import Shop
from .smtp_server import SMTPServer

CAMPAIGNS = campaign("win_back", once_per="run")
JANE = {"id": "c2", "name": "Jane Doe", "locale": "en", "email": "jane@example.com"}


def reimport(shop: Shop, name: str, **consent: str) -> None:
    shop.cli("import", "customers", str(shop.csv(name, [{**JANE, **consent}])))


def test_reimport_does_not_override_a_later_opt_out(shop: Shop, smtp: SMTPServer) -> None:
    setup_shop(shop, smtp.port, CAMPAIGNS, customers=[
        {"id": "c1", "email": "olena@example.com", "email_consent": "yes"},
        {**JANE, "email_consent": "yes", "consent_at": days_ago(10)}])
    engine = engine_of(shop)
    # Given Jane opted out an hour ago (e.g. through the support desk)
    with engine.begin() as conn:
        record_consent(conn, channel="email", address="jane@example.com", status="withdrawn",
                       source="support ticket", at=NOW - timedelta(hours=1))
    # When the shop's nightly export still says "yes", undated or dated before the opt-out
    reimport(shop, "undated.csv", email_consent="yes")
    reimport(shop, "older.csv", email_consent="yes", consent_at=days_ago(3),
             consent_source="checkout")
    # Then she stays opted out and the run does not reach her
    assert consent_of(shop, "c2") == "withdrawn"
    shop.cli("run-once", "win_back")
    assert smtp.handler.recipients() == ["olena@example.com"]

    # A consent given after the opt-out (a newer event) does re-subscribe her
    reimport(shop, "newer.csv", email_consent="yes", consent_at=iso(NOW),
             consent_source="checkout", consent_text="Send me offers")
    assert consent_of(shop, "c2") == "granted"
    assert address_hash("email", "jane@example.com") not in suppressed_hashes(shop)
    with engine.connect() as conn:
        events = [(e.status, e.source, e.text) for e in history(conn, "c2")]
    assert events == [("granted", "import", None), ("withdrawn", "support ticket", None),
                      ("granted", "checkout", "Send me offers")]
    table = shop.cli("consent", "c2").output
    cells = [[c.strip() for c in line.split("│")[2:-1]] for line in table.splitlines()
             if line.count("│") == 6]
    assert cells == [["email", "granted", "import", ""],
                     ["email", "withdrawn", "support ticket", ""],
                     ["email", "granted", "checkout", "Send me offers"]]


def test_opt_out_everywhere_covers_every_channel(shop: Shop, smtp: SMTPServer) -> None:
    setup_shop(shop, smtp.port, CAMPAIGNS, customers=[
        {"id": "c1", "email": "olena@example.com", "email_consent": "yes",
         "phone": "+380501234567", "sms_consent": "yes"}])
    engine = engine_of(shop)
    with engine.begin() as conn:
        assert opt_out_everywhere(conn, customer_id="c1", source="sms STOPALL") == 2
    with engine.connect() as conn:
        states = set(conn.execute(select(addresses.c.channel, addresses.c.consent)))
    assert states == {("email", "withdrawn"), ("sms", "withdrawn")}
    assert set(suppressed_hashes(shop).values()) == {"opted_out"}
    assert len(suppressed_hashes(shop)) == 2


def test_forget_then_reimport_stays_suppressed(shop: Shop, smtp: SMTPServer) -> None:
    setup_shop(shop, smtp.port, CAMPAIGNS)
    shop.cli("run-once", "win_back", "--at", days_ago(1))
    assert sorted(smtp.handler.recipients()) == ["jane@example.com", "olena@example.com"]

    out = shop.cli("forget", "c2", "--yes").output
    assert "erased customer c2" in out
    engine = engine_of(shop)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(customers)
                            .where(customers.c.id == "c2")).scalar() == 0
        assert conn.execute(select(func.count()).select_from(consent_events)
                            .where(consent_events.c.customer_id == "c2")).scalar() == 0
    kept = [r for r in outbox_rows(shop) if r.customer_id == pseudonym("c2")]
    assert len(kept) == 1 and kept[0].status == "sent" and kept[0].address_id is None
    assert not any(r.customer_id == "c2" for r in outbox_rows(shop))
    assert suppressed_hashes(shop) == {address_hash("email", "jane@example.com"): "erased"}

    # When the shop imports her again (same address, consent yes, dated now)
    reimport(shop, "again.csv", email_consent="yes", consent_at=iso(NOW))
    # Then the next run still does not reach her, and plan says why
    assert "suppressed" in shop.cli("plan", "win_back").output
    shop.cli("run-once", "win_back")
    assert sorted(smtp.handler.recipients()) == ["jane@example.com", "olena@example.com",
                                                 "olena@example.com"]
    assert shop.cli("forget", "nobody", "--yes", expect=1).exit_code == 1


def test_opt_out_between_plan_and_send_stops_the_message(shop: Shop,
                                                         smtp: SMTPServer) -> None:
    setup_shop(shop, smtp.port, CAMPAIGNS, customers=[
        {"id": f"c{i}", "email": f"p{i}@example.com", "email_consent": "yes"}
        for i in range(1, 5)])
    loaded = load(str(shop.config_path))
    engine = engine_of(shop)
    from dispatcher.app import latest_fire_time

    # Given the run is planned for all four
    result = plan_run(engine, loaded, "win_back", latest_fire_time(loaded, "win_back", NOW),
                      NOW)
    assert result.funnel.to_send == 4
    # When, before the sender gets to it, c1 unsubscribes and c2 switches offers off
    with engine.begin() as conn:
        record_consent(conn, channel="email", address="p1@example.com", status="withdrawn",
                       source="one-click")
        conn.execute(topic_optouts.insert().values(customer_id="c2", topic="offers",
                                                   source="preference page", created_at=NOW))
    # Same scheduled time (the clock pinned to NOW: at 11:00 Kyiv a new run would fire)
    shop.cli("run-once", "win_back", clock=clock_at(NOW))  # sends what was planned
    # Then only c3 and c4 get it, and the other two rows say why
    assert sorted(smtp.handler.recipients()) == ["p3@example.com", "p4@example.com"]
    reasons = {r.customer_id: (r.status, r.reason) for r in outbox_rows(shop)}
    assert reasons["c1"] == ("skipped", "suppressed")
    assert reasons["c2"] == ("skipped", "topic_opted_out")
