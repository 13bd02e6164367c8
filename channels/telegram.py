"""Telegram through python-telegram-bot's ``Bot``, HTML parse mode.

The text is the rendered ``telegram.html`` template: Jinja autoescapes what the
customer data brings (``<b>Олена & Co</b>`` arrives as text, not markup) while
the marketer's own tags stay. An optional inline button opens a URL.
"""

from __future__ import annotations

import logging
import warnings
from datetime import timedelta

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest

from .base import Channel, Failure, FailureKind, RenderedMessage
from .telegram_settings import TelegramSettings


class _RedactTokens(logging.Filter):
    """The bot token is part of every Bot API URL, and PTB and httpx log URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(token in message for token in self.tokens):
            for token in self.tokens:
                message = message.replace(token, "<bot-token>")
            record.msg, record.args = message, ()
        return True


_REDACTOR = _RedactTokens()


def _guard_logs(token: str) -> None:
    _REDACTOR.tokens.add(token)
    names = [name for name in logging.root.manager.loggerDict
             if name.split(".")[0] in ("telegram", "httpx")] + ["telegram.Bot", "httpx"]
    for name in set(names):
        logger = logging.getLogger(name)
        if _REDACTOR not in logger.filters:
            logger.addFilter(_REDACTOR)


def make_bot(settings: TelegramSettings, read_timeout: float | None = None) -> Bot:
    assert settings.token is not None
    _guard_logs(settings.token.get_secret_value())
    request = HTTPXRequest(connection_pool_size=max(8, settings.concurrency),
                           read_timeout=read_timeout or settings.timeout,
                           connect_timeout=settings.timeout)
    return Bot(settings.token.get_secret_value(), base_url=settings.base_url, request=request,
               get_updates_request=HTTPXRequest(read_timeout=settings.poll_timeout + 10))


class TelegramChannel(Channel):
    name = "telegram"

    def __init__(self, settings: TelegramSettings) -> None:
        self.settings = settings
        self._bot = make_bot(settings)

    async def send(self, message: RenderedMessage) -> str:
        button = message.data.get("button")
        markup = None
        if button:
            markup = InlineKeyboardMarkup([[InlineKeyboardButton(button["text"],
                                                                 url=button["url"])]])
        preview = LinkPreviewOptions(is_disabled=True) \
            if self.settings.disable_link_preview else None
        text = f"[TEST] {message.text}" if message.is_test else message.text
        sent = await self._bot.send_message(chat_id=int(message.to), text=text,
                                            parse_mode=ParseMode.HTML, reply_markup=markup,
                                            link_preview_options=preview)
        return f"{sent.chat_id}:{sent.message_id}"

    def classify(self, error: BaseException) -> Failure:
        return classify_telegram_error(error)

    async def aclose(self) -> None:
        await self._bot.shutdown()


def retry_after_seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that the int form is deprecated
        warnings.simplefilter("ignore")
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def classify_telegram_error(error: BaseException) -> Failure:
    """Map a python-telegram-bot error to a Failure.

        RetryAfter                      RETRYABLE, exactly the delay Telegram gave
        Forbidden (403): blocked, deactivated, kicked   RECIPIENT_GONE: suppress the chat
        BadRequest (400) chat not found PERMANENT, address marked invalid
        BadRequest (400) other          PERMANENT (our text: bad HTML, too long, ...)
        ChatMigrated                    PERMANENT (the group has a new chat id)
        InvalidToken                    PERMANENT, systemic
        TimedOut                        PERMANENT, systemic: may have been delivered
        NetworkError (5xx, connect)     RETRYABLE, systemic
    """
    # Messages of these errors never contain the token (PTB keeps it out of them),
    # except InvalidToken from initialize(), which we never call.
    text = str(error)[:200]
    if isinstance(error, RetryAfter):
        seconds = retry_after_seconds(error)
        return Failure(FailureKind.RETRYABLE, f"telegram flood control: retry in {seconds:g}s",
                       "429", seconds)
    if isinstance(error, Forbidden):
        return Failure(FailureKind.RECIPIENT_GONE, f"telegram 403: {text}", "403")
    if isinstance(error, BadRequest):
        if "chat not found" in text.lower():
            return Failure(FailureKind.PERMANENT, "telegram 400: chat not found", "400",
                           address_invalid=True)
        return Failure(FailureKind.PERMANENT, f"telegram 400: {text}", "400")
    if isinstance(error, ChatMigrated):
        return Failure(FailureKind.PERMANENT,
                       f"telegram: group moved to chat {error.new_chat_id}", "400")
    if isinstance(error, InvalidToken):
        return Failure(FailureKind.PERMANENT, "telegram: the bot token was rejected", "401",
                       systemic=True)
    if isinstance(error, TimedOut):
        return Failure(FailureKind.PERMANENT,
                       "telegram: timed out (outcome unknown; not retried)", systemic=True)
    if isinstance(error, NetworkError):
        return Failure(FailureKind.RETRYABLE, f"telegram network: {text}", systemic=True)
    if isinstance(error, TelegramError):
        return Failure(FailureKind.PERMANENT, f"telegram: {text}")
    return Failure(FailureKind.PERMANENT, f"unexpected {type(error).__name__}")
