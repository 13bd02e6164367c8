"""The web push entry of the channel contract suite (tests/channel_contract.py).

Recipients are subscriber names on the loopback push service: a push message needs
the subscription's keys, so ``message()`` looks them up on the running service.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field

from channels.base import RenderedMessage
from channels.webpush_hosts import UNSAFE_DEV_ENV
from channels.webpush_vapid import generate_key_pair

from .channel_contract import ChannelCase, Probe, _build
from .push_service import PushService, Subscriber


@dataclass
class PushCase(ChannelCase):
    subscribers: dict[str, Subscriber] = field(default_factory=dict)

    def message(self, to: str | None = None, text: str = "Привіт, Олено! Hello & welcome",
                outbox_id: int = 1) -> RenderedMessage:
        subscriber = self.subscribers[to or self.address]
        message = super().message(subscriber.endpoint, text, outbox_id)
        message.data = {"subscription": subscriber.subscription()}
        return message


@contextmanager
def _loopback_push_allowed() -> Iterator[None]:
    """The development allowance needs its environment variable while settings load."""
    before = os.environ.get(UNSAFE_DEV_ENV)
    os.environ[UNSAFE_DEV_ENV] = "1"
    try:
        yield
    finally:
        if before is None:
            del os.environ[UNSAFE_DEV_ENV]
        else:
            os.environ[UNSAFE_DEV_ENV] = before


def _start() -> AsyncIterator[Probe]:
    return _push()


@asynccontextmanager
async def _push() -> AsyncIterator[Probe]:
    pair = generate_key_pair()
    with PushService(expected_vapid_key=pair.public_key) as service:
        CASE.subscribers = {name: service.subscriber(name) for name in (CASE.address,
                                                                       CASE.other)}
        with _loopback_push_allowed():
            channel, settings = _build("push", {
                "vapid_private_key": pair.private_key, "vapid_subject": "mailto:ops@shop.test",
                "unsafe_dev_push_services": [service.origin]})
        try:
            yield Probe(channel, settings,
                        lambda: [d.payload["body"] for d in service.delivered],
                        lambda name: service.reply(CASE.subscribers[name], 410),
                        lambda name: service.reply(CASE.subscribers[name], 429,
                                                   {"Retry-After": "3"}),
                        secret=pair.private_key)
        finally:
            await channel.aclose()


CASE = PushCase("push", "olena-browser", "gone-browser", _push)
