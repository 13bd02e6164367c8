"""The mechanics on PostgreSQL: triggers, once_per keys, sequences, offers, promo codes.

Uses the throwaway server of tests/pg.py (skipped without PostgreSQL binaries,
a failure with DISPATCHER_REQUIRE_POSTGRES=1).
"""

from __future__ import annotations

import pytest

from . import (
    test_mechanics_events,
    test_mechanics_offer,
    test_mechanics_once_per,
    test_mechanics_promo,
    test_mechanics_sequence,
)
from .shop import Shop
from .smtp_server import SMTPServer


def test_abandoned_cart(pg_shop: Shop, smtp: SMTPServer) -> None:
    test_mechanics_once_per.test_abandoned_cart_once_per_cart_and_not_after_an_order(
        pg_shop, smtp)


def test_order_milestone(pg_shop: Shop, smtp: SMTPServer) -> None:
    test_mechanics_once_per.test_order_milestone_once_per_order(pg_shop, smtp)


def test_survey_birthday_win_back_tier(pg_shop: Shop, smtp: SMTPServer) -> None:
    test_mechanics_once_per.test_post_purchase_survey_once_per_delivered_order(pg_shop, smtp)
    smtp.handler.received.clear()
    test_mechanics_once_per.test_tier_once_per_tier(pg_shop, smtp)


def test_birthday_and_win_back(pg_shop: Shop, smtp: SMTPServer) -> None:
    test_mechanics_once_per.test_birthday_once_per_year_and_win_back_once_per_30_days(
        pg_shop, smtp)


def test_sequence(pg_shop: Shop, smtp: SMTPServer) -> None:
    test_mechanics_sequence.test_four_steps_at_their_times_and_a_converted_customer_leaves(
        pg_shop, smtp)


def test_offer(pg_shop: Shop, smtp: SMTPServer) -> None:
    test_mechanics_offer.test_deadline_in_each_customers_locale_and_time_zone(pg_shop, smtp)


def test_promo(pg_shop: Shop, smtp: SMTPServer) -> None:
    test_mechanics_promo.test_codes_are_sent_stored_redeemed_once_exported_and_reported(
        pg_shop, smtp)


def test_events(pg_shop: Shop, smtp: SMTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    events = test_mechanics_events
    with events.open_web(pg_shop, smtp, monkeypatch) as web:
        events.test_bad_payload_is_a_located_error_and_nothing_is_written(web)
        events.test_cart_event_feeds_the_abandoned_cart_trigger_and_order_event_stops_it(
            web, pg_shop, smtp)
