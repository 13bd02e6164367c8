"""Push subscription endpoints: a signed token decides whose subscription it is."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, select
from starlette.testclient import TestClient

from dispatcher.app import load, open_store
from dispatcher.push.tokens import make_subscribe_token, verify_subscribe_token
from dispatcher.store.schema import addresses, consent_events, customers, outbox
from dispatcher.web.app import WebState, create_app

from .push_service import PushService
from .push_shop import setup_shop
from .shop import Shop

SHOP_ORIGIN = "https://shop.test"


@pytest.fixture
def push() -> Iterator[PushService]:
    with PushService() as service:
        yield service


@pytest.fixture
def client(shop: Shop, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("DISPATCHER_SECRET", "test-secret-for-push")
    setup_shop(shop, monkeypatch, [{"id": "c1", "name": "Olena"}, {"id": "c2", "name": "Ivan"}],
               channel_extra="  allowed_origins: [https://www.shop.test]")
    loaded = load(str(shop.config_path))
    engine = open_store(loaded)
    with TestClient(create_app(WebState(loaded, engine, {}))) as test_client:
        yield test_client
    engine.dispose()


def snapshot(shop: Shop) -> tuple[list[tuple], list[tuple]]:
    engine = create_engine(shop.db_url())
    with engine.connect() as conn:
        people = [tuple(r) for r in conn.execute(select(customers).order_by(customers.c.id))]
        reach = [tuple(r) for r in conn.execute(select(addresses).order_by(addresses.c.id))]
    engine.dispose()
    return people, reach


def push_rows(shop: Shop) -> list:
    engine = create_engine(shop.db_url())
    with engine.connect() as conn:
        result = conn.execute(select(addresses).where(addresses.c.channel == "push")).all()
    engine.dispose()
    return result


def tampered(token: str) -> list[str]:
    body, signature = token.split(".")
    other_body = base64.urlsafe_b64encode(b'["c2",' + str(int(time.time())).encode() + b"]") \
        .rstrip(b"=").decode()
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    return [f"{other_body}.{signature}",  # claims changed, signature kept
            f"{body}.{flipped}",  # signature changed
            body, "", "garbage.token"]


def test_subscribe_with_a_valid_token_stores_the_subscription(
        client: TestClient, shop: Shop, push: PushService) -> None:
    browser = push.subscriber("browser")
    answer = client.post("/push/subscribe", json={
        "token": make_subscribe_token("c1"), "subscription": browser.subscription(),
        "consent_text": "Get our offers as notifications"})
    assert answer.status_code == 201, answer.text
    [row] = push_rows(shop)
    assert (row.customer_id, row.address, row.consent) == ("c1", browser.endpoint, "granted")
    assert row.data == {"keys": {"p256dh": browser.p256dh,
                                 "auth": browser.subscription()["keys"]["auth"]}}
    assert row.consent_text == "Get our offers as notifications"


@pytest.mark.parametrize("case", range(5))
def test_forged_token_is_refused_and_changes_nothing(
        client: TestClient, shop: Shop, push: PushService, case: int) -> None:
    browser = push.subscriber("attacker")
    before = snapshot(shop)
    token = tampered(make_subscribe_token("c1"))[case]
    answer = client.post("/push/subscribe",
                         json={"token": token, "subscription": browser.subscription()})
    assert answer.status_code == 403
    assert snapshot(shop) == before


def test_unsubscribe_link_token_cannot_subscribe(
        client: TestClient, shop: Shop, push: PushService) -> None:
    from dispatcher.links import LinkClaims, make_token

    before = snapshot(shop)
    link_token = make_token(LinkClaims("c1", "email", "0" * 64, "comeback"))
    answer = client.post("/push/subscribe", json={
        "token": link_token, "subscription": push.subscriber("x").subscription()})
    assert answer.status_code == 403 and snapshot(shop) == before


def test_expired_token_is_refused() -> None:
    old = make_subscribe_token("c1", now=time.time() - 8 * 86400)
    assert verify_subscribe_token(old, timedelta(days=7)) is None
    assert verify_subscribe_token(make_subscribe_token("c1"), timedelta(days=7)) == "c1"


@pytest.mark.parametrize("mutate, error", [
    (lambda s: {**s, "endpoint": "ftp://push.example/x"}, "endpoint must be an https URL"),
    (lambda s: {**s, "keys": {**s["keys"], "p256dh": "AAAA"}}, "not a P-256 public key"),
    (lambda s: {**s, "keys": {**s["keys"], "auth": "AAAA"}}, "auth must be 16 bytes"),
    (lambda s: {"endpoint": s["endpoint"]}, "keys must be an object"),
])
def test_malformed_subscription_is_refused(client: TestClient, shop: Shop, push: PushService,
                                           mutate, error: str) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(shop)
    answer = client.post("/push/subscribe", json={
        "token": make_subscribe_token("c1"),
        "subscription": mutate(push.subscriber("b").subscription())})
    assert answer.status_code == 400 and error in answer.json()["error"]
    assert snapshot(shop) == before


def test_a_browser_belongs_to_the_customer_who_subscribed_last(
        client: TestClient, shop: Shop, push: PushService) -> None:
    shared = push.subscriber("family-laptop").subscription()
    for customer in ("c1", "c2"):
        answer = client.post("/push/subscribe", json={
            "token": make_subscribe_token(customer), "subscription": shared})
        assert answer.status_code == 201
    assert [r.customer_id for r in push_rows(shop)] == ["c2"]


def test_unsubscribe_withdraws_and_the_next_run_sends_nothing(
        client: TestClient, shop: Shop, push: PushService) -> None:
    browser = push.subscriber("browser")
    client.post("/push/subscribe", json={"token": make_subscribe_token("c1"),
                                         "subscription": browser.subscription()})
    answer = client.post("/push/unsubscribe", json={"endpoint": browser.endpoint})
    assert answer.json() == {"ok": True, "withdrawn": 1}
    [row] = push_rows(shop)
    assert (row.consent, row.consent_source) == ("withdrawn", "web push unsubscribe")
    engine = create_engine(shop.db_url())
    with engine.connect() as conn:
        events = [(e.customer_id, e.status, e.source, e.text)
                  for e in conn.execute(select(consent_events).order_by(consent_events.c.id))]
    engine.dispose()
    assert events == [("c1", "granted", "web push subscribe", None),
                      ("c1", "withdrawn", "web push unsubscribe", None)]

    shop.cli("run-once", "comeback")
    assert push.attempts == {}
    engine = create_engine(shop.db_url())
    with engine.connect() as conn:
        reasons = {r.customer_id: r.reason for r in conn.execute(select(outbox))}
    engine.dispose()
    assert reasons["c1"] == "opted_out"


def test_subscribed_through_the_endpoint_then_delivered(
        client: TestClient, shop: Shop, push: PushService) -> None:
    key = client.get("/push/key").json()["applicationServerKey"]
    push.expected_vapid_key = key  # the key the browser subscribed with signs the sends
    browser = push.subscriber("browser")
    client.post("/push/subscribe", json={"token": make_subscribe_token("c1"),
                                         "subscription": browser.subscription()})
    shop.cli("run-once", "comeback")
    assert push.problems == [] and push.titles(browser) == ["Olena, we miss you"]


def test_cors_allows_the_shop_origins_only(client: TestClient) -> None:
    for origin in (SHOP_ORIGIN, "https://www.shop.test"):
        answer = client.options("/push/subscribe", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"})
        assert answer.headers["access-control-allow-origin"] == origin
        assert "content-type" in answer.headers["access-control-allow-headers"].lower()
    evil = client.options("/push/subscribe", headers={"Origin": "https://evil.test",
                                                      "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in evil.headers


def test_snippet_and_service_worker_are_served(client: TestClient) -> None:
    snippet = client.get("/push/subscribe.js")
    assert snippet.status_code == 200 and "javascript" in snippet.headers["content-type"]
    assert "DispatcherPush" in snippet.text and "pushManager.subscribe" in snippet.text
    worker = client.get("/push/sw.js")
    assert worker.status_code == 200 and "showNotification" in worker.text


def test_oversized_body_is_refused(client: TestClient, shop: Shop) -> None:
    before = snapshot(shop)
    answer = client.post("/push/subscribe", content=b"{" + b" " * 20000 + b"}",
                         headers={"content-type": "application/json"})
    assert answer.status_code == 413 and snapshot(shop) == before


def test_unsubscribe_between_planning_and_sending_stops_the_message(
        client: TestClient, shop: Shop, push: PushService) -> None:
    from dispatcher.app import latest_fire_time
    from dispatcher.clock import utcnow
    from dispatcher.plan.planner import plan_run

    browser = push.subscriber("browser")
    client.post("/push/subscribe", json={"token": make_subscribe_token("c1"),
                                         "subscription": browser.subscription()})
    # Given the run is planned with a pending push for c1
    loaded = load(str(shop.config_path))
    engine = open_store(loaded)
    now = utcnow()
    plan = plan_run(engine, loaded, "comeback", latest_fire_time(loaded, "comeback", now), now)
    assert plan.funnel.by_channel == {"push": 1}
    engine.dispose()
    # When the customer turns notifications off before the sender gets to it
    client.post("/push/unsubscribe", json={"endpoint": browser.endpoint})
    shop.cli("run-once", "comeback")
    # Then nothing reaches the push service and the row says why
    assert push.attempts == {}
    engine = create_engine(shop.db_url())
    with engine.connect() as conn:
        [row] = conn.execute(select(outbox).where(outbox.c.customer_id == "c1")).all()
    engine.dispose()
    # (the sender checks the suppression list first: the unsubscribe suppressed the endpoint)
    assert (row.status, row.reason) == ("skipped", "suppressed")


def test_rotated_subscription_moves_with_its_customer_and_consent(
        client: TestClient, shop: Shop, push: PushService) -> None:
    old, new = push.subscriber("old"), push.subscriber("new")
    client.post("/push/subscribe", json={"token": make_subscribe_token("c1"),
                                         "subscription": old.subscription()})
    # Without knowing the old endpoint nothing moves
    stray = client.post("/push/resubscribe", json={
        "old_endpoint": old.endpoint + "x", "subscription": new.subscription()})
    assert stray.json() == {"ok": True, "moved": 0}
    answer = client.post("/push/resubscribe", json={"old_endpoint": old.endpoint,
                                                    "subscription": new.subscription()})
    assert answer.json() == {"ok": True, "moved": 1}
    [row] = push_rows(shop)
    assert (row.customer_id, row.address, row.consent) == ("c1", new.endpoint, "granted")
    shop.cli("run-once", "comeback")
    assert push.titles(new) == ["Olena, we miss you"] and push.attempts["old"] == []


def test_service_worker_knows_where_the_dispatcher_is(client: TestClient) -> None:
    worker = client.get("/push/sw.js").text
    assert worker.startswith('const DISPATCHER_PUSH_BASE = "http://127.0.0.1:8080/push";')
    assert "pushsubscriptionchange" in worker


def test_subscribing_again_after_unsubscribe_is_new_consent(
        client: TestClient, shop: Shop, push: PushService) -> None:
    browser = push.subscriber("browser")
    body = {"token": make_subscribe_token("c1"), "subscription": browser.subscription()}
    client.post("/push/subscribe", json=body)
    client.post("/push/unsubscribe", json={"endpoint": browser.endpoint})
    time.sleep(0.01)  # the new consent is later than the opt-out it lifts
    assert client.post("/push/subscribe", json=body).status_code == 201
    shop.cli("run-once", "comeback")
    assert push.titles(browser) == ["Olena, we miss you"]


def test_unsubscribing_an_unknown_endpoint_writes_nothing(
        client: TestClient, shop: Shop) -> None:
    before = snapshot(shop)
    answer = client.post("/push/unsubscribe", json={"endpoint": "https://push.example/x"})
    assert answer.json() == {"ok": True, "withdrawn": 0}
    engine = create_engine(shop.db_url())
    with engine.connect() as conn:
        from dispatcher.store.schema import suppressions

        assert conn.execute(select(suppressions)).all() == []
    engine.dispose()
    assert snapshot(shop) == before
