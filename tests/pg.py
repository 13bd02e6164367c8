"""A throwaway PostgreSQL server for the test session (initdb + pg_ctl).

Found on PATH or under /usr/lib/postgresql/*/bin. When the tests run as root the
server runs as the ``postgres`` user (PostgreSQL refuses to run as root), with a
data directory it owns under a temp dir, listening on loopback TCP on a free
port. Without the binaries the PostgreSQL tests are skipped, unless
DISPATCHER_REQUIRE_POSTGRES=1 (CI), which turns that into a failure.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .shop import Shop
from .smtp_server import free_port

_counter = itertools.count()


def _bindir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def _as_postgres(args: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return args
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", "postgres", "--", *args]
    return ["su", "postgres", "-c", " ".join(args)]


class PostgresServer:
    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="dispatcher-pg-"))
        self.data = self.root / "data"
        self.port = free_port()

    def _run(self, *args: str) -> None:
        subprocess.run(_as_postgres([str(a) for a in args]), check=True,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)

    def start(self) -> None:
        os.chmod(self.root, 0o755)
        self.data.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.data, "postgres", "postgres")
        self._run(self.bindir / "initdb", "-D", str(self.data), "-U", "postgres",
                  "--auth=trust", "-E", "UTF8", "--no-sync")
        self._run(self.bindir / "pg_ctl", "-D", str(self.data), "-w", "-t", "60",
                  "-l", str(self.data / "server.log"), "-o",
                  f"-h 127.0.0.1 -p {self.port} -k {self.data} -c fsync=off "
                  f"-c max_connections=200", "start")

    def stop(self) -> None:
        try:
            self._run(self.bindir / "pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; its SQLAlchemy URL."""
        import psycopg

        name = f"t{os.getpid()}_{next(_counter)}"
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _unavailable(reason: str) -> None:
    if os.environ.get("DISPATCHER_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL required (DISPATCHER_REQUIRE_POSTGRES=1): {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = _bindir()
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
