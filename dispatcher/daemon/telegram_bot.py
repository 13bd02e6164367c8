"""The daemon's Telegram bot: ``/stop`` and ``/start`` by long polling ``getUpdates``.

``command_for(update)`` is pure (what does this update ask for?), ``apply_update``
records it; the service loop only fetches, applies, confirms (the next offset)
and replies. Applying an update twice is harmless, so a crash between applying
and confirming cannot do damage.

A user who blocks the bot shows up as a ``my_chat_member`` update with status
"kicked": that is an opt-out too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from channels.telegram_settings import TelegramSettings
from dispatcher.clock import utcnow
from dispatcher.policy.optout import ConsentChange, apply_consent_change
from dispatcher.policy.optout_board import announced
from dispatcher.store.db import address_hash
from dispatcher.store.schema import addresses, customers

log = logging.getLogger("dispatcher.daemon.telegram_bot")

STOP_COMMANDS = frozenset({"/stop", "/unsubscribe"})
START_COMMANDS = frozenset({"/start"})


def command_for(update: dict[str, Any]) -> ConsentChange | None:
    """Pure: the consent change one Bot API update asks for, or None."""
    member = update.get("my_chat_member")
    if member:
        chat = member.get("chat", {})
        if chat.get("type") == "private" and \
                member.get("new_chat_member", {}).get("status") == "kicked":
            return ConsentChange("telegram", str(chat["id"]), False, "telegram:blocked",
                                 at=_sent_at(member))
        return None
    message = update.get("message") or {}
    text = (message.get("text") or "").strip()
    chat = message.get("chat") or {}
    if not text.startswith("/") or "id" not in chat:
        return None
    # "/stop@shop_bot extra words" -> "/stop"
    command = text.split()[0].split("@")[0].lower()
    if command in STOP_COMMANDS:
        return ConsentChange("telegram", str(chat["id"]), False, f"telegram:{command}", text,
                             at=_sent_at(message))
    if command in START_COMMANDS:
        return ConsentChange("telegram", str(chat["id"]), True, f"telegram:{command}", text,
                             at=_sent_at(message))
    return None


def _sent_at(event: dict[str, Any]) -> datetime | None:
    """When the person did it (the update's ``date``), so a delayed or redelivered
    update is ordered by that, not by when it reached us.

    The Bot API dates to the whole second; we take the end of that second, so the
    person's command is never placed before something we recorded within the same
    second (the import that created their address, say)."""
    date = event.get("date")
    if isinstance(date, datetime):
        sent = date.astimezone(UTC).replace(tzinfo=None)
    elif isinstance(date, int | float) and not isinstance(date, bool) and date > 0:
        sent = datetime.fromtimestamp(date, UTC).replace(tzinfo=None)
    else:
        return None
    return sent.replace(microsecond=0) + _LAST_MICROSECOND


_LAST_MICROSECOND = timedelta(microseconds=999_999)


def apply_update(engine: Engine, update: dict[str, Any]
                 ) -> tuple[ConsentChange | None, str | None]:
    """Record what ``update`` asks for; return it (None when it asks for nothing) and
    the locale of the customer this chat belongs to (if known), so the bot answers in
    the customer's language."""
    change = command_for(update)
    locale = None
    if change is not None:
        now = utcnow()
        if change.at is not None and change.at > now:
            change = replace(change, at=now)  # a skewed clock: nothing is from the future
        with engine.begin() as conn:
            apply_consent_change(conn, change, now)
            locale = conn.execute(
                select(customers.c.locale).select_from(addresses.join(
                    customers, customers.c.id == addresses.c.customer_id))
                .where(addresses.c.channel == "telegram",
                       addresses.c.address_hash == address_hash("telegram", change.address))
                .limit(1)).scalar()
    return change, locale


def telegram_language(update: dict[str, Any]) -> str | None:
    """The language of the user's Telegram app, as the update reports it."""
    message = update.get("message") or update.get("my_chat_member") or {}
    return (message.get("from") or {}).get("language_code")


async def poll_commands(state: Any, stop: asyncio.Event) -> None:
    """BACKGROUND_SERVICES entry: runs while the daemon runs, if a bot token is set."""
    settings = state.loaded.channel_settings.get("telegram")
    if not isinstance(settings, TelegramSettings) or settings.uses_file():
        return
    from telegram.error import Conflict, InvalidToken, NetworkError, RetryAfter

    from channels.telegram import make_bot, retry_after_seconds

    bot = make_bot(settings)
    offset: int | None = None
    try:
        while not stop.is_set():
            try:
                updates = await _until_stopped(stop, bot.get_updates(
                    offset=offset, timeout=settings.poll_timeout,
                    allowed_updates=["message", "my_chat_member"]))
            except RetryAfter as exc:
                await _sleep(stop, retry_after_seconds(exc))
                continue
            except InvalidToken:
                log.error("telegram: the bot token was rejected; /stop handling is off")
                return
            except (Conflict, NetworkError) as exc:  # a webhook is set, or the network
                log.warning("telegram getUpdates failed: %s", type(exc).__name__)
                await _sleep(stop, 5.0)
                continue
            if updates is None:
                return
            for update in updates:
                raw = update.to_dict()
                change, locale = await announced(apply_update, state.engine, raw)
                offset = update.update_id + 1
                if change is not None and change.source != "telegram:blocked":
                    # The reply texts of the current config (SIGHUP reloads them).
                    current = state.loaded.channel_settings.get("telegram", settings)
                    reply = current.reply(change.opt_in, locale, telegram_language(raw))
                    with contextlib.suppress(NetworkError, RetryAfter, Conflict):
                        await bot.send_message(chat_id=int(change.address), text=reply)
        if offset is not None:  # confirm the last batch so a restart does not replay it
            with contextlib.suppress(Exception):
                await bot.get_updates(offset=offset, timeout=0)
    finally:
        await bot.shutdown()


async def _until_stopped(stop: asyncio.Event, call: Any) -> Any:
    """Await ``call`` unless ``stop`` is set first (then cancel it and return None)."""
    task = asyncio.ensure_future(call)
    stopper = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if task in done:
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    return None


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
