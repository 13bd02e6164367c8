"""Web push through pywebpush: VAPID-signed, aes128gcm-encrypted, over one aiohttp session.

One ``aiohttp.ClientSession`` (a keep-alive connection pool bounded by the channel's
``concurrency``) serves every message, so a campaign of 100 000 pushes to one push
service reuses a handful of connections instead of opening one per message.
Encryption is a few hundred microseconds of CPU per message and stays on the loop.

Failures (RFC 8030 and what FCM / Mozilla autopush / Apple answer)::

    404, 410      Gone(SUPPRESS | DELETE)  the subscription expired or the user
                                  unsubscribed: delete it (that subscription only)
    413           Fail            payload too large
    429           Retry           after Retry-After
    503           Retry, systemic the service did not take it (after Retry-After)
    other 5xx     Unknown, systemic: the service may have queued the message
    401, 403      Retry, systemic: the push service rejected our VAPID credentials
                                  (nothing sent; the error-rate guard pauses)
    no connection (refused, DNS, TLS, connect timeout)   Retry: never sent
    timeout or dropped connection after the request      Unknown: may have been pushed
    bad keys, bad endpoint   Gone(INVALIDATE): the stored subscription cannot be used
    refused host  Fail (Gone(INVALIDATE) when the URL itself can never be sent to):
                  not a public push service (webpush_hosts.py); nothing sent
"""

from __future__ import annotations

import binascii
import email.utils
import logging
import time

import aiohttp
from pywebpush import WebPusher, WebPushException

from channels.base import Channel, Fail, Gone, GoneAction, Outcome, RenderedMessage, Retry, Unknown
from channels.webpush_guard import PublicOnlyResolver, endpoint_guard
from channels.webpush_hosts import Lookup, PushEndpointRefused
from channels.webpush_payload import encode_payload
from channels.webpush_settings import WebPushSettings
from channels.webpush_vapid import VapidSigner, audience

# Logs name the push service's origin (fcm.googleapis.com, ...), never the endpoint:
# an endpoint is a capability URL that identifies one browser.
log = logging.getLogger("dispatcher.channels.webpush")


class PushRejected(Exception):
    """The push service answered with an error status (the endpoint is never included)."""

    def __init__(self, status: int, retry_after: float | None = None, detail: str = "") -> None:
        self.status = status
        self.retry_after = retry_after
        self.detail = detail[:200]
        super().__init__(f"push service answered {status}" + (f": {self.detail}"
                                                              if self.detail else ""))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


class WebPushChannel(Channel):
    name = "push"

    def __init__(self, settings: WebPushSettings, lookup: Lookup | None = None) -> None:
        assert settings.vapid_private_key is not None and settings.vapid_subject is not None
        self.settings = settings
        # Every connection is checked against the push host rules (channels/webpush_guard.py);
        # ``lookup`` replaces the system DNS resolver (tests give a fake one).
        self._policy = settings.host_policy()
        self._lookup = lookup
        self._signer = VapidSigner(settings.vapid_private_key.get_secret_value(),
                                   settings.vapid_subject)
        self._session: aiohttp.ClientSession | None = None
        self._ttl = int(settings.ttl.total_seconds())

    def _client(self) -> aiohttp.ClientSession:
        # Created lazily: a session belongs to the event loop that runs the sends.
        if self._session is None or self._session.closed:
            limit = self.settings.concurrency
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=limit, limit_per_host=limit,
                                               ttl_dns_cache=300,
                                               resolver=PublicOnlyResolver(self._lookup)),
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout),
                middlewares=(endpoint_guard(self._policy),),
            )
        return self._session

    async def send(self, message: RenderedMessage) -> str:
        subscription = message.data.get("subscription") or {}
        endpoint = str(subscription.get("endpoint") or message.to)
        pusher = WebPusher({"endpoint": endpoint, "keys": dict(subscription.get("keys") or {})},
                           aiohttp_session=self._client())
        headers = {**self._signer.headers(endpoint), "Urgency": self.settings.urgency}
        if message.outbox_id is not None:
            # Lets a push service collapse a duplicate of the same outbox row (RFC 8030 Topic).
            headers["Topic"] = f"o{message.outbox_id}"[:32]
        # Composed messages carry their push.json payload; anything else (a contract
        # probe, a hand-built message) is shown as title + body.
        payload = message.data.get("payload") or {"title": message.subject or "",
                                                  "body": message.text}
        response = await pusher.send_async(
            encode_payload(payload), headers, ttl=self._ttl,
            content_encoding="aes128gcm",
            timeout=aiohttp.ClientTimeout(total=self.settings.timeout))
        assert isinstance(response, aiohttp.ClientResponse)
        log.debug("push service answered", extra={
            "service": audience(endpoint), "status": response.status,
            "outbox_id": message.outbox_id, "campaign": message.campaign})
        if response.status >= 300:
            detail = (await response.text())[:200]
            raise PushRejected(response.status,
                               parse_retry_after(response.headers.get("Retry-After")), detail)
        return response.headers.get("Location") or f"push:{response.status}"

    def classify(self, error: BaseException) -> Outcome:
        return classify_push_error(error)

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


def classify_push_error(error: BaseException) -> Outcome:
    """Pure: map a push service answer or a local error to an Outcome."""
    if isinstance(error, PushEndpointRefused):  # refused before connecting: nothing sent
        if error.address_invalid:
            return Gone(GoneAction.INVALIDATE, str(error))
        return Fail(str(error))
    if isinstance(error, PushRejected):
        status, code = error.status, str(error.status)
        if status in (404, 410):
            return Gone(GoneAction.SUPPRESS | GoneAction.DELETE,
                        "push subscription expired or unsubscribed", code)
        if status == 413:
            return Fail("push payload too large", code)
        if status == 429:
            return Retry("rate limited by the push service", error.retry_after, code)
        if status in (401, 403):
            return Retry("push service rejected our VAPID credentials", None, code,
                         systemic=True)
        if status == 503:
            return Retry("push service unavailable (503)", error.retry_after, code,
                         systemic=True)
        if status >= 500:
            return Unknown(f"push service error {status}", code, systemic=True)
        return Fail(f"push service refused the message ({status})", code)
    if isinstance(error, aiohttp.InvalidURL):
        return Gone(GoneAction.INVALIDATE, "invalid push endpoint")
    if isinstance(error, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError,
                          ConnectionRefusedError)):
        return Retry(f"network: {type(error).__name__} (not sent)")
    if isinstance(error, (aiohttp.ClientError, TimeoutError, ConnectionError)):
        return Unknown(f"network: {type(error).__name__} after the request was sent")
    if isinstance(error, (WebPushException, binascii.Error, ValueError)):
        return Gone(GoneAction.INVALIDATE, "invalid push subscription keys")
    return Unknown(f"unexpected {type(error).__name__}")
