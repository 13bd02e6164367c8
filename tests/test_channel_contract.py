"""The channel contract, run over every channel against its real peer on loopback.

send() returns the provider's id and the peer holds the text; classify() is a pure
function that tells a STOP/blocked/bounced recipient from a throttle; aclose()
releases the connection; no secret shows in a repr or a classified reason.
"""

from __future__ import annotations

import logging

import pytest

from channels.base import Fail, Gone, Retry, Unknown
from channels.registry import SPECS

from .channel_contract import CASES, ChannelCase

pytestmark = pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])


async def test_send_returns_provider_id_and_peer_gets_the_text(case: ChannelCase) -> None:
    async with case.start() as probe:
        message = case.message()
        provider_id = await probe.channel.send(message)
        assert isinstance(provider_id, str) and provider_id
        assert probe.received() == ["Привіт, Олено! Hello & welcome"]
        second = await probe.channel.send(case.message(case.other, outbox_id=2))
        assert second != provider_id  # ids tell messages apart
        assert len(probe.received()) == 2


async def test_recipient_gone_is_classified_for_suppression(case: ChannelCase) -> None:
    async with case.start() as probe:
        if probe.refuse_gone is None:
            pytest.skip(f"{case.name} has no recipient to lose")
        probe.refuse_gone(case.other)
        with pytest.raises(Exception) as caught:
            await probe.channel.send(case.message(case.other))
        outcome = probe.channel.classify(caught.value)
        assert isinstance(outcome, Gone)
        assert outcome.code and outcome.reason
        assert probe.received() == []
        # the refusal was about one recipient: the channel still delivers to others
        await probe.channel.send(case.message())
        assert len(probe.received()) == 1


async def test_throttling_is_retryable(case: ChannelCase) -> None:
    async with case.start() as probe:
        if probe.refuse_throttled is None:
            pytest.skip(f"{case.name} is never throttled")
        probe.refuse_throttled(case.other)
        with pytest.raises(Exception) as caught:
            await probe.channel.send(case.message(case.other))
        outcome = probe.channel.classify(caught.value)
        assert isinstance(outcome, Retry)


async def test_classify_is_pure_and_total(case: ChannelCase) -> None:
    async with case.start() as probe:
        odd = RuntimeError("something nobody expected")
        first, again = probe.channel.classify(odd), probe.channel.classify(odd)
        assert first == again
        # unknown errors are never retried: failed, or uncertain if it may have gone out
        assert isinstance(first, (Fail, Unknown))
        assert probe.received() == []


async def test_no_secret_in_reprs_or_reasons(case: ChannelCase) -> None:
    async with case.start() as probe:
        message = case.message()
        assert case.address not in repr(message)
        if probe.secret is None:
            return
        assert probe.secret not in repr(probe.settings)
        assert probe.secret not in str(probe.settings.model_dump())
        if probe.refuse_gone is not None:
            probe.refuse_gone(case.other)
            with pytest.raises(Exception) as caught:
                await probe.channel.send(case.message(case.other))
            assert probe.secret not in probe.channel.classify(caught.value).reason


async def test_registered_and_closes_cleanly(case: ChannelCase) -> None:
    async with case.start() as probe:
        await probe.channel.send(case.message())
        await probe.channel.aclose()  # the context closes it again: must be harmless
    assert case.name == "file" or case.name in SPECS


async def test_no_secret_in_debug_logs(case: ChannelCase, caplog: pytest.LogCaptureFixture
                                       ) -> None:
    caplog.set_level(logging.DEBUG)
    async with case.start() as probe:
        await probe.channel.send(case.message())
        if probe.refuse_gone is not None:
            probe.refuse_gone(case.other)
            with pytest.raises(Exception):  # noqa: B017 - any provider error will do
                await probe.channel.send(case.message(case.other))
    if probe.secret is not None:
        assert caplog.records  # the provider's library did log, at DEBUG
        assert probe.secret not in caplog.text
