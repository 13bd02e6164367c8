"""Signed tokens are canonical: another encoding of the same bytes is not the token.

base64 decoders are lenient by default: they skip characters outside the alphabet,
accept padding, '+' for '-', and ignore the unused low bits of the last character.
An attacker who holds one valid link could mint many "different" valid ones (and a
cache or log keyed by the token sees them as different). Every variant must get the
same answer as a forgery: 400 on the unsubscribe/preference pages, 403 on push
subscribe, and nothing changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from dispatcher.links import LinkClaims, make_token, verify_token
from dispatcher.push.tokens import make_subscribe_token
from dispatcher.store.db import address_hash
from dispatcher.store.schema import consent_events

from .policy_peers import (
    campaign,
    consent_of,
    engine_of,
    serve,
    setup_shop,
    suppressed_hashes,
    web_state,
)
from .push_service import PushService
from .shop import Shop
from .smtp_server import SMTPServer

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _same_bytes_other_last_char(part: str) -> str | None:
    """``part`` with the unused low bits of its last character set: same decoded bytes."""
    spare_bits = {2: 4, 3: 2}.get(len(part) % 4)  # 1 byte left over: 4 spare bits; 2: 2
    if spare_bits is None:
        return None
    index = ALPHABET.index(part[-1])
    return part[:-1] + ALPHABET[index | 1]


def variants(token: str) -> dict[str, str]:
    """Non-canonical encodings of exactly the bytes of ``token``."""
    body, _, signature = token.partition(".")
    found = {
        "appended !!!!": f"{token}!!!!",
        "padding =": f"{token}=",
        "padding ==": f"{token}==",
        "trailing dot": f"{token}.",
        "embedded space": f"{body}.{signature[:5]} {signature[5:]}",
        "embedded newline": f"{body}.{signature[:5]}\n{signature[5:]}",
        "signature unused bits": f"{body}.{_same_bytes_other_last_char(signature)}",
    }
    if "-" in token:  # ('_' -> '/' too, but a '/' cannot travel in a URL path segment)
        found["standard alphabet"] = token.replace("-", "+")
    body_bits = _same_bytes_other_last_char(body)
    if body_bits is not None:
        found["body unused bits"] = f"{body_bits}.{signature}"
    return found


def test_each_variant_decodes_to_the_same_bytes_in_a_lenient_decoder() -> None:
    """The variants are real: a lenient decoder maps each to the canonical bytes."""
    import base64

    def lenient(text: str) -> bytes:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

    token = make_token(LinkClaims("c1", "email", "ab" * 32, "win_back"))
    signature = token.partition(".")[2]
    other = _same_bytes_other_last_char(signature)
    assert other is not None and other != signature
    assert lenient(other) == lenient(signature)


def test_the_strict_helpers_refuse_every_variant_and_accept_the_canonical_form() -> None:
    from dispatcher.signing import b64decode_strict, b64encode, sign, unsign

    key = b"k" * 32
    for payload in (b"", b"x", b"xy", b"xyz", b"\xfb\xff\xfe-_", bytes(range(40))):
        token = sign(key, payload)
        assert unsign(key, token) == payload
        for name, other in variants(token).items():
            assert other == token or unsign(key, other) is None, (payload, name)
    assert b64decode_strict(b64encode(b"\xfb\xff")) == b"\xfb\xff"
    for text in ("+_8", "-/8", "-_8=", "-_9", " -_8", "A", "", "ab!c"):
        assert b64decode_strict(text) is None, text


def _web_token(campaign_name: str) -> str:
    return make_token(LinkClaims("c1", "email", address_hash("email", "olena@example.com"),
                                 campaign_name))


def _token_with_a_dash() -> str:
    """A real link token whose encoding holds '-' (so the '+' variant exists)."""
    for n in range(500):
        token = _web_token(f"win_back{n}")
        if "-" in token:
            return token
    raise AssertionError("no token with '-' in 500 tries")


def test_unsubscribe_and_preferences_refuse_other_encodings_of_a_valid_token(
        shop: Shop, smtp: SMTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPATCHER_SECRET", "canonical-test-secret")
    setup_shop(shop, smtp.port, campaign("win_back"))
    token = _token_with_a_dash()
    assert verify_token(token) is not None
    engine = engine_of(shop)
    with engine.connect() as conn:
        events_before = conn.execute(select(consent_events)).all()
    import httpx

    with serve(web_state(shop)) as base, httpx.Client(base_url=base) as client:
        for name, forged in variants(token).items():
            assert forged != token, name
            quoted = quote(forged, safe="")  # the server sees the token's exact characters
            for method, path in (("POST", f"/u/{quoted}"), ("GET", f"/u/{quoted}"),
                                 ("GET", f"/preferences/{quoted}"),
                                 ("POST", f"/preferences/{quoted}")):
                response = client.request(method, path, content=b"List-Unsubscribe=One-Click",
                                          headers={"Content-Type":
                                                   "application/x-www-form-urlencoded"})
                assert response.status_code == 400, (name, method, path, response.status_code)
        # Nothing changed: no suppression, consent as imported, no consent event
        assert suppressed_hashes(shop) == {}
        assert consent_of(shop, "c1") == "granted"
        with engine.connect() as conn:
            assert conn.execute(select(consent_events)).all() == events_before
        # ... while the canonical token itself still works
        done = client.post(f"/u/{token}", content=b"List-Unsubscribe=One-Click",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert done.status_code == 200
    engine.dispose()
    assert consent_of(shop, "c1") == "withdrawn"


@pytest.fixture
def push_client(shop: Shop, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    from dispatcher.app import load, open_store
    from dispatcher.web.app import WebState, create_app

    from .push_shop import setup_shop as setup_push_shop

    monkeypatch.setenv("DISPATCHER_SECRET", "canonical-test-secret")
    setup_push_shop(shop, monkeypatch, [{"id": "c1", "name": "Olena"}])
    loaded = load(str(shop.config_path))
    engine = open_store(loaded)
    with TestClient(create_app(WebState(loaded, engine, {}))) as client:
        yield client
    engine.dispose()


def test_push_subscribe_refuses_other_encodings_of_a_valid_token(
        push_client: TestClient, shop: Shop) -> None:
    from .test_push_web import push_rows

    with PushService() as push:
        browser = push.subscriber("browser")
        token = make_subscribe_token("c1")
        for name, forged in variants(token).items():
            answer = push_client.post("/push/subscribe", json={
                "token": forged, "subscription": browser.subscription()})
            assert answer.status_code == 403, (name, answer.status_code)
        assert push_rows(shop) == []
        answer = push_client.post("/push/subscribe", json={
            "token": token, "subscription": browser.subscription()})
        assert answer.status_code == 201, answer.text
        assert [r.customer_id for r in push_rows(shop)] == ["c1"]
