"""SMS through Twilio's own library, on its asyncio HTTP client (aiohttp).

One ``Client`` and one aiohttp session for the channel's lifetime. The HTTP client
is Twilio's ``AsyncTwilioHttpClient`` with two small additions: it can point the
library at another API host (``base_url``: a regional proxy or a loopback test
server), and it keeps the ``Retry-After`` header of a refused request, which the
library's ``TwilioRestException`` drops, so that ``classify`` can honour it.
"""

from __future__ import annotations

import base64
import contextvars
from typing import Any

from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from channels.base import Channel, Outcome, RenderedMessage
from channels.sms_classify import SmsProviderError, classify_sms_error
from channels.sms_settings import TWILIO_API, SmsSettings

# Set by the HTTP client inside the sending task, read by send() right after the call:
# a context variable, so concurrent sends never see each other's headers.
_retry_after: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "twilio_retry_after", default=None)


class _HttpClient(AsyncTwilioHttpClient):
    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self._base_url = base_url.rstrip("/")

    async def request(self, method: str, url: str, params: Any = None, data: Any = None,
                      headers: Any = None, auth: Any = None, timeout: float | None = None,
                      allow_redirects: bool = False) -> Response:
        if self._base_url != TWILIO_API and url.startswith(TWILIO_API):
            url = self._base_url + url[len(TWILIO_API):]
        if auth is not None:
            # The same Basic credentials as a header: aiohttp deprecates its ``auth=``.
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            headers, auth = {**(headers or {}), "Authorization": f"Basic {token}"}, None
        response = await super().request(method, url, params, data, headers, auth,
                                          timeout or self.timeout, allow_redirects)
        _retry_after.set(_seconds(response.headers.get("Retry-After"))
                         if response.headers else None)
        return response


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare from Twilio; fall back to our own backoff


class SmsChannel(Channel):
    name = "sms"

    def __init__(self, settings: SmsSettings) -> None:
        assert settings.account_sid and settings.auth_token
        self.settings = settings
        self._http = _HttpClient(settings.base_url, settings.timeout)
        self._client = Client(settings.account_sid, settings.auth_token.get_secret_value(),
                              http_client=self._http)

    async def send(self, message: RenderedMessage) -> str:
        s = self.settings
        options: dict[str, Any] = {"to": message.to, "body": message.text}
        if s.messaging_service_sid:
            options["messaging_service_sid"] = s.messaging_service_sid
        if s.from_number:
            options["from_"] = s.from_number
        if s.status_callback:
            options["status_callback"] = s.status_callback
        _retry_after.set(None)
        try:
            created = await self._client.messages.create_async(**options)
        except TwilioRestException as exc:
            raise SmsProviderError.from_twilio(exc, _retry_after.get()) from exc
        return str(created.sid)

    def classify(self, error: BaseException) -> Outcome:
        return classify_sms_error(error)

    async def aclose(self) -> None:
        await self._http.close()
