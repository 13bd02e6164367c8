"""The explicit registry of channels: name -> settings model and factory.

Provider libraries are imported only when a channel is built, so the core runs
without the optional extras installed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import Channel, ChannelSettings
from .file import FileChannel


@dataclass(frozen=True)
class ChannelSpec:
    settings_path: str  # "module:Class"
    builder_path: str  # "module:function(settings, base_dir) -> Channel"
    # Which of a customer's several addresses on this channel a message goes to: the
    # oldest (email, sms: the first one on file) or the newest (push: the browser that
    # subscribed last is the one most likely still in use; see channels/webpush.py).
    newest_address_first: bool = False

    def settings_model(self) -> type[ChannelSettings]:
        return _load(self.settings_path)

    def builder(self) -> Callable[[ChannelSettings, Path], Channel]:
        return _load(self.builder_path)


def _load(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


REGISTRY: dict[str, ChannelSpec] = {
    "email": ChannelSpec("channels.email_settings:EmailSettings", "channels.factories:build_email"),
    "sms": ChannelSpec("channels.sms_settings:SmsSettings", "channels.factories:build_sms"),
    "telegram": ChannelSpec("channels.telegram_settings:TelegramSettings",
                            "channels.factories:build_telegram"),
    "push": ChannelSpec("channels.webpush_settings:WebPushSettings",
                        "channels.factories:build_push", newest_address_first=True),
}


def known_channels() -> list[str]:
    return sorted(REGISTRY)


def validate_settings(name: str, raw: dict[str, Any] | None) -> ChannelSettings:
    """Validate one channel's settings (pydantic ValidationError on bad input)."""
    return REGISTRY[name].settings_model().model_validate(raw or {})


def build_channel(name: str, settings: ChannelSettings, base_dir: Path) -> Channel:
    if settings.transport == "file" or (
        settings.transport is None and not _has_provider(settings)
    ):
        return file_channel(name, settings, base_dir)
    return REGISTRY[name].builder()(settings, base_dir)


def _has_provider(settings: ChannelSettings) -> bool:
    uses_file = getattr(settings, "uses_file", None)
    return not uses_file() if callable(uses_file) else True


def file_channel(name: str, settings: ChannelSettings, base_dir: Path) -> FileChannel:
    directory = Path(settings.outbox_dir)
    if not directory.is_absolute():
        directory = base_dir / directory
    if name == "email":
        from .email_fast import message_bytes

        from_address = getattr(settings, "from_address", "shop@example.com")
        return FileChannel(directory, "email",
                           lambda m: message_bytes(m, from_address)[0], ".eml")
    return FileChannel(directory, name)
