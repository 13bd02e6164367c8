"""Every JSON endpoint answers a hostile body with a 4xx and writes nothing.

Deep nesting (RecursionError in the parser), bodies far over the limit (with and
without a Content-Length), invalid UTF-8, NaN, and values of the wrong type: none may
reach a 500, and none may change a row.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from dispatcher.app import load, open_store
from dispatcher.push.tokens import make_subscribe_token
from dispatcher.store.schema import (
    addresses,
    bounces,
    carts,
    consent_events,
    customers,
    orders,
    suppressions,
)
from dispatcher.web.app import WebState, create_app

from .push_service import PushService
from .push_shop import NOW, setup_shop
from .shop import Shop

EVENTS_TOKEN = "events-token-for-tests"
BOUNCE_SECRET = "bounce-secret-for-tests"
AUTH = {"/events/order": {"Authorization": f"Bearer {EVENTS_TOKEN}"},
        "/events/cart": {"Authorization": f"Bearer {EVENTS_TOKEN}"},
        "/bounces": {"Authorization": f"Bearer {BOUNCE_SECRET}"}}
JSON_ENDPOINTS = ["/push/subscribe", "/push/unsubscribe", "/push/resubscribe",
                  "/events/order", "/events/cart", "/bounces"]
TABLES = (customers, addresses, orders, carts, bounces, suppressions, consent_events)


@pytest.fixture
def web(shop: Shop, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, Engine]]:
    monkeypatch.setenv("DISPATCHER_SECRET", "bodies-test-secret")
    monkeypatch.setenv("DISPATCHER_EVENTS_TOKEN", EVENTS_TOKEN)
    monkeypatch.setenv("DISPATCHER_BOUNCE_SECRET", BOUNCE_SECRET)
    setup_shop(shop, monkeypatch, [{"id": "c1", "name": "Olena"}])
    loaded = load(str(shop.config_path))
    engine = open_store(loaded)
    # A 500 must show up as a status here, not as an exception in the test.
    with TestClient(create_app(WebState(loaded, engine, {})),
                    raise_server_exceptions=False) as client:
        yield client, engine
    engine.dispose()


def snapshot(engine: Engine) -> list[list[Any]]:
    with engine.connect() as conn:
        return [[tuple(r) for r in conn.execute(select(t))] for t in TABLES]


def post(client: TestClient, path: str, body: bytes | Iterator[bytes]) -> Any:
    return client.post(path, content=body, headers={"Content-Type": "application/json",
                                                     **AUTH.get(path, {})})


def nested(depth: int, inner: str = "1") -> bytes:
    return ('{"a":' * depth + inner + "}" * depth).encode()


DEEP = {
    "arrays 5000 deep": b"[" * 5000 + b"]" * 5000,
    "objects 2000 deep": nested(2000),
    "arrays 100 deep in a field": b'{"events": ' + b"[" * 100 + b"]" * 100 + b"}",
    "objects 200 deep in a field": b'{"token": "x", "subscription": ' + nested(200) + b"}",
}


@pytest.mark.parametrize("shape", list(DEEP))
def test_deeply_nested_json_is_a_4xx_and_changes_nothing(
        web: tuple[TestClient, Engine], shape: str) -> None:
    client, engine = web
    before = snapshot(engine)
    for path in JSON_ENDPOINTS:
        answer = post(client, path, DEEP[shape])
        assert 400 <= answer.status_code < 500, (path, shape, answer.status_code, answer.text)
    assert snapshot(engine) == before


def test_a_cart_whose_items_text_nests_deeply_is_a_4xx(web: tuple[TestClient, Engine]) -> None:
    client, engine = web
    before = snapshot(engine)
    cart = {"id": "k1", "customer_id": "c1", "updated_at": NOW.isoformat(),
            "items": "[" * 3000 + "]" * 3000}
    answer = post(client, "/events/cart", json.dumps(cart).encode())
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text)
    assert snapshot(engine) == before


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_body_far_over_the_limit_is_413_and_changes_nothing(
        web: tuple[TestClient, Engine], declared: bool) -> None:
    client, engine = web
    before = snapshot(engine)
    chunk = b"[" + b'"xxxxxxxx",' * 100_000  # about 1.1 MB per chunk; 8 chunks

    def stream() -> Iterator[bytes]:  # no Content-Length: sent chunked
        for _ in range(8):
            yield chunk

    for path in JSON_ENDPOINTS:
        answer = post(client, path, chunk * 8 if declared else stream())
        assert answer.status_code == 413, (path, answer.status_code, answer.text)
    assert snapshot(engine) == before


@pytest.mark.parametrize("body", [b'{"id": "\xff\xfe"}', b'{"total": NaN}', b"[Infinity]",
                                  b"", b"{", b'"just a string"', b"null", b"[]"],
                         ids=["invalid utf-8", "NaN", "Infinity", "empty", "truncated",
                              "string", "null", "empty list"])
def test_malformed_json_is_a_4xx_and_changes_nothing(
        web: tuple[TestClient, Engine], body: bytes) -> None:
    client, engine = web
    before = snapshot(engine)
    for path in JSON_ENDPOINTS:
        answer = post(client, path, body)
        assert 400 <= answer.status_code < 500, (path, body, answer.status_code, answer.text)
    assert snapshot(engine) == before


def _subscription() -> dict[str, Any]:
    with PushService() as push:  # only to mint keys; nothing is sent
        return push.subscriber("b").subscription()


WRONG_TYPES: list[tuple[str, Any]] = [
    ("/bounces", {"email": ["olena@example.com"], "type": "hard"}),
    ("/bounces", {"email": {"olena@example.com": 1}, "type": "hard"}),
    ("/bounces", {"email": "olena@example.com", "type": ["hard"]}),
    ("/bounces", {"email": "olena@example.com", "type": "hard", "at": 1700000000}),
    ("/bounces", {"email": "olena@example.com", "type": "hard", "at": ["2024-01-01"]}),
    ("/bounces", {"email": "olena@example.com", "type": "hard", "code": {"x": 1}}),
    ("/bounces", {"email": "olena@example.com", "type": "hard", "reason": ["x"]}),
    ("/bounces", {"events": {"email": "olena@example.com", "type": "hard"}}),
    ("/bounces", {"email": "olena@example.com", "type": "sideways"}),
    ("/bounces", {"email": "olena@example.com", "type": "hard", "code": "5" * 33}),
    ("/events/cart", {"id": "k1", "customer_id": "c1", "updated_at": NOW.isoformat(),
                      "items": [{"sku": "a", "price": float("nan")}]}),
    ("/events/order", {"id": ["o1"], "customer_id": "c1", "placed_at": NOW.isoformat(),
                       "total": "1", "currency": "EUR"}),
    ("/events/order", {"id": "o1", "customer_id": "c1", "placed_at": NOW.isoformat(),
                       "total": [1], "currency": "EUR"}),
    ("/events/order", {"id": "o1", "customer_id": "c1", "placed_at": 1700000000,
                       "total": "1", "currency": "EUR"}),
    ("/events/cart", {"id": "k1", "customer_id": "c1", "updated_at": NOW.isoformat(),
                      "items": "not json"}),
    ("/events/cart", {"id": "k1", "customer_id": "c1", "updated_at": NOW.isoformat(),
                      "items": {"sku": 1}}),
    ("/push/subscribe", {"token": ["t"], "subscription": "SUB"}),
    ("/push/subscribe", {"token": "TOKEN", "subscription": "a string"}),
    ("/push/subscribe", {"token": "TOKEN", "subscription": {"endpoint": 5, "keys": {}}}),
    ("/push/subscribe", {"token": "TOKEN", "subscription": {"endpoint": "SUB-ENDPOINT",
                                                             "keys": {"p256dh": 1, "auth": 2}}}),
    ("/push/subscribe", {"token": "TOKEN", "subscription": "SUB", "consent_text": {"x": 1}}),
    ("/push/unsubscribe", {"endpoint": ["https://fcm.googleapis.com/fcm/send/x"]}),
    ("/push/resubscribe", {"old_endpoint": {"x": 1}, "subscription": "SUB"}),
    ("/push/resubscribe", {"old_endpoint": "https://fcm.googleapis.com/x", "subscription": 7}),
]


def test_values_of_the_wrong_type_are_a_4xx_and_change_nothing(
        web: tuple[TestClient, Engine]) -> None:
    client, engine = web
    sub = _subscription()
    before = snapshot(engine)
    for path, body in WRONG_TYPES:
        text = json.dumps(body).replace('"TOKEN"', json.dumps(make_subscribe_token("c1"))) \
            .replace('"SUB-ENDPOINT"', json.dumps(sub["endpoint"])) \
            .replace('"SUB"', json.dumps(sub))
        answer = post(client, path, text.encode())
        assert 400 <= answer.status_code < 500, (path, body, answer.status_code, answer.text)
        assert snapshot(engine) == before, (path, body)
