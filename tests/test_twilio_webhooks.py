"""Twilio's inbound-SMS and status-callback webhooks, signed like Twilio signs them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from dispatcher.app import load, open_store
from dispatcher.store.db import address_hash
from dispatcher.store.schema import addresses, consent_events, outbox, suppressions
from dispatcher.web.app import WebState, create_app

from .shop import Shop
from .test_channel_sms import JANE, OLENA, build
from .twilio_peer import AUTH_TOKEN, TwilioPeer

PUBLIC = "http://127.0.0.1:8080"  # shop.public_url in tests/shop.py: what Twilio signs


@pytest.fixture
def twilio() -> Iterator[TwilioPeer]:
    with TwilioPeer() as peer:
        yield peer


class Hooks:
    def __init__(self, shop: Shop) -> None:
        loaded = load(str(shop.config_path))
        self.engine: Engine = open_store(loaded)
        self.client = TestClient(create_app(WebState(loaded, self.engine, {})))

    def post(self, path: str, params: dict[str, str], token: str = AUTH_TOKEN,
             signed: dict[str, str] | None = None, url: str | None = None) -> Any:
        signature = RequestValidator(token).compute_signature(url or PUBLIC + path,
                                                              signed or params)
        return self.client.post(path, data=params, headers={"X-Twilio-Signature": signature})

    def snapshot(self) -> tuple[list[Any], list[Any], list[Any]]:
        with self.engine.connect() as conn:
            return (conn.execute(select(addresses).order_by(addresses.c.id)).all(),
                    conn.execute(select(suppressions).order_by(suppressions.c.id)).all(),
                    conn.execute(select(outbox).order_by(outbox.c.id)).all())

    def address(self, number: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(select(addresses).where(
                addresses.c.address_hash == address_hash("sms", number))).one()

    def suppression(self, number: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(select(suppressions).where(
                suppressions.c.address_hash == address_hash("sms", number))).first()


def inbound(body: str, sender: str = OLENA) -> dict[str, str]:
    # Every message Twilio delivers has its own sid (a repeated sid is a replay).
    return {"MessageSid": "SM" + os.urandom(16).hex(), "AccountSid": "AC" + "0" * 30 + "1",
            "From": sender, "To": "+15005550006", "Body": body, "NumSegments": "1"}


@pytest.mark.parametrize("word", ["STOP", "stop", " Stop ", "STOPALL", "UNSUBSCRIBE",
                                  "CANCEL", "END", "QUIT"])
def test_stop_keywords_opt_out_and_nothing_more_is_sent(
        shop: Shop, twilio: TwilioPeer, monkeypatch: pytest.MonkeyPatch, word: str) -> None:
    build(shop, twilio, monkeypatch)
    hooks = Hooks(shop)
    response = hooks.post("/twilio/inbound", inbound(word))
    assert response.status_code == 200 and "<Response>" in response.text
    olena = hooks.address(OLENA)
    assert (olena.consent, olena.consent_text) == ("withdrawn", word)
    assert olena.consent_source == f"sms:{word.strip().upper()}"
    assert hooks.suppression(OLENA).reason == "opted_out"
    shop.cli("run-once", "win_back")
    assert twilio.sent_to(OLENA) == [] and len(twilio.sent_to(JANE)) == 1


@pytest.mark.parametrize("word", ["START", "YES", "unstop"])
def test_start_keywords_opt_back_in(shop: Shop, twilio: TwilioPeer,
                                    monkeypatch: pytest.MonkeyPatch, word: str) -> None:
    build(shop, twilio, monkeypatch)
    hooks = Hooks(shop)
    hooks.post("/twilio/inbound", inbound("STOP"))
    hooks.post("/twilio/inbound", inbound(word))
    olena = hooks.address(OLENA)
    assert olena.consent == "granted" and hooks.suppression(OLENA) is None
    shop.cli("run-once", "win_back")
    assert len(twilio.sent_to(OLENA)) == 1


def test_start_never_grants_consent_that_was_not_given(shop: Shop, twilio: TwilioPeer,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    build(shop, twilio, monkeypatch, people=[
        {"id": "c9", "name": "Never Asked", "phone": OLENA, "sms_consent": ""}])
    hooks = Hooks(shop)
    hooks.post("/twilio/inbound", inbound("START"))
    assert hooks.address(OLENA).consent is None


def test_stop_from_an_unknown_number_suppresses_a_later_import(
        shop: Shop, twilio: TwilioPeer, monkeypatch: pytest.MonkeyPatch) -> None:
    build(shop, twilio, monkeypatch)
    hooks = Hooks(shop)
    stranger = "+15557778888"
    hooks.post("/twilio/inbound", inbound("STOP", stranger))
    people = [{"id": "c7", "name": "Later", "phone": stranger, "sms_consent": "yes"}]
    shop.cli("import", "customers", str(shop.csv("later.csv", people)))
    shop.cli("import", "orders", str(shop.csv("later_orders.csv", [
        {"id": "o7", "customer_id": "c7", "total": "5", "currency": "UAH",
         "placed_at": "2020-01-01T00:00:00"}])))
    shop.cli("run-once", "win_back")
    assert twilio.sent_to(stranger) == []


@pytest.mark.parametrize("forgery", ["wrong token", "no signature", "tampered body",
                                     "other url"])
def test_a_forged_webhook_changes_nothing(shop: Shop, twilio: TwilioPeer,
                                          monkeypatch: pytest.MonkeyPatch, forgery: str) -> None:
    build(shop, twilio, monkeypatch)
    shop.cli("run-once", "win_back")
    hooks = Hooks(shop)
    before = hooks.snapshot()
    sid = twilio.sent_to(OLENA)[0]["sid"]
    for path, params in (("/twilio/inbound", inbound("STOP")),
                         ("/twilio/status", {"MessageSid": sid, "MessageStatus": "undelivered",
                                             "ErrorCode": "30004", "To": OLENA})):
        if forgery == "wrong token":
            response = hooks.post(path, params, token="guessed-token")
        elif forgery == "no signature":
            response = hooks.client.post(path, data=params)
        elif forgery == "tampered body":  # signed for harmless values, sent with others
            response = hooks.post(path, params, signed={**params, "Body": "hi",
                                                         "MessageStatus": "sent"})
        else:  # a real signature, captured from a request to another site
            response = hooks.post(path, params, url="https://evil.example" + path)
        assert response.status_code == 403
    assert hooks.snapshot() == before


def test_status_callbacks_land_on_the_outbox_row(shop: Shop, twilio: TwilioPeer,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    build(shop, twilio, monkeypatch)
    shop.cli("run-once", "win_back")
    hooks = Hooks(shop)
    olena_sid, jane_sid = twilio.sent_to(OLENA)[0]["sid"], twilio.sent_to(JANE)[0]["sid"]
    for sid, status, code in ((olena_sid, "sent", None), (olena_sid, "delivered", None),
                              (olena_sid, "sent", None),  # late and out of order
                              (jane_sid, "undelivered", "30004")):
        params = {"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC1"}
        if code:
            params["ErrorCode"] = code
        assert hooks.post("/twilio/status", params).status_code == 204
    with hooks.engine.connect() as conn:
        by_sid = {r.provider_id: r for r in conn.execute(select(outbox))}
    assert by_sid[olena_sid].delivery_status == "delivered"
    assert by_sid[olena_sid].status == "sent"
    assert (by_sid[jane_sid].delivery_status, by_sid[jane_sid].delivery_code) == \
        ("undelivered", "30004")
    # 30004: blocked by the recipient -> suppressed like a STOP
    entry = hooks.suppression(JANE)
    assert (entry.reason, entry.provider_code) == ("provider_gone", "30004")


def test_undeliverable_number_from_a_callback_is_marked_invalid(
        shop: Shop, twilio: TwilioPeer, monkeypatch: pytest.MonkeyPatch) -> None:
    build(shop, twilio, monkeypatch)
    shop.cli("run-once", "win_back")
    hooks = Hooks(shop)
    sid = twilio.sent_to(JANE)[0]["sid"]
    hooks.post("/twilio/status", {"MessageSid": sid, "MessageStatus": "failed",
                                  "ErrorCode": "30006"})
    assert hooks.address(JANE).invalid_at is not None
    assert hooks.suppression(JANE) is None  # a landline is invalid, not an opt-out


def test_other_texts_change_nothing(shop: Shop, twilio: TwilioPeer,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    build(shop, twilio, monkeypatch)
    hooks = Hooks(shop)
    before = hooks.snapshot()
    for body in ("Hello, is the shop open?", "stop it please", "HELP"):
        assert hooks.post("/twilio/inbound", inbound(body)).status_code == 200
    assert hooks.snapshot() == before


def test_without_an_auth_token_every_webhook_is_refused(shop: Shop, twilio: TwilioPeer,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    build(shop, twilio, monkeypatch)
    config = shop.config_path.read_text(encoding="utf-8")
    shop.config_path.write_text(config.replace("auth_token: ${TWILIO_AUTH_TOKEN}",
                                               "transport: file"), encoding="utf-8")
    hooks = Hooks(shop)
    before = hooks.snapshot()
    # even a request signed with the real token: we cannot check it, so we do not trust it
    assert hooks.post("/twilio/inbound", inbound("STOP")).status_code == 403
    assert hooks.snapshot() == before


def test_stop_and_start_are_in_the_consent_history(
        shop: Shop, twilio: TwilioPeer, monkeypatch: pytest.MonkeyPatch) -> None:
    build(shop, twilio, monkeypatch)
    hooks = Hooks(shop)
    hooks.post("/twilio/inbound", inbound("STOP"))
    hooks.post("/twilio/inbound", inbound("START"))
    engine = create_engine(shop.db_url())
    with engine.connect() as conn:
        events = conn.execute(select(consent_events.c.status, consent_events.c.source)
                              .where(consent_events.c.channel == "sms")
                              .order_by(consent_events.c.id)).all()
    engine.dispose()
    assert [e.status for e in events][-2:] == ["withdrawn", "granted"]
    assert all("sms" in e.source for e in events[-2:])
