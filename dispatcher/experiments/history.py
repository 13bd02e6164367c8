"""What earlier runs of each campaign assigned with (read-only; never creates a database)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import exists, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from dispatcher.config.load import LoadedConfig
from dispatcher.store.existing import existing_engine
from dispatcher.store.schema import outbox, runs

log = logging.getLogger("dispatcher.experiments")


def experiments_used(loaded: LoadedConfig) -> dict[str, dict[str, Any]]:
    """Campaign -> experiment record of its latest run that planned outbox rows."""
    engine = existing_engine(loaded.database_url())
    if engine is None:
        return {}
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
