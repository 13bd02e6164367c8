"""The bucket hash, without dependencies so the store can register it on SQLite."""

from __future__ import annotations

import hashlib
from typing import Any

BUCKETS = 10_000
SQLITE_FUNCTION = "dispatcher_bucket"


def hash_prefix(salt: str, campaign: str) -> str:
    return f"{salt}:{campaign}:"


def bucket_of(prefix: str, customer_id: str) -> int:
    """The Python reference of ``variant_bucket`` (experiments/assign.py)."""
    digest = hashlib.md5(f"{prefix}{customer_id}".encode()).hexdigest()
    return int(digest[:8], 16) % BUCKETS


def register_sqlite_functions(dbapi_conn: Any) -> None:
    def bucket(prefix: str | None, customer_id: Any) -> int | None:
        if prefix is None or customer_id is None:
            return None
        return bucket_of(prefix, str(customer_id))

    dbapi_conn.create_function(SQLITE_FUNCTION, 2, bucket, deterministic=True)
