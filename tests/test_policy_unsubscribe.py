"""Unsubscribe links, the preference page over HTTP, and bounce reports."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select

from dispatcher.store.db import address_hash
from dispatcher.store.schema import consent_events, topic_optouts

from .policy_peers import (
    campaign,
    consent_of,
    days_ago,
    engine_of,
    outbox_rows,
    serve,
    setup_shop,
    suppressed_hashes,
    token_for,
    web_state,
)
from .shop import Shop
from .smtp_server import SMTPServer

CAMPAIGNS = campaign("win_back", once_per="run") + campaign(
    "order_news", topic="order_news", kind="transactional", enabled="false")


@contextmanager
def client_for(shop: Shop) -> Iterator[httpx.Client]:
    """An HTTP client talking to the web app served by uvicorn on loopback."""
    with serve(web_state(shop)) as base, httpx.Client(base_url=base) as client:
        yield client


def test_one_click_post_suppresses_and_next_run_sends_nothing(shop: Shop,
                                                              smtp: SMTPServer) -> None:
    setup_shop(shop, smtp.port, CAMPAIGNS)
    shop.cli("run-once", "win_back", "--at", days_ago(2))
    assert sorted(smtp.handler.recipients()) == ["jane@example.com", "olena@example.com"]
    olena = next(r.message for r in smtp.handler.received
                 if r.rcpt_tos == ["olena@example.com"])
    link = re.search(r"<(http[^>]+)>", olena["List-Unsubscribe"])
    assert link is not None

    # When the mail provider does the RFC 8058 one-click POST (no cookies, form body)
    with client_for(shop) as client:
        response = client.post(
            urlsplit(link.group(1)).path, content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    assert suppressed_hashes(shop)[address_hash("email", "olena@example.com")] == "opted_out"
    assert consent_of(shop, "c1") == "withdrawn"

    # Then the next day's run reaches Jane only
    shop.cli("run-once", "win_back", "--at", days_ago(1))
    assert sorted(smtp.handler.recipients()) == ["jane@example.com", "jane@example.com",
                                                 "olena@example.com"]
    second_run = [r for r in outbox_rows(shop) if r.run_id == 2]
    olena_row = next(r for r in second_run if r.customer_id == "c1")
    assert (olena_row.status, olena_row.reason) == ("skipped", "opted_out")


@pytest.mark.parametrize("tamper", ["signature", "payload"])
def test_tampered_token_is_refused_and_changes_nothing(shop: Shop, smtp: SMTPServer,
                                                       tamper: str) -> None:
    setup_shop(shop, smtp.port, CAMPAIGNS)
    token = token_for("c1", "olena@example.com")
    body, _, signature = token.partition(".")
    if tamper == "signature":
        forged = f"{body}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    else:
        other = token_for("c2", "jane@example.com").partition(".")[0]
        forged = f"{other}.{signature}"
    with client_for(shop) as client:
        for method, path in (("POST", f"/u/{forged}"), ("GET", f"/u/{forged}"),
                             ("GET", f"/preferences/{forged}"),
                             ("POST", f"/preferences/{forged}")):
            response = client.request(method, path)
            assert response.status_code == 400, (method, path)
    assert suppressed_hashes(shop) == {}
    assert consent_of(shop, "c1") == "granted" and consent_of(shop, "c2") == "granted"


def test_get_asks_to_confirm_and_does_not_unsubscribe(shop: Shop, smtp: SMTPServer) -> None:
    setup_shop(shop, smtp.port, CAMPAIGNS)
    token = token_for("c1", "olena@example.com")
    with client_for(shop) as client:
        page = client.get(f"/u/{token}")
    assert page.status_code == 200
    assert 'lang="uk"' in page.text and "Test Shop" in page.text
    assert "o***@example.com" in page.text and "olena@" not in page.text
    assert f'action="/u/{token}"' in page.text and f'href="/preferences/{token}"' in page.text
    assert consent_of(shop, "c1") == "granted"
    assert suppressed_hashes(shop) == {}


@pytest.fixture
def web(request: pytest.FixtureRequest) -> Callable[[Shop], httpx.Client]:
    """Open a client on the shop's web app; closed when the test ends."""
    stack = ExitStack()
    request.addfinalizer(stack.close)
    return lambda shop: stack.enter_context(client_for(shop))


def test_preference_page_switches_topic_and_channel(shop: Shop, smtp: SMTPServer,
                                                     web: Callable[[Shop], httpx.Client]
                                                     ) -> None:
    setup_shop(shop, smtp.port, CAMPAIGNS)
    client = web(shop)
    token = token_for("c2", "jane@example.com")
    page = client.get(f"/preferences/{token}")
    assert page.status_code == 200 and "Offers and discounts" in page.text
    address_id = re.search(r'name="address" value="(\d+)"', page.text)
    assert address_id is not None

    # Jane keeps email but switches "offers" off (only order news stays ticked)
    saved = client.post(f"/preferences/{token}",
                        data={"address": address_id.group(1), "topic": "order_news"})
    assert saved.status_code == 200 and "preferences are saved" in saved.text
    engine = engine_of(shop)
    with engine.connect() as conn:
        assert set(conn.execute(select(topic_optouts.c.customer_id, topic_optouts.c.topic))) \
            == {("c2", "offers")}
    assert consent_of(shop, "c2") == "granted"
    out = shop.cli("plan", "win_back").output
    assert "topic opted out" in out

    # Then she switches email off altogether: a consent event with the wording shown
    client.post(f"/preferences/{token}", data={"topic": "order_news"})
    assert consent_of(shop, "c2") == "withdrawn"
    with engine.connect() as conn:
        last = conn.execute(select(consent_events).where(consent_events.c.customer_id == "c2")
                            .order_by(consent_events.c.id.desc())).first()
    assert last is not None
    assert (last.status, last.source, last.text) == ("withdrawn", "preference page",
                                                     "Email: j***@example.com")


def test_bounce_endpoint_needs_the_secret(shop: Shop, smtp: SMTPServer,
                                          monkeypatch: pytest.MonkeyPatch,
                                          web: Callable[[Shop], httpx.Client]) -> None:
    setup_shop(shop, smtp.port, CAMPAIGNS, policy="bounces: {soft_threshold: 2}")
    client = web(shop)
    event = {"email": "Jane@Example.com", "type": "hard", "code": "5.1.1"}
    monkeypatch.delenv("DISPATCHER_BOUNCE_SECRET", raising=False)
    assert client.post("/bounces", json=event).status_code == 404
    monkeypatch.setenv("DISPATCHER_BOUNCE_SECRET", "s3cret-bounce")
    wrong = client.post("/bounces", json=event, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert suppressed_hashes(shop) == {}

    auth = {"Authorization": "Bearer s3cret-bounce"}
    assert client.post("/bounces", json={"email": "x", "type": "hard"},
                       headers=auth).status_code == 422
    ok = client.post("/bounces", json=event, headers=auth)
    assert ok.json() == {"recorded": 1, "suppressed": 1}
    soft = {"email": "olena@example.com", "type": "soft"}
    assert client.post("/bounces", json=soft, headers=auth).json()["suppressed"] == 0
    assert client.post("/bounces", json={"events": [soft]},
                       headers=auth).json()["suppressed"] == 1
    assert suppressed_hashes(shop) == {address_hash("email", "jane@example.com"): "bounced",
                                       address_hash("email", "olena@example.com"): "bounced"}
    shop.cli("run-once", "win_back")
    assert smtp.handler.received == []


def test_import_bounces_file(shop: Shop, smtp: SMTPServer) -> None:
    setup_shop(shop, smtp.port, CAMPAIGNS)
    bad = shop.csv("bad.csv", [{"email": "jane@example.com", "type": "hard"},
                               {"email": "olena@example.com", "type": "bouncy"}])
    result = shop.cli("import-bounces", str(bad), expect=1)
    assert "line 3: type: bounce type must be hard or soft" in " ".join(result.output.split())
    assert suppressed_hashes(shop) == {}
    good = shop.csv("good.csv", [{"email": "jane@example.com", "type": "hard",
                                  "code": "5.1.1"}])
    assert "1 address(es) suppressed" in shop.cli("import-bounces", str(good)).output
    shop.cli("run-once", "win_back")
    assert smtp.handler.recipients() == ["olena@example.com"]


def test_link_of_an_erased_customer_finds_nothing(shop: Shop, smtp: SMTPServer,
                                                  web: Callable[[Shop], httpx.Client]) -> None:
    setup_shop(shop, smtp.port, CAMPAIGNS)
    shop.cli("forget", "c1", "--yes")
    client = web(shop)
    token = token_for("c1", "olena@example.com")
    assert client.get(f"/preferences/{token}").status_code == 404
    assert client.post(f"/u/{token}").status_code == 404
    # still suppressed by hash from the erasure
    assert suppressed_hashes(shop) == {address_hash("email", "olena@example.com"): "erased"}
