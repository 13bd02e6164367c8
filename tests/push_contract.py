"""The web push entry of the channel contract suite (tests/channel_contract.py).

Recipients are subscriber names on the loopback push service: a push message needs
the subscription's keys, so ``message()`` looks them up on the running service.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from channels.base import RenderedMessage
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


def _start() -> AsyncIterator[Probe]:
    return _push()


@asynccontextmanager
async def _push() -> AsyncIterator[Probe]:
    pair = generate_key_pair()
    with PushService(expected_vapid_key=pair.public_key) as service:
        CASE.subscribers = {name: service.subscriber(name) for name in (CASE.address,
                                                                       CASE.other)}
        channel, settings = _build("push", {"vapid_private_key": pair.private_key,
                                            "vapid_subject": "mailto:ops@shop.test"})
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
