"""What the daemon's HTTP handlers and background services share.

Kept free of the web extra's imports: the background services (the Telegram bot's
/stop handling) run on a core install that has no HTTP app.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from .config.load import LoadedConfig


@dataclass
class WebState:
    """What handlers need; ``loaded`` is swapped on config reload."""

    loaded: LoadedConfig
    engine: Engine
    extra: dict[str, Any]
