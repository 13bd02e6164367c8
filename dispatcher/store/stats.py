"""Planner statistics after a bulk write.

A table filled in one go has no statistics until autovacuum gets to it (a minute or
more, and never inside the transaction that filled it). Until then PostgreSQL guesses a
few rows per table and plans the segment query as a nested loop over customers x orders:
64-86 s for 20,000 customers and 644 s for 40,000 instead of about 1.5 s (issue 19).
Every bulk writer (import, bounce files, a plan of BULK_ROWS rows or more) calls
``refresh_statistics`` after it commits, with the tables it wrote; the synthetic shop
behind ``demo`` and the benchmarks runs ANALYZE itself (dispatcher/demo/synth.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Engine

from dispatcher.store.schema import metadata

# A write of at least this many rows refreshes statistics (a daily plan of a few rows
# does not pay for it; autovacuum catches up with small changes).
BULK_ROWS = 10_000


def refresh_statistics(engine: Engine, tables: Iterable[str]) -> None:
    """ANALYZE ``tables`` (names of the store's tables) on PostgreSQL, in a transaction of
    its own. On SQLite nothing: it never refreshes statistics by itself, so a snapshot
    taken after an import would go stale as orders arrive one by one and mislead its
    planner later; without statistics its planner's heuristics serve this schema well."""
    names = sorted(set(tables))
    unknown = [name for name in names if name not in metadata.tables]
    if unknown:  # names go into the statement: only the schema's own
        raise ValueError(f"not a table of the store: {', '.join(unknown)}")
    if not names:
        return
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        conn.exec_driver_sql(f"ANALYZE {', '.join(names)}")
