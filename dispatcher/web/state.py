"""What the daemon's HTTP handlers and background services share.

Kept free of the web extra's imports: the background services (the Telegram bot's
/stop handling) run on a core install that has no HTTP app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from dispatcher.config.load import LoadedConfig


@dataclass
class WebState:
    """What handlers need; ``loaded`` is swapped on config reload."""

    loaded: LoadedConfig
    engine: Engine
    extra: dict[str, Any]
    # Run once the HTTP server has stopped answering (shutdown): e.g. the click writer
    # drains its queue, so every click that was answered is stored.
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for closer in self.closers:
            closer()
