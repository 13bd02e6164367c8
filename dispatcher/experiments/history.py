"""What earlier runs of each campaign assigned with (read-only; never creates a database)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import exists, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from ..config.load import LoadedConfig
from ..store.db import make_engine
from ..store.schema import outbox, runs

log = logging.getLogger("dispatcher.experiments")


def experiments_used(loaded: LoadedConfig) -> dict[str, dict[str, Any]]:
    """Campaign -> experiment record of its latest run that planned outbox rows."""
    url = loaded.database_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if not database or database == ":memory:" or not Path(database).is_file():
            return {}
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("runs")} \
                if inspect(conn).has_table("runs") else set()
            if "experiment" not in columns:
                return {}
            query = (select(runs.c.campaign, runs.c.experiment)
                     .where(runs.c.experiment.is_not(None),
                            exists(select(outbox.c.id).where(outbox.c.run_id == runs.c.id)))
                     .order_by(runs.c.created_at, runs.c.id))
            return {campaign: record for campaign, record in conn.execute(query)}
    except SQLAlchemyError as exc:  # validate must work without a reachable database
        log.warning("could not read experiment history: %s", type(exc).__name__)
        return {}
    finally:
        engine.dispose()
