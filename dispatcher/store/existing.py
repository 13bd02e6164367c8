"""An engine on a store that already exists, for read-only checks (``validate``).

Never creates a SQLite file: a config validated before ``init-db`` has no history.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from dispatcher.store.db import make_engine


def existing_engine(url: str) -> Engine | None:
    """An engine on the store at ``url``, or None when it is a SQLite file not there."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if not database or database == ":memory:" or not Path(database).is_file():
            return None
    return make_engine(url)
