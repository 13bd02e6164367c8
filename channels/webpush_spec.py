"""The web push channel: ``push.json``, sent encrypted to the subscription's endpoint."""

from __future__ import annotations

from pathlib import Path

from channels.base import Channel, ChannelSettings, RenderedMessage
from channels.spec import ChannelSpec
from channels.webpush_payload import HEADER_BYTES, PART, PER_RECORD_BYTES, compose_push
from channels.webpush_settings import MAX_ENCRYPTED_BYTES, WebPushSettings


def check_push(settings: ChannelSettings, message: RenderedMessage) -> str | None:
    """Validate: a sample over the size limit is an error (at send time, a skip)."""
    size = int(message.data.get("encrypted_size", 0))
    if size <= MAX_ENCRYPTED_BYTES:
        return None
    return (f"push payload is {size} bytes encrypted, over the {MAX_ENCRYPTED_BYTES}-byte "
            f"limit of push services (shorten title/body; about "
            f"{MAX_ENCRYPTED_BYTES - HEADER_BYTES - PER_RECORD_BYTES} bytes of JSON fit)")


def _build(settings: ChannelSettings, base_dir: Path) -> Channel:
    from channels.webpush import WebPushChannel

    assert isinstance(settings, WebPushSettings)
    return WebPushChannel(settings)


SPEC = ChannelSpec(name="push", settings=WebPushSettings, build=_build, parts=(PART,),
                   compose=compose_push, test_mark="title", check=check_push,
                   newest_address_first=True)
