"""The SMS channel: ``sms.txt`` rendered as plain text, with its segment count."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from channels.base import (
    Channel,
    ChannelSettings,
    Recipient,
    RenderedMessage,
    Templates,
)
from channels.sms_segments import count_segments
from channels.sms_settings import SmsSettings
from channels.spec import ChannelSpec, required_part


def compose_sms(templates: Templates, folder: str, campaign: str, to: Recipient,
                context: dict[str, Any]) -> RenderedMessage:
    text = required_part(templates, folder, "sms.txt", to.locale, context)
    # Template line breaks are for the marketer's eyes; trailing ones would cost characters.
    text = text.strip()
    count = count_segments(text)
    return RenderedMessage(
        campaign=campaign, channel="sms", customer_id=to.customer_id, to=to.address,
        to_name=to.name, text=text,
        data={"segments": count.segments, "encoding": count.encoding,
              "preview_lines": [f"SMS: {count.describe()}"]},
    )


def check_sms(settings: ChannelSettings, message: RenderedMessage) -> str | None:
    """Validate: more segments than ``channels.sms.max_segments`` allows."""
    assert isinstance(settings, SmsSettings)
    return settings.over_limit(message)


def _build(settings: ChannelSettings, base_dir: Path) -> Channel:
    from channels.sms import SmsChannel

    assert isinstance(settings, SmsSettings)
    return SmsChannel(settings)


SPEC = ChannelSpec(name="sms", settings=SmsSettings, build=_build, parts=("sms.txt",),
                   compose=compose_sms, test_mark="text", check=check_sms)
