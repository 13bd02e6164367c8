"""The PostgreSQL fixtures: a throwaway server for the session (tests/support/postgres.py).

Found on PATH or under /usr/lib/postgresql/*/bin. When the tests run as root the
server runs as the ``postgres`` user (PostgreSQL refuses to run as root), with a
data directory it owns under a temp dir, listening on loopback TCP on a free
port. Without the binaries the PostgreSQL tests are skipped, unless
DISPATCHER_REQUIRE_POSTGRES=1 (CI), which turns that into a failure.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .shop import Shop
from .support.postgres import PostgresServer, find_bindir


def _unavailable(reason: str) -> None:
    if os.environ.get("DISPATCHER_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL required (DISPATCHER_REQUIRE_POSTGRES=1): {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = find_bindir()
    if bindir is None:
        _unavailable("no PostgreSQL server binaries (initdb) found")
        return
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed (pip install -e '.[postgres]')")
    server = PostgresServer(bindir)
    try:
        server.start()
    except (subprocess.CalledProcessError, OSError) as exc:
        output = getattr(exc, "stdout", b"") or b""
        server.stop()
        _unavailable(f"could not start PostgreSQL: {exc}: {output.decode(errors='replace')}")
    yield server
    server.stop()


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> str:
    """URL of a new empty database on the session's PostgreSQL."""
    return postgres_server.new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Run a test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shop.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def pg_shop(shop: Shop, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Shop:
    """The test's throwaway shop (tests/shop.py), its database on PostgreSQL."""
    monkeypatch.setenv("DISPATCHER_DATABASE_URL", pg_url)
    shop.db_url = lambda: pg_url  # type: ignore[method-assign]
    return shop
