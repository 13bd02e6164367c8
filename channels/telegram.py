"""Telegram through python-telegram-bot's ``Bot``, HTML parse mode.

The text is the rendered ``telegram.html`` template: Jinja autoescapes what the
customer data brings (``<b>Олена & Co</b>`` arrives as text, not markup) while
the marketer's own tags stay. An optional inline button opens a URL.
"""

from __future__ import annotations

import contextvars
import logging
import warnings
from datetime import timedelta
from typing import Any

import httpx
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
from telegram.request import HTTPXRequest, RequestData

from channels.base import Channel, Fail, Gone, GoneAction, Outcome, RenderedMessage, Retry, Unknown
from channels.telegram_settings import TelegramSettings


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


# The HTTP status of the last Bot API answer in this task: PTB turns every 5xx into a
# NetworkError that carries only a text, and 503 (not taken) differs from 500 (maybe sent).
_last_status: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "telegram_last_status", default=None)


class _StatusRecordingRequest(HTTPXRequest):
    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        code, payload = await super().do_request(url, method, request_data, *args, **kwargs)
        _last_status.set(code)
        return code, payload


class TelegramServerError(NetworkError):
    """The Bot API answered with an HTTP 5xx."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def make_bot(settings: TelegramSettings, read_timeout: float | None = None) -> Bot:
    assert settings.token is not None
    _guard_logs(settings.token.get_secret_value())
    request = _StatusRecordingRequest(connection_pool_size=max(8, settings.concurrency),
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
        text = message.text
        _last_status.set(None)
        try:
            sent = await self._bot.send_message(chat_id=int(message.to), text=text,
                                                parse_mode=ParseMode.HTML, reply_markup=markup,
                                                link_preview_options=preview)
        except NetworkError as exc:
            status = _last_status.get()
            if type(exc) is NetworkError and status is not None and status >= 500:
                raise TelegramServerError(status, exc.message) from exc
            raise
        return f"{sent.chat_id}:{sent.message_id}"

    def classify(self, error: BaseException) -> Outcome:
        return classify_telegram_error(error)

    async def aclose(self) -> None:
        await self._bot.shutdown()


def retry_after_seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that the int form is deprecated
        warnings.simplefilter("ignore")
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def classify_telegram_error(error: BaseException) -> Outcome:
    """Map a python-telegram-bot error to an Outcome.

        RetryAfter (429)                 Retry, exactly the delay Telegram gave
        Forbidden (403): blocked, deactivated, kicked   Gone(SUPPRESS)
        BadRequest (400) chat not found  Gone(INVALIDATE)
        BadRequest (400) other           Fail (our text: bad HTML, too long, ...)
        ChatMigrated                     Fail (the group has a new chat id)
        InvalidToken (401/404)           Retry, systemic: our token; the guard pauses
        TimedOut: connect or pool        Retry, systemic: the request never left
        TimedOut: read or write          Unknown: Telegram may have delivered it
        NetworkError: connection refused Retry, systemic
        HTTP 503                         Retry, systemic
        other 5xx, dropped connection    Unknown, systemic: may have been delivered
    """
    # Messages of these errors never contain the token (PTB keeps it out of them),
    # except InvalidToken from initialize(), which we never call.
    text = str(error)[:200]
    cause = error.__cause__
    if isinstance(error, RetryAfter):
        seconds = retry_after_seconds(error)
        return Retry(f"telegram flood control: retry in {seconds:g}s", seconds, "429")
    if isinstance(error, Forbidden):
        return Gone(GoneAction.SUPPRESS, f"telegram 403: {text}", "403")
    if isinstance(error, BadRequest):
        if "chat not found" in text.lower():
            return Gone(GoneAction.INVALIDATE, "telegram 400: chat not found", "400")
        return Fail(f"telegram 400: {text}", "400")
    if isinstance(error, ChatMigrated):
        return Fail(f"telegram: group moved to chat {error.new_chat_id}", "400")
    if isinstance(error, InvalidToken):
        return Retry("telegram: the bot token was rejected", None, "401", systemic=True)
    if isinstance(error, TimedOut):
        if isinstance(cause, (httpx.ConnectTimeout, httpx.PoolTimeout)):
            return Retry(f"telegram: {type(cause).__name__} (not sent)", systemic=True)
        return Unknown("telegram: timed out after the request was sent", systemic=True)
    if isinstance(error, TelegramServerError):
        if error.status == 503:
            return Retry(f"telegram: HTTP 503: {text}", None, "503", systemic=True)
        return Unknown(f"telegram: HTTP {error.status}: {text}", str(error.status),
                       systemic=True)
    if isinstance(error, NetworkError):
        if isinstance(cause, httpx.ConnectError):
            return Retry(f"telegram network: {text}", systemic=True)
        return Unknown(f"telegram network: {text}", systemic=True)
    if isinstance(error, TelegramError):
        return Fail(f"telegram: {text}")
    return Unknown(f"unexpected {type(error).__name__}")
