"""The Telegram channel: ``telegram.html`` (HTML parse mode) and an optional button.

``telegram.html`` is autoescaped like every ``.html`` template, so customer data
cannot inject markup. ``telegram.button`` (optional) is one line ``Label | URL``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from channels.base import (
    Channel,
    ChannelSettings,
    Recipient,
    RenderedMessage,
    TemplateProblem,
    Templates,
)
from channels.spec import ChannelSpec, required_part
from channels.telegram_html import MAX_TEXT, inspect_html
from channels.telegram_settings import TelegramSettings


def compose_telegram(templates: Templates, folder: str, campaign: str, to: Recipient,
                     context: dict[str, Any]) -> RenderedMessage:
    text = required_part(templates, folder, "telegram.html", to.locale, context).strip()
    length, _ = inspect_html(text)
    data: dict[str, Any] = {"parse_mode": "HTML",
                            "preview_lines": [f"Telegram: {length} of {MAX_TEXT} characters"]}
    button = templates.render(folder, "telegram.button", to.locale, context)
    if button is not None and button.strip():
        data["button"] = _parse_button(button, f"{templates.root / folder}/telegram.button")
        data["preview_lines"].append(f"Button: {data['button']['text']} -> "
                                     f"{data['button']['url']}")
    return RenderedMessage(campaign=campaign, channel="telegram", customer_id=to.customer_id,
                           to=to.address, to_name=to.name, text=text, data=data)


def _parse_button(text: str, file: str) -> dict[str, str]:
    label, bar, url = " ".join(text.split()).rpartition("|")
    label, url = label.strip(), url.strip()
    if not bar or not label:
        raise TemplateProblem(file, 1, "telegram.button must be one line 'Label | https://...'")
    if not url.startswith(("https://", "http://", "tg://")):
        raise TemplateProblem(file, 1, f"button URL must start with https:// (got {url!r})")
    return {"text": label, "url": url}


def check_telegram(settings: ChannelSettings, message: RenderedMessage) -> str | None:
    """Validate: markup Telegram refuses, or a text over its length limit."""
    length, problems = inspect_html(message.text)
    if length > MAX_TEXT:
        problems.append(f"{length} characters after formatting; Telegram allows {MAX_TEXT}")
    return "; ".join(problems) or None


def _build(settings: ChannelSettings, base_dir: Path) -> Channel:
    from channels.telegram import TelegramChannel

    assert isinstance(settings, TelegramSettings)
    return TelegramChannel(settings)


SPEC = ChannelSpec(name="telegram", settings=TelegramSettings, build=_build,
                   parts=("telegram.html", "telegram.button"), compose=compose_telegram,
                   test_mark="text", check=check_telegram)
