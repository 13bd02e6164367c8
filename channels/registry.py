"""The channels the dispatcher knows: one ``ChannelSpec`` per channel, by name.

The four built-in specs are imported here (their modules import only settings and
composition; provider libraries load when a channel is built). A test or an extension
adds a channel with ``register``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from channels import email_spec, sms_spec, telegram_spec, webpush_spec
from channels.base import Channel, ChannelSettings
from channels.file import FileChannel
from channels.spec import ChannelSpec

SPECS: dict[str, ChannelSpec] = {
    spec.name: spec
    for spec in (email_spec.SPEC, sms_spec.SPEC, telegram_spec.SPEC, webpush_spec.SPEC)
}


def register(spec: ChannelSpec) -> ChannelSpec:
    SPECS[spec.name] = spec
    return spec


def known_channels() -> list[str]:
    return sorted(SPECS)


def validate_settings(name: str, raw: dict[str, Any] | None) -> ChannelSettings:
    """Validate one channel's settings (pydantic ValidationError on bad input)."""
    return SPECS[name].settings.model_validate(raw or {})


def build_channel(name: str, settings: ChannelSettings, base_dir: Path) -> Channel:
    if settings.uses_file():
        return file_channel(name, settings, base_dir)
    return SPECS[name].build(settings, base_dir)


def file_channel(name: str, settings: ChannelSettings, base_dir: Path) -> FileChannel:
    directory = Path(settings.outbox_dir)
    if not directory.is_absolute():
        directory = base_dir / directory
    spec = SPECS.get(name)
    if spec is None or spec.file_body is None:
        return FileChannel(directory, name)
    return FileChannel(directory, name, spec.file_body(settings), spec.file_suffix)
