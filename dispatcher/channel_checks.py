"""Validate-time checks on rendered samples for SMS and Telegram (``VALIDATORS``)."""

from __future__ import annotations

from channels.base import RenderedMessage
from channels.sms_settings import SmsSettings
from channels.telegram_html import MAX_TEXT, inspect_html

from .config.load import LoadedConfig
from .templating import TemplateProblem


def _file(loaded: LoadedConfig, campaign: str, part: str) -> str:
    return str(loaded.templates_dir / loaded.template_folder(campaign) / part)


def check_sms(loaded: LoadedConfig, campaign: str, message: RenderedMessage) -> None:
    settings = loaded.channel_settings["sms"]
    assert isinstance(settings, SmsSettings)
    problem = settings.over_limit(message)
    if problem:
        raise TemplateProblem(_file(loaded, campaign, "sms.txt"), None,
                              f"for sample customer {message.customer_id}: {problem}")


def check_telegram(loaded: LoadedConfig, campaign: str, message: RenderedMessage) -> None:
    length, problems = inspect_html(message.text)
    if length > MAX_TEXT:
        problems.append(f"{length} characters after formatting; Telegram allows {MAX_TEXT}")
    if problems:
        raise TemplateProblem(_file(loaded, campaign, "telegram.html"), None,
                              f"for sample customer {message.customer_id}: "
                              + "; ".join(problems))
