"""Web push pieces with real inputs: classify table, encrypted size, keys, settings errors."""

from __future__ import annotations

import base64
import os

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid
from pywebpush import WebPusher, WebPushException

from channels.base import Gone, GoneAction, Retry
from channels.webpush import PushRejected, classify_push_error, parse_retry_after
from channels.webpush_payload import encrypted_size
from channels.webpush_vapid import VapidSigner, application_server_key, load_vapid

from .push_shop import push_channel
from .shop import Shop

GONE = ("gone", GoneAction.SUPPRESS | GoneAction.DELETE)
INVALID = ("gone", GoneAction.INVALIDATE)
FAIL, RETRY, UNKNOWN = ("fail", None), ("retry", None), ("unknown", None)


@pytest.mark.parametrize("error, expected, retry_after, systemic", [
    (PushRejected(404), GONE, None, False),  # FCM: subscription not found
    (PushRejected(410), GONE, None, False),  # autopush/FCM: unsubscribed/expired
    (PushRejected(413), FAIL, None, False),  # payload too large
    (PushRejected(429, 30.0), RETRY, 30.0, False),  # too many requests
    (PushRejected(503, 120.0), RETRY, 120.0, True),  # not taken: come back later
    (PushRejected(500), UNKNOWN, None, True),  # the service may have queued it
    (PushRejected(502), UNKNOWN, None, True),
    (PushRejected(401), RETRY, None, True),  # autopush: bad VAPID JWT (guard pauses)
    (PushRejected(403), RETRY, None, True),  # FCM: VAPID key mismatch
    (PushRejected(400), FAIL, None, False),
    (aiohttp.ClientConnectorError(None, OSError(111, "refused")),  # type: ignore[arg-type]
     RETRY, None, False),  # never connected: nothing sent
    (aiohttp.ConnectionTimeoutError(), RETRY, None, False),
    (TimeoutError(), UNKNOWN, None, False),  # the request went out; the answer did not come
    (aiohttp.ServerDisconnectedError(), UNKNOWN, None, False),
    (WebPushException("Missing keys value: auth"), INVALID, None, False),
    (aiohttp.InvalidURL("nope"), INVALID, None, False),
])
def test_classify(error: BaseException, expected: tuple[str, GoneAction | None],
                  retry_after: float | None, systemic: bool) -> None:
    outcome = classify_push_error(error)
    assert (outcome.name, outcome.action if isinstance(outcome, Gone) else None) == expected
    assert (outcome.after if isinstance(outcome, Retry) else None) == retry_after
    assert outcome.systemic is systemic
    if isinstance(error, PushRejected):
        assert outcome.code == str(error.status)


def test_retry_after_in_seconds_or_http_date() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412480.0) == 30.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


@pytest.mark.parametrize("size", [1, 100, 3993, 3994, 4079, 4080, 9000])
def test_encrypted_size_matches_what_pywebpush_sends(size: int) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    point = key.public_key().public_bytes(serialization.Encoding.X962,
                                          serialization.PublicFormat.UncompressedPoint)
    pusher = WebPusher({"endpoint": "https://push.example/x", "keys": {
        "p256dh": base64.urlsafe_b64encode(point).decode(),
        "auth": base64.urlsafe_b64encode(os.urandom(16)).decode()}})
    assert encrypted_size(size) == len(pusher.encode(b"a" * size)["body"])


def test_vapid_keys_command_prints_a_usable_pair(shop: Shop) -> None:
    out = shop.runner.invoke(__import__("dispatcher.cli.main", fromlist=["app"]).app,
                             ["vapid-keys"]).output
    values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line
                  and not line.startswith("#"))
    private, public = values["VAPID_PRIVATE_KEY"], values["VAPID_PUBLIC_KEY"]
    assert application_server_key(load_vapid(private)) == public
    # the signed header verifies against the printed public key
    headers = VapidSigner(private, "mailto:ops@shop.test").headers("https://push.example/x")
    assert headers["Authorization"].endswith(f",k={public}")
    assert Vapid.verify(headers["Authorization"])


def test_bad_push_settings_are_located_and_never_echo_the_key(
        shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAPID_PRIVATE_KEY", "not-a-key-but-secret-looking")
    shop.write_config(push_channel().replace("ttl: 2h", "ttl: 40d")
                      .replace("urgency: high", "urgency: loud"), "", "")
    out = "".join(shop.cli("validate", expect=2).output.split())
    assert "config.yaml:" in out
    assert "channels.push.vapid_private_key:notaVAPIDprivatekey" in out
    assert "channels.push.ttl:" in out and "channels.push.urgency:" in out
    assert "not-a-key-but-secret-looking" not in out


async def test_registry_builds_webpush_with_a_key_and_file_without(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from channels.base import RenderedMessage
    from channels.file import FileChannel
    from channels.registry import build_channel, validate_settings
    from channels.webpush import WebPushChannel
    from channels.webpush_vapid import generate_key_pair

    from .push_service import PushService

    assert isinstance(build_channel("push", validate_settings("push", {}), tmp_path),
                      FileChannel)
    pair = generate_key_pair()
    monkeypatch.setenv("DISPATCHER_UNSAFE_DEV_PUSH_SERVICES", "1")
    settings = validate_settings("push", {"vapid_private_key": pair.private_key,
                                          "vapid_subject": "mailto:ops@shop.test",
                                          # the loopback push service below
                                          "unsafe_dev_push_services": ["http://127.0.0.1:*"]})
    assert pair.private_key not in repr(settings)
    channel = build_channel("push", settings, tmp_path)
    assert isinstance(channel, WebPushChannel)
    with PushService(expected_vapid_key=pair.public_key) as push:
        sub = push.subscriber("b")
        message = RenderedMessage(campaign="c", channel="push", customer_id="c1",
                                  to=sub.endpoint, text="Привіт & hi", subject="Title",
                                  data={"subscription": sub.subscription()})
        try:
            provider_id = await channel.send(message)
        finally:
            await channel.aclose()
    assert provider_id.startswith(push.origin + "/m/")
    assert push.delivered[0].payload == {"title": "Title", "body": "Привіт & hi"}
    assert sub.endpoint not in repr(message)
