"""Background services the daemon runs beside the scheduler and the HTTP app.

Each entry is ``"module:function"`` where ``function(state, stop)`` is a coroutine
function taking the daemon's ``WebState`` and an ``asyncio.Event`` that is set on
shutdown; it must return soon after ``stop`` is set. Listing them here keeps the
daemon ignorant of which features exist (the Telegram bot's /stop handling, ...).
"""

from __future__ import annotations

BACKGROUND_SERVICES: list[str] = [
    "dispatcher.daemon.telegram_bot:poll_commands",
]
