"""Builders that turn validated settings into provider-backed channels."""

from __future__ import annotations

from pathlib import Path

from .base import Channel, ChannelSettings


def build_email(settings: ChannelSettings, base_dir: Path) -> Channel:
    from .email import EmailChannel
    from .email_settings import EmailSettings

    assert isinstance(settings, EmailSettings)
    return EmailChannel(settings)


def build_sms(settings: ChannelSettings, base_dir: Path) -> Channel:
    from .sms import SmsChannel
    from .sms_settings import SmsSettings

    assert isinstance(settings, SmsSettings)
    return SmsChannel(settings)


def build_telegram(settings: ChannelSettings, base_dir: Path) -> Channel:
    from .telegram import TelegramChannel
    from .telegram_settings import TelegramSettings

    assert isinstance(settings, TelegramSettings)
    return TelegramChannel(settings)


def build_push(settings: ChannelSettings, base_dir: Path) -> Channel:
    from .webpush import WebPushChannel
    from .webpush_settings import WebPushSettings

    assert isinstance(settings, WebPushSettings)
    return WebPushChannel(settings)
