"""Email through aiosmtplib over a small pool of persistent SMTP connections.

What a failure means depends on when it happens (RFC 5321)::

    before DATA (connect, EHLO, AUTH, MAIL, RCPT)
        no connection, disconnect, timeout   Retry, systemic: nothing was handed over
        AUTH refused (535)                   Retry, systemic: our credentials; the
                                             error-rate guard pauses the campaign
        4xx                                  Retry
        5.1.x, 5.2.1, 550/551/553 (no enhanced code)
                                             Gone(SUPPRESS | INVALIDATE): hard bounce
        other 5xx                            Fail
    during DATA
        an answer (4xx / 5xx)                as above: the server said what it did
        disconnect or timeout before the answer
                                             Unknown: the server may have kept the
                                             message (SmtpAnswerLost)
"""

from __future__ import annotations

import asyncio
import email.utils
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import aiosmtplib
from aiosmtplib.response import SMTPResponse
from aiosmtplib.typing import Default

from channels.base import Channel, Fail, Gone, GoneAction, Outcome, RenderedMessage, Retry, Unknown
from channels.email_fast import message_bytes
from channels.email_mime import build_mime, message_id, sender_domain
from channels.email_settings import EmailSettings

_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")


class SmtpAnswerLost(Exception):
    """The message went out in DATA and the server's answer never came (the connection
    dropped or the client's timeout passed): the server may have kept it."""

    def __init__(self, cause: BaseException) -> None:
        self.cause_name = type(cause).__name__
        super().__init__(f"no answer to DATA ({self.cause_name})")


class _Client(aiosmtplib.SMTP):
    """An SMTP client that tells a lost answer to DATA from every failure before it."""

    async def data(self, message: str | bytes, /, *,
                   timeout: float | Default | None = Default.token) -> SMTPResponse:
        try:
            return await super().data(message, timeout=timeout)
        except aiosmtplib.SMTPResponseException:
            raise  # the server answered: classified by its code
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise SmtpAnswerLost(exc) from exc


class _ConnectionPool:
    """Keeps up to ``size`` authenticated SMTP sessions open and reuses them."""

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings
        self._idle: list[aiosmtplib.SMTP] = []
        self._slots = asyncio.Semaphore(settings.pool_size)

    def _client(self) -> aiosmtplib.SMTP:
        s = self.settings
        tls_context = None
        if not s.validate_certs:
            tls_context = ssl.create_default_context()
            tls_context.check_hostname = False
            tls_context.verify_mode = ssl.CERT_NONE
        default_port = {"tls": 465, "starttls": 587, "none": 25}[s.security]
        return _Client(
            hostname=s.host,
            port=s.port or default_port,
            use_tls=s.security == "tls",
            start_tls=s.security == "starttls",
            validate_certs=s.validate_certs,
            tls_context=tls_context,
            username=s.username,
            password=s.password.get_secret_value() if s.password else None,
            timeout=s.timeout,
        )

    async def send(self, mime: EmailMessage | RawMessage, sender: str, recipient: str) -> str:
        async with self._slots:
            client = self._idle.pop() if self._idle else None
            try:
                if client is None or not client.is_connected:
                    client = self._client()
                    await client.connect()
                _errors, response = await _deliver(client, mime, sender, recipient)
            except aiosmtplib.SMTPRecipientsRefused:
                # The session is still good; only this recipient was refused.
                if client is not None:
                    self._idle.append(client)
                raise
            except BaseException:
                if client is not None:
                    client.close()
                raise
            self._idle.append(client)
            return response

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client in idle:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()


@dataclass(frozen=True)
class RawMessage:
    """Prebuilt bytes (channels.email_fast); the stdlib object only if the server needs it."""

    data: bytes
    eight_bit: bool
    fallback: Callable[[], EmailMessage]


async def _deliver(client: aiosmtplib.SMTP, mime: EmailMessage | RawMessage, sender: str,
                   recipient: str) -> tuple[Any, str]:
    if isinstance(mime, EmailMessage):
        return await client.send_message(mime, sender=sender, recipients=[recipient])
    if mime.eight_bit:
        if client.is_ehlo_or_helo_needed:
            await client.ehlo()
        if not client.supports_extension("8bitmime"):
            # aiosmtplib re-encodes the stdlib message to 7bit for such servers.
            return await client.send_message(mime.fallback(), sender=sender,
                                             recipients=[recipient])
        return await client.sendmail(sender, [recipient], mime.data,
                                     mail_options=["BODY=8BITMIME"])
    return await client.sendmail(sender, [recipient], mime.data)


class EmailChannel(Channel):
    name = "email"

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings
        self._pool = _ConnectionPool(settings)
        self._envelope_from = email.utils.parseaddr(settings.from_address)[1]
        self._domain = sender_domain(settings.from_address)

    async def send(self, message: RenderedMessage) -> str:
        from_address, reply_to = self.settings.from_address, self.settings.reply_to
        if message.outbox_id is None:  # a test send: random Message-ID, read from the object
            mime = build_mime(message, from_address, reply_to)
            await self._pool.send(mime, self._envelope_from, message.to)
            return str(mime["Message-ID"])
        data, eight_bit = message_bytes(message, from_address, reply_to)
        raw = RawMessage(data, eight_bit, lambda: build_mime(message, from_address, reply_to))
        await self._pool.send(raw, self._envelope_from, message.to)
        return message_id(message, self._domain)

    def classify(self, error: BaseException) -> Outcome:
        return classify_smtp_error(error)

    async def aclose(self) -> None:
        await self._pool.close()


def classify_smtp_error(error: BaseException) -> Outcome:
    """Map an aiosmtplib error to an Outcome (RFC 5321 reply codes, RFC 3463 enhanced codes)."""
    if isinstance(error, SmtpAnswerLost):
        return Unknown(f"SMTP: {error}", systemic=True)
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused) and error.recipients:
        error = error.recipients[0]
    if isinstance(error, aiosmtplib.SMTPAuthenticationError):
        # Our credentials: nobody is written off for it; the guard pauses the campaign.
        return Retry("SMTP authentication failed", code=str(error.code), systemic=True)
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return _classify_reply(error)
    if isinstance(error, (aiosmtplib.SMTPException, OSError)):
        # Everything before DATA: connect, EHLO, STARTTLS, MAIL, RCPT (a lost answer to
        # DATA is SmtpAnswerLost, above). Nothing was handed over.
        detail = getattr(error, "strerror", None) or type(error).__name__
        if isinstance(error, aiosmtplib.SMTPNotSupported):
            return Fail(f"SMTP server: {error}"[:200], systemic=True)
        return Retry(f"SMTP connection: {detail}", systemic=True)
    return Unknown(f"unexpected {type(error).__name__}")


def _classify_reply(error: aiosmtplib.SMTPResponseException) -> Outcome:
    code = error.code
    text = error.message or ""
    enhanced = _ENHANCED.search(text)
    detail = f"{code} {enhanced.group(0) if enhanced else ''}".strip()
    ours = isinstance(error, (aiosmtplib.SMTPSenderRefused, aiosmtplib.SMTPHeloError))
    if 400 <= code < 500:
        return Retry(f"temporary SMTP failure {detail}", code=str(code), systemic=ours)
    if code == 535:
        return Retry("SMTP authentication failed", code=str(code), systemic=True)
    if not ours and enhanced and enhanced.group(1) == "5":
        subject, status = enhanced.group(2), enhanced.group(3)
        if subject == "1" or (subject == "2" and status == "1"):
            return Gone(GoneAction.SUPPRESS | GoneAction.INVALIDATE, f"hard bounce {detail}",
                        str(code))
    if not ours and code in (550, 551, 553) and not enhanced:
        return Gone(GoneAction.SUPPRESS | GoneAction.INVALIDATE, f"mailbox unavailable {detail}",
                    str(code))
    return Fail(f"SMTP rejected {detail}", str(code), systemic=ours)
