"""Web push cannot be turned into a request to our own network (SSRF).

Anyone holding a subscribe token (every logged-in shop visitor) can post any
"endpoint", and the sender later POSTs to it. Only https endpoints of known push
services whose names resolve to public addresses are stored, and the same rules are
applied again right before every connection (a stored row from before, a name that
now resolves elsewhere, a redirect).

Rules of these tests: nothing here connects anywhere but 127.0.0.1; refusals are
checked without sending; DNS answers come from a fake lookup, never the real resolver.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select
from starlette.testclient import TestClient

from dispatcher.app import load, open_store
from dispatcher.push.subscriptions import Subscription, save_subscription
from dispatcher.push.tokens import make_subscribe_token
from dispatcher.store.schema import addresses, outbox
from dispatcher.web.app import WebState, create_app

from .http_peer import HttpPeer, Request
from .push_service import PushService
from .push_shop import NOW, SEGMENTS, campaigns
from .shop import Shop

# The push channel as a production config writes it: no development allowance.
PRODUCTION_PUSH = """
push:
  vapid_private_key: ${{VAPID_PRIVATE_KEY}}
  vapid_subject: mailto:ops@shop.test
  retry_base: 1s
{extra}"""

PUSH_JSON = '{"title": "Hi {{ customer.first_name }}", "body": "Come back"}'
PUSH_LOOKUP = "push_lookup"  # WebState.extra key of the DNS lookup (push_routes.PUSH_LOOKUP)


class Listener:
    """A TCP listener on 127.0.0.1 that counts connections (and what arrived on them)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.received = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.settimeout(1)
            with contextlib.suppress(OSError):
                self.received += conn.recv(4096)
            conn.close()

    def __enter__(self) -> Listener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


class FakeDns:
    """Answers from a table; records every question. A list per name is served in turn
    (the last answer repeats), which is how a rebinding name behaves."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        answer = self.answers.get(host)
        if answer is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        if isinstance(answer, list) and answer and isinstance(answer[0], list):
            return list(answer.pop(0) if len(answer) > 1 else answer[0])
        return list(answer)


def setup(shop: Shop, monkeypatch: pytest.MonkeyPatch, extra: str = "") -> None:
    from channels.webpush_vapid import generate_key_pair

    monkeypatch.setenv("VAPID_PRIVATE_KEY", generate_key_pair().private_key)
    monkeypatch.setenv("DISPATCHER_SECRET", "ssrf-test-secret")
    monkeypatch.delenv("DISPATCHER_UNSAFE_DEV_PUSH_SERVICES", raising=False)
    shop.write_config(PRODUCTION_PUSH.format(extra=extra), SEGMENTS, campaigns("comeback"))
    shop.template("comeback/push.json", PUSH_JSON)
    shop.cli("import", "customers", str(shop.csv("customers.csv", [
        {"id": "c1", "name": "Olena"}, {"id": "c2", "name": "Ivan"}])))
    shop.cli("import", "orders", str(shop.csv("orders.csv", [
        {"id": f"o-{c}", "customer_id": c, "placed_at": NOW.isoformat(), "total": "10",
         "currency": "EUR"} for c in ("c1", "c2")])))


def push_rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(addresses).where(addresses.c.channel == "push")))


def keys() -> dict[str, str]:
    with PushService() as push:  # only mints a browser's keys; nothing is sent
        return dict(push.subscriber("b").subscription()["keys"])


@pytest.fixture
def web(shop: Shop, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, Engine,
                                                                        FakeDns]]:
    setup(shop, monkeypatch, "  push_services: [push.example.net]")
    dns = FakeDns({"fcm.googleapis.com": ["142.250.74.106", "2a00:1450:4001:82b::200a"],
                   "push.example.net": ["93.184.216.34"],
                   "web.push.apple.com": ["17.188.143.6"]})
    loaded = load(str(shop.config_path))
    engine = open_store(loaded)
    with TestClient(create_app(WebState(loaded, engine, {PUSH_LOOKUP: dns}))) as client:
        yield client, engine, dns
    engine.dispose()


ATTACKS = [
    "https://127.0.0.1:22/",
    "https://169.254.169.254/latest/meta-data/",
    "https://localhost/x",
    "https://[::1]/x",
    "https://10.0.0.5/x",
    "https://0.0.0.0/x",
    "https://2130706433/x",
    "https://0x7f000001/x",
    "https://127.1/x",
    "https://[::ffff:127.0.0.1]/x",
    "https://fcm.googleapis.com:22/fcm/send/x",
    "http://fcm.googleapis.com/fcm/send/x",
    "https://fcm.googleapis.com.attacker.test/fcm/send/x",
    "https://attacker.test/fcm.googleapis.com/x",
    "https://user@fcm.googleapis.com/fcm/send/x",
    "https://fcm.googleapis.com@10.0.0.5/x",
    "https://fcm.googleapis.com\\@attacker.test/x",
    "https://fcm.googleapis.com%2F@attacker.test/x",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://push.apple.com.attacker.test/x",
]


def test_subscribe_refuses_endpoints_that_are_not_public_push_services(
        web: tuple[TestClient, Engine, FakeDns]) -> None:
    client, engine, dns = web
    browser_keys = keys()
    with Listener() as listener:
        attacks = [*ATTACKS, f"https://127.0.0.1:{listener.port}/x",
                   f"http://127.0.0.1:{listener.port}/x"]
        for endpoint in attacks:
            for path, body in (
                    ("/push/subscribe", {"token": make_subscribe_token("c1"),
                                         "subscription": {"endpoint": endpoint,
                                                          "keys": browser_keys}}),
                    ("/push/resubscribe", {"old_endpoint": "https://fcm.googleapis.com/x",
                                           "subscription": {"endpoint": endpoint,
                                                            "keys": browser_keys}})):
                answer = client.post(path, json=body)
                assert answer.status_code == 400, (path, endpoint, answer.status_code)
                assert "refused" in answer.json()["error"], (endpoint, answer.text)
                # the capability URL is never echoed back
                assert endpoint not in answer.text
        assert push_rows(engine) == []
        # Refused on what the URL says: no DNS question was even asked
        assert dns.calls == []
    assert listener.connections == 0


@pytest.mark.parametrize("answer", [
    ["127.0.0.1"], ["10.0.0.5"], ["169.254.169.254"], ["::1"], ["::ffff:127.0.0.1"],
    ["fd00::1"], ["100.64.0.1"], ["0.0.0.0"], ["224.0.0.1"], ["192.0.2.10"],
    ["64:ff9b::a00:5"], ["2002:a00:5::1"],
    ["93.184.216.34", "10.0.0.5"],  # one private answer is enough to refuse
])
def test_subscribe_refuses_a_push_service_name_that_resolves_to_a_private_address(
        web: tuple[TestClient, Engine, FakeDns], answer: list[str]) -> None:
    client, engine, dns = web
    dns.answers["push.example.net"] = answer
    response = client.post("/push/subscribe", json={
        "token": make_subscribe_token("c1"),
        "subscription": {"endpoint": "https://push.example.net/sub/abc", "keys": keys()}})
    assert response.status_code == 400, response.text
    assert "non-public address" in response.json()["error"]
    assert dns.calls == ["push.example.net"] and push_rows(engine) == []


def test_subscribe_accepts_the_browsers_push_services_and_listed_ones(
        web: tuple[TestClient, Engine, FakeDns]) -> None:
    client, engine, dns = web
    endpoints = ["https://fcm.googleapis.com/fcm/send/abc:APA91b",
                 "https://web.push.apple.com/QGuQyavXutnMH",
                 "https://push.example.net/sub/abc"]  # channels.push.push_services
    for customer, endpoint in zip(("c1", "c2", "c1"), endpoints, strict=True):
        answer = client.post("/push/subscribe", json={
            "token": make_subscribe_token(customer),
            "subscription": {"endpoint": endpoint, "keys": keys()}})
        assert answer.status_code == 201, (endpoint, answer.text)
    assert sorted(r.address for r in push_rows(engine)) == sorted(endpoints)
    assert dns.calls == ["fcm.googleapis.com", "web.push.apple.com", "push.example.net"]


def test_a_failed_lookup_stores_nothing_and_asks_to_try_again(
        web: tuple[TestClient, Engine, FakeDns]) -> None:
    client, engine, dns = web
    del dns.answers["push.example.net"]
    answer = client.post("/push/subscribe", json={
        "token": make_subscribe_token("c1"),
        "subscription": {"endpoint": "https://push.example.net/sub/abc", "keys": keys()}})
    assert answer.status_code == 503 and push_rows(engine) == []


def test_run_once_never_connects_to_a_stored_loopback_endpoint(
        shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows stored before this check existed (or by any other way in) are checked at
    send time: the default config refuses loopback, and nothing reaches the listener."""
    setup(shop, monkeypatch)
    engine = create_engine(shop.db_url())
    with Listener() as listener, PushService() as push:
        browser = push.subscriber("b")
        stored = {"c1": f"https://127.0.0.1:{listener.port}/wpush",
                  "c2": browser.endpoint}  # http://127.0.0.1:<port>/sub/...
        for customer, endpoint in stored.items():
            save_subscription(engine, customer, Subscription(
                endpoint, browser.p256dh, browser.subscription()["keys"]["auth"]), NOW)

        shop.cli("run-once", "comeback")

        assert listener.connections == 0 and listener.received == b""
        assert push.connections == 0 and push.delivered == []
    with engine.connect() as conn:
        rows = {r.customer_id: r for r in conn.execute(select(outbox))}
        invalid = {r.customer_id: r.invalid_at for r in conn.execute(select(addresses))}
    engine.dispose()
    for customer in stored:
        assert rows[customer].status == "failed", rows[customer]
        assert "push endpoint refused" in (rows[customer].last_error or ""), rows[customer]
        assert invalid[customer] is not None  # never tried again


def _channel(monkeypatch: pytest.MonkeyPatch, dns: FakeDns | None, **extra: Any) -> Any:
    from channels.registry import validate_settings
    from channels.webpush import WebPushChannel
    from channels.webpush_vapid import generate_key_pair

    settings = validate_settings("push", {"vapid_private_key": generate_key_pair().private_key,
                                          "vapid_subject": "mailto:ops@shop.test", **extra})
    return WebPushChannel(settings, lookup=dns)


def _message(endpoint: str) -> Any:
    from channels.base import RenderedMessage

    return RenderedMessage(campaign="comeback", channel="push", customer_id="c1",
                           to=endpoint, text="hi", subject="Hi",
                           data={"subscription": {"endpoint": endpoint, "keys": keys()}})


async def _send(channel: Any, endpoint: str) -> BaseException | str:
    try:
        return str(await channel.send(_message(endpoint)))
    except Exception as exc:
        return exc
    finally:
        await channel.aclose()


@pytest.mark.parametrize("answer", [["127.0.0.1"], ["::1"], ["10.0.0.5"],
                                    ["169.254.169.254"], ["93.184.216.34", "127.0.0.1"]])
def test_the_sender_resolves_again_and_refuses_a_name_that_now_points_inside(
        monkeypatch: pytest.MonkeyPatch, answer: list[str]) -> None:
    """DNS rebinding: the name was public when the subscription was stored; at send time
    it resolves to an inside address. The refusal comes from the lookup, before connect."""
    from channels.base import Fail
    from channels.webpush_hosts import PushEndpointRefused

    dns = FakeDns({"push.example.net": answer})
    channel = _channel(monkeypatch, dns, push_services=["push.example.net"])
    outcome = asyncio.run(_send(channel, "https://push.example.net/sub/abc"))
    # (without the check aiohttp would have connected, or failed to, on that address)
    assert isinstance(outcome, PushEndpointRefused), outcome
    assert dns.calls == ["push.example.net"]
    failure = channel.classify(outcome)
    assert isinstance(failure, Fail) and "non-public" in failure.reason  # nothing was sent


def test_a_name_that_rebinds_between_subscribe_and_send_is_refused_at_send(
        web: tuple[TestClient, Engine, FakeDns], monkeypatch: pytest.MonkeyPatch) -> None:
    client, engine, dns = web
    dns.answers["push.example.net"] = [["93.184.216.34"], ["127.0.0.1"]]
    answer = client.post("/push/subscribe", json={
        "token": make_subscribe_token("c1"),
        "subscription": {"endpoint": "https://push.example.net/sub/abc", "keys": keys()}})
    assert answer.status_code == 201
    [row] = push_rows(engine)
    from channels.webpush_hosts import PushEndpointRefused

    outcome = asyncio.run(_send(_channel(monkeypatch, dns, push_services=["push.example.net"]),
                                row.address))
    assert isinstance(outcome, PushEndpointRefused), outcome
    assert dns.calls == ["push.example.net", "push.example.net"]


def test_a_lookup_that_fails_at_send_time_is_a_retry_not_a_refusal(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from channels.base import Retry

    dns = FakeDns({})
    channel = _channel(monkeypatch, dns, push_services=["push.example.net"])
    outcome = asyncio.run(_send(channel, "https://push.example.net/sub/abc"))
    assert isinstance(outcome, Exception)
    assert isinstance(channel.classify(outcome), Retry)


@pytest.mark.parametrize("status", [302, 307, 308])
def test_a_redirect_from_a_push_service_is_not_followed_inside(
        monkeypatch: pytest.MonkeyPatch, status: int) -> None:
    """A push service (here the allowed loopback one) answers with a redirect to another
    port on this machine: the guard checks every hop, so nothing reaches it."""
    from channels.webpush_hosts import PushEndpointRefused

    monkeypatch.setenv("DISPATCHER_UNSAFE_DEV_PUSH_SERVICES", "1")
    with Listener() as inside:
        def redirect(request: Request) -> tuple[int, dict[str, Any], dict[str, str]]:
            return status, {}, {"Location": f"http://127.0.0.1:{inside.port}/admin"}

        with HttpPeer(redirect) as service:
            channel = _channel(monkeypatch, None, unsafe_dev_push_services=[service.url])
            outcome = asyncio.run(_send(channel, f"{service.url}/sub/abc"))
        assert isinstance(outcome, PushEndpointRefused), outcome
        assert inside.connections == 0


def test_the_resolver_hands_aiohttp_exactly_the_addresses_it_checked() -> None:
    """Pinning: aiohttp connects to the resolver's answer and resolves nothing itself."""
    from channels.webpush_guard import PublicOnlyResolver

    dns = FakeDns({"push.example.net": ["93.184.216.34", "2606:2800:220:1::1"]})
    results = asyncio.run(PublicOnlyResolver(dns).resolve("push.example.net", 443))
    assert [(r["host"], r["port"], r["family"]) for r in results] == [
        ("93.184.216.34", 443, socket.AF_INET), ("2606:2800:220:1::1", 443, socket.AF_INET6)]
    assert all(r["flags"] & socket.AI_NUMERICHOST for r in results)
    assert dns.calls == ["push.example.net"]


@pytest.mark.parametrize("entry, env, error", [
    ('["http://127.0.0.1:*"]', None, "DISPATCHER_UNSAFE_DEV_PUSH_SERVICES=1"),
    ('["http://10.0.0.5:8080"]', "1", "only loopback origins"),
    ('["http://localhost:8080"]', "1", "only loopback origins"),
    ('["https://fcm.googleapis.com"]', "1", "only loopback origins"),
    ('["http://127.0.0.1"]', "1", "only loopback origins"),
])
def test_the_development_allowance_needs_the_environment_and_a_loopback_origin(
        shop: Shop, monkeypatch: pytest.MonkeyPatch, entry: str, env: str | None,
        error: str) -> None:
    setup(shop, monkeypatch)
    if env:
        monkeypatch.setenv("DISPATCHER_UNSAFE_DEV_PUSH_SERVICES", env)
    text = shop.config_path.read_text(encoding="utf-8").replace(
        "    retry_base: 1s\n", f"    retry_base: 1s\n    unsafe_dev_push_services: {entry}\n")
    shop.config_path.write_text(text, encoding="utf-8")
    result = shop.cli("validate", expect=2)
    assert "unsafe_dev_push_services" in result.output and error in result.output


@pytest.mark.parametrize("entry", ["10.0.0.5", "127.0.0.1", "localhost", "2130706433",
                                   "*.10.0.0.5", "push.localhost", "http://push.example.net"])
def test_push_services_must_be_host_names(shop: Shop, monkeypatch: pytest.MonkeyPatch,
                                          entry: str) -> None:
    setup(shop, monkeypatch)
    text = shop.config_path.read_text(encoding="utf-8").replace(
        "    retry_base: 1s\n", f'    retry_base: 1s\n    push_services: ["{entry}"]\n')
    shop.config_path.write_text(text, encoding="utf-8")
    result = shop.cli("validate", expect=2)
    assert "push_services" in result.output and "not a host name" in result.output


@pytest.mark.parametrize("url, host", [
    ("https://fcm.googleapis.com/fcm/send/x", "fcm.googleapis.com"),
    ("https://FCM.GoogleAPIs.com:443/fcm/send/x", "fcm.googleapis.com"),
    ("https://fcm.googleapis.com./fcm/send/x", "fcm.googleapis.com"),
    ("https://updates.push.services.mozilla.com/wpush/v2/x", "updates.push.services.mozilla.com"),
    ("https://web.push.apple.com/x", "web.push.apple.com"),
    ("https://wns2-par02p.notify.windows.com/w/?token=x", "wns2-par02p.notify.windows.com"),
    ("https://push.apple.com/x", None),  # "*.push.apple.com" is the subdomains only
    ("https://notify.windows.com.attacker.test/x", None),
    ("https://attacker-notify.windows.com/x", None),
])
def test_the_built_in_push_services(url: str, host: str | None) -> None:
    from channels.webpush_hosts import PushEndpointRefused, PushHostPolicy

    if host is None:
        with pytest.raises(PushEndpointRefused):
            PushHostPolicy().check_url(url)
    else:
        assert PushHostPolicy().check_url(url) == host
