"""One entry per channel for the contract suite (tests/test_channel_contract.py).

Each ``ChannelCase`` starts the channel's real peer on loopback, builds the real
adapter against it, and knows how to make the peer refuse a recipient the way
the provider does. To add a channel (web push, ...), append a case to ``CASES``.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from channels.base import Channel, ChannelSettings, RenderedMessage
from channels.registry import build_channel, validate_settings

from .smtp_server import SMTPServer
from .telegram_peer import TOKEN, TelegramPeer
from .twilio_peer import ACCOUNT_SID, AUTH_TOKEN, TwilioPeer


@dataclass
class Probe:
    """What the test can ask of a running peer."""

    channel: Channel
    settings: ChannelSettings
    received: Callable[[], list[str]]  # texts (or bodies) the peer accepted
    refuse_gone: Callable[[str], None] | None = None  # make the peer say "recipient gone"
    refuse_throttled: Callable[[str], None] | None = None  # make the peer say "slow down"
    secret: str | None = None  # must never show in reprs or classified reasons


@dataclass
class ChannelCase:
    name: str
    address: str  # a deliverable recipient
    other: str  # a second recipient, for refusals
    start: Callable[[], Any]  # -> async context manager yielding a Probe

    def message(self, to: str | None = None, text: str = "Привіт, Олено! Hello & welcome",
                outbox_id: int = 1) -> RenderedMessage:
        return RenderedMessage(campaign="contract", channel=self.name, customer_id="c1",
                               to=to or self.address, text=text, subject="Contract",
                               outbox_id=outbox_id)


def _build(name: str, raw: dict[str, Any]) -> tuple[Channel, ChannelSettings]:
    settings = validate_settings(name, raw)
    return build_channel(name, settings, Path(tempfile.gettempdir())), settings


@asynccontextmanager
async def _email() -> AsyncIterator[Probe]:
    refusals: dict[str, str] = {}
    with SMTPServer() as server:
        server.handler.rcpt_reply = lambda address: refusals.get(address)
        channel, settings = _build("email", {"host": "127.0.0.1", "port": server.port,
                                             "security": "none", "password": "smtp-secret-1",
                                             "from": "Shop <shop@shop.test>"})
        try:
            yield Probe(
                channel, settings,
                lambda: [r.message.get_body(("plain",)).get_content().strip()
                         for r in server.handler.received],
                lambda to: refusals.__setitem__(to, "550 5.1.1 mailbox does not exist"),
                lambda to: refusals.__setitem__(to, "451 4.7.1 try again later"),
                secret="smtp-secret-1")
        finally:
            await channel.aclose()


@asynccontextmanager
async def _sms() -> AsyncIterator[Probe]:
    with TwilioPeer() as peer:
        channel, settings = _build("sms", {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN,
                                           "from": "+15005550006", "base_url": peer.url})
        try:
            yield Probe(channel, settings, lambda: [m["Body"] for m in peer.messages],
                        lambda to: peer.refuse(to, 21610),
                        lambda to: peer.refuse(to, 20429, status=429, retry_after=3),
                        secret=AUTH_TOKEN)
        finally:
            await channel.aclose()


@asynccontextmanager
async def _telegram() -> AsyncIterator[Probe]:
    with TelegramPeer() as peer:
        channel, settings = _build("telegram", {"token": TOKEN, "base_url": peer.base_url})
        try:
            yield Probe(channel, settings, lambda: [m["text"] for m in peer.sent],
                        lambda chat: peer.refuse(chat, 403),
                        lambda chat: peer.refuse(chat, 429, retry_after=3),
                        secret=TOKEN)
        finally:
            await channel.aclose()


@asynccontextmanager
async def _file() -> AsyncIterator[Probe]:
    with tempfile.TemporaryDirectory() as folder:
        channel, settings = _build("sms", {"transport": "file", "outbox_dir": folder})

        def received() -> list[str]:
            import json

            return [json.loads(p.read_text())["text"] for p in sorted(Path(folder).rglob("*.json"))]

        try:
            yield Probe(channel, settings, received)
        finally:
            await channel.aclose()


CASES: list[ChannelCase] = [
    ChannelCase("email", "olena@example.com", "gone@example.com", _email),
    ChannelCase("sms", "+380501234567", "+15550002222", _sms),
    ChannelCase("telegram", "1001", "1002", _telegram),
    ChannelCase("file", "+380501234567", "+15550002222", _file),
]

# Web push needs the subscription's keys in each message: its case lives in its own
# module (imported last: it builds on the classes above).
from .push_contract import CASE as PUSH_CASE  # noqa: E402

CASES.append(PUSH_CASE)
