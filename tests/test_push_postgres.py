"""Web push flows on PostgreSQL (subscription upserts, 410 delete + suppression, consent).

Uses the throwaway server of tests/pg.py (skipped without PostgreSQL binaries,
a failure with DISPATCHER_REQUIRE_POSTGRES=1).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from dispatcher.app import load, open_store
from dispatcher.web.app import WebState, create_app

from . import test_push_channel, test_push_web
from .push_service import PushService
from .push_shop import setup_shop
from .shop import Shop


@pytest.fixture
def push() -> Iterator[PushService]:
    with PushService() as service:
        yield service


@pytest.fixture
def pg_client(pg_shop: Shop, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("DISPATCHER_SECRET", "test-secret-for-push")
    setup_shop(pg_shop, monkeypatch, [{"id": "c1", "name": "Olena"},
                                      {"id": "c2", "name": "Ivan"}])
    loaded = load(str(pg_shop.config_path))
    engine = open_store(loaded)
    with TestClient(create_app(WebState(loaded, engine, {}))) as client:
        yield client
    engine.dispose()


def test_410_deletes_only_that_subscription(pg_shop: Shop, monkeypatch: pytest.MonkeyPatch,
                                             push: PushService) -> None:
    test_push_channel.test_410_deletes_that_subscription_only_and_the_next_campaign_uses_the_other(
        pg_shop, monkeypatch, push)


def test_429_retried_once(pg_shop: Shop, monkeypatch: pytest.MonkeyPatch,
                          push: PushService) -> None:
    test_push_channel.test_429_is_retried_after_retry_after_and_delivered_once(
        pg_shop, monkeypatch, push)


def test_forged_token_changes_nothing(pg_client: TestClient, pg_shop: Shop,
                                      push: PushService) -> None:
    test_push_web.test_forged_token_is_refused_and_changes_nothing(pg_client, pg_shop, push, 1)


def test_subscribe_unsubscribe_resubscribe(pg_client: TestClient, pg_shop: Shop,
                                           push: PushService) -> None:
    test_push_web.test_a_browser_belongs_to_the_customer_who_subscribed_last(
        pg_client, pg_shop, push)
    test_push_web.test_subscribing_again_after_unsubscribe_is_new_consent(
        pg_client, pg_shop, push)
