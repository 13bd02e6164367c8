"""The policy flows on PostgreSQL, and planners racing for the same cap.

Uses the throwaway server of tests/pg.py (skipped without PostgreSQL binaries,
a failure with DISPATCHER_REQUIRE_POSTGRES=1).
"""

from __future__ import annotations

import threading
from datetime import datetime

from sqlalchemy import func, select

from dispatcher.app import load
from dispatcher.plan.planner import plan_run
from dispatcher.store.schema import outbox

from . import (
    test_policy_caps,
    test_policy_consent,
    test_policy_quiet,
    test_policy_unsubscribe,
)
from .policy_peers import campaign, engine_of, setup_shop
from .shop import Shop
from .smtp_server import SMTPServer


def test_shared_cap(pg_shop: Shop, smtp: SMTPServer) -> None:
    test_policy_caps.test_two_campaigns_the_same_evening_share_a_cap_of_one_a_day(pg_shop,
                                                                                 smtp)


def test_one_click(pg_shop: Shop, smtp: SMTPServer) -> None:
    test_policy_unsubscribe.test_one_click_post_suppresses_and_next_run_sends_nothing(
        pg_shop, smtp)


def test_quiet_hours(pg_shop: Shop, smtp: SMTPServer) -> None:
    test_policy_quiet.test_customers_in_tokyo_and_new_york_planned_at_the_same_utc_time(
        pg_shop, smtp)
    assert pg_shop.db_url().startswith("postgresql")


def test_forget_and_reimport(pg_shop: Shop, smtp: SMTPServer) -> None:
    test_policy_consent.test_forget_then_reimport_stays_suppressed(pg_shop, smtp)


def test_mid_run_opt_out(pg_shop: Shop, smtp: SMTPServer) -> None:
    test_policy_consent.test_opt_out_between_plan_and_send_stops_the_message(pg_shop, smtp)


def test_planners_racing_for_one_cap_do_not_both_win(pg_shop: Shop,
                                                     smtp: SMTPServer) -> None:
    # Given eight campaigns, one customer base, a shared cap of one message a day
    names = [f"sale{i}" for i in range(8)]
    setup_shop(pg_shop, smtp.port, "".join(campaign(n) for n in names),
               "caps:\n  global: 1 per 1d\n",
               customers=[{"id": f"c{i}", "email": f"p{i}@example.com",
                           "email_consent": "yes"} for i in range(20)])
    loaded = load(str(pg_shop.config_path))
    engine = engine_of(pg_shop)
    at = datetime(2026, 3, 8, 11, 0)
    start = threading.Barrier(len(names))
    errors: list[BaseException] = []

    def plan(name: str) -> None:
        try:
            start.wait()
            plan_run(engine, loaded, name, at, at)
        except BaseException as exc:  # reported below
            errors.append(exc)

    # When all eight are planned at the same moment by separate planners
    threads = [threading.Thread(target=plan, args=(n,)) for n in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    # Then each customer has exactly one message pending, the rest are capped skips
    with engine.connect() as conn:
        per_customer = dict(conn.execute(
            select(outbox.c.customer_id, func.count()).where(outbox.c.status == "pending")
            .group_by(outbox.c.customer_id)).all())
        capped = conn.execute(select(func.count()).where(
            outbox.c.reason == "capped:global 1/1d")).scalar()
    assert per_customer == {f"c{i}": 1 for i in range(20)}
    assert capped == 20 * 7
