"""Settings of the Telegram channel (a bot through python-telegram-bot)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator

from channels.base import ChannelSettings
from channels.durations import Rate, Timeout

TELEGRAM_API = "https://api.telegram.org/bot"


class TelegramSettings(ChannelSettings):
    transport: Literal["bot", "file"] | None = None  # default: bot when a token is set
    token: SecretStr | None = None  # ${TELEGRAM_BOT_TOKEN}
    # Bot API server: a local telegram-bot-api server, or a loopback server in tests.
    base_url: str = TELEGRAM_API
    # Telegram allows about 30 messages/s per bot and 1 message/s per chat.
    rate: Rate | None = 30.0
    per_recipient_rate: Rate = 1.0
    timeout: Timeout = 15.0
    disable_link_preview: bool = False
    # Long polling for /stop and /start (seconds the Bot API holds each getUpdates).
    poll_timeout: int = Field(default=30, ge=0, le=50)
    # The bot's answers to /stop and /start: one text, or one per locale
    # ({uk: "...", en: "..."}; the customer's locale, else their Telegram app's
    # language, else the first entry).
    stop_reply: str | dict[str, str] = \
        "You will not get offers from us here any more. Send /start to resume."
    start_reply: str | dict[str, str] = "Welcome back! Send /stop at any time to stop offers."

    def reply(self, opt_in: bool, *languages: str | None) -> str:
        texts = self.start_reply if opt_in else self.stop_reply
        if isinstance(texts, str):
            return texts
        for language in languages:
            if not language:
                continue
            # "uk", "uk-UA", "uk_UA" -> "uk"
            for key in (language, language.replace("_", "-").split("-")[0]):
                if key in texts:
                    return texts[key]
        return next(iter(texts.values()))

    @field_validator("stop_reply", "start_reply")
    @classmethod
    def _some_text(cls, value: str | dict[str, str]) -> str | dict[str, str]:
        texts = [value] if isinstance(value, str) else list(value.values())
        if not texts or not all(t.strip() for t in texts):
            raise ValueError("needs a non-empty text (or one per locale)")
        return value

    @field_validator("token", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            bot_id, _, secret = value.get_secret_value().partition(":")
            if not bot_id.isdigit() or not secret:
                raise ValueError("a bot token looks like 123456:ABC... (from @BotFather)")
        return value

    def uses_file(self) -> bool:
        return self.transport == "file" or (self.transport is None and self.token is None)
