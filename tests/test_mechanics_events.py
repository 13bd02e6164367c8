"""POST /events/order and /events/cart: bearer-authenticated, validated like imports,
all-or-nothing, and feeding the triggers and promo redemption."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, func, select
from starlette.testclient import TestClient

from dispatcher.app import open_store
from dispatcher.config.load import load_config
from dispatcher.store.schema import carts, orders
from dispatcher.web.app import WebState, create_app
from dispatcher.web.events import TOKEN_ENV

from .mechanics_peers import at, customers, email_channel, iso, received, tick
from .shop import Shop
from .smtp_server import SMTPServer

TOKEN = "s3cret-token-for-tests"


@pytest.fixture
def web(shop: Shop, smtp: SMTPServer, monkeypatch: pytest.MonkeyPatch
        ) -> Iterator[tuple[TestClient, Engine]]:
    with open_web(shop, smtp, monkeypatch) as opened:
        yield opened


@contextmanager
def open_web(shop: Shop, smtp: SMTPServer, monkeypatch: pytest.MonkeyPatch
             ) -> Iterator[tuple[TestClient, Engine]]:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    shop.write_config(email_channel(smtp.port), "reachable:\n  consent: email\n", """
abandoned_cart:
  segment: reachable
  trigger: {cart_abandoned: {idle: [2h, 48h]}}
  once_per: cart
  schedule: "*/10 * * * *"
""")
    shop.template("abandoned_cart/email.subject", "Your cart")
    shop.template("abandoned_cart/email.txt",
                  "{{ customer.first_name }}, your cart is waiting")
    customers(shop, ["ann", "bob"])
    loaded = load_config(shop.config_path)
    engine = open_store(loaded)
    with TestClient(create_app(WebState(loaded, engine, {}))) as client:
        yield client, engine
    engine.dispose()


def count(engine: Engine, table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


ORDER = {"id": "o1", "customer_id": "ann", "placed_at": iso(at(hours=1)), "total": "120.50",
         "currency": "uah"}
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_bad_or_missing_token_changes_nothing(web) -> None:
    client, engine = web
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        response = client.post("/events/order", json=ORDER, headers=headers)
        assert response.status_code == 401
        assert TOKEN not in response.text
    assert count(engine, orders) == 0


def test_bad_payload_is_a_located_error_and_nothing_is_written(web) -> None:
    client, engine = web
    bad = [ORDER, {**ORDER, "id": "o2", "total": "-5"}, {**ORDER, "id": "o3", "colour": "red"}]
    response = client.post("/events/order", json=bad, headers=AUTH)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert {"loc": "[1].total", "message": "Input should be greater than or equal to 0"} \
        in errors
    assert {"loc": "[2].colour", "message": "unknown field"} in errors
    assert count(engine, orders) == 0  # the good first item was not written either

    response = client.post("/events/order", content=b'{"id": "o1",\n "total": }',
                           headers=AUTH)
    assert response.status_code == 400
    assert response.json()["errors"][0]["loc"] == "line 2 column 11"

    response = client.post("/events/order", json={**ORDER, "customer_id": "nobody"},
                           headers=AUTH)
    assert response.status_code == 422
    assert response.json()["errors"] == [{"loc": "customer_id",
                                          "message": "unknown customer 'nobody'"}]
    assert count(engine, orders) == 0


def test_cart_event_feeds_the_abandoned_cart_trigger_and_order_event_stops_it(
        web, shop: Shop, smtp: SMTPServer) -> None:
    client, engine = web
    cart = {"id": "k1", "customer_id": "ann", "updated_at": iso(at(hours=4)),
            "total": "300", "currency": "UAH", "items": [{"sku": "rose", "qty": 3}]}
    cart_bob = {**cart, "id": "k2", "customer_id": "bob"}
    assert client.post("/events/cart", json=[cart, cart_bob], headers=AUTH).json() \
        == {"written": 2}
    # bob completes his order before the tick
    order = {**ORDER, "id": "ob", "customer_id": "bob", "placed_at": iso(at(hours=3))}
    assert client.post("/events/order", json=order, headers=AUTH).status_code == 200
    with engine.connect() as conn:
        assert conn.execute(select(carts.c["items"]).where(carts.c.id == "k1")).scalar() \
            == [{"sku": "rose", "qty": 3}]
    tick(shop, "abandoned_cart", at(minutes=1))
    assert received(smtp) == [("ann@example.com", "Your cart")]
