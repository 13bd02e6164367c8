"""Engine creation and schema migration."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from dispatcher.store.bucket_hash import register_sqlite_functions

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"



def normalize_address(channel: str, address: str) -> str:
    address = address.strip()
    if channel == "email":
        return address.lower()
    if channel == "sms":
        return "".join(ch for ch in address if ch.isdigit() or ch == "+")
    return address


def address_hash(channel: str, address: str) -> str:
    """Stable pseudonym of an address; suppressions are keyed by it."""
    normal = normalize_address(channel, address)
    return hashlib.sha256(f"{channel}:{normal}".encode()).hexdigest()


def make_engine(url: str, echo: bool = False) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        # hide_parameters: a database error's message (logged, with -v in a traceback)
        # never carries the statement's values, which may be customer data.
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30},
                               hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cursor = dbapi_conn.cursor()
            # WAL lets readers (status, reports) run while the sender writes.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()
            register_sqlite_functions(dbapi_conn)  # A/B bucket hash, as on PostgreSQL

        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, hide_parameters=True)


def _alembic_config(engine: Engine):
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


class DatabaseUnavailable(RuntimeError):
    """The database could not be opened: an unreachable server, a file that cannot be
    created, a URL that is not one. The message names the database without its password."""

    def __init__(self, safe_url: str, reason: str, exit_code: int = 1) -> None:
        self.safe_url = safe_url
        self.reason = reason
        self.exit_code = exit_code  # 2: the URL itself is wrong (configuration)
        super().__init__(f"cannot open the database {safe_url}: {reason}")


def open_engine(url: str, echo: bool = False) -> Engine:
    """An engine whose database is reachable and at the newest schema revision."""
    from sqlalchemy.exc import ArgumentError, DBAPIError

    try:
        safe_url = make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        raise DatabaseUnavailable(hide_password(url), "not a database URL (e.g. "
                                  "sqlite:///dispatcher.db or postgresql+psycopg://"
                                  "user:password@host/db)", exit_code=2) from None
    try:
        engine = make_engine(url, echo=echo)
    except (ArgumentError, ImportError) as exc:  # unknown dialect, driver not installed
        raise DatabaseUnavailable(safe_url, one_line(str(exc)), exit_code=2) from None
    try:
        migrate(engine)
    except DBAPIError as exc:
        engine.dispose()
        raise DatabaseUnavailable(safe_url, hide_password(one_line(str(exc.orig)))) \
            from None
    return engine


def one_line(text: str) -> str:
    """A driver's multi-line message as one line."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


_URL_PASSWORD = re.compile(r"(\w[\w+.-]*://[^:/@\s]*):[^@\s]*@")


def hide_password(text: str) -> str:
    """``scheme://user:password@`` in any text becomes ``scheme://user:***@``."""
    return _URL_PASSWORD.sub(r"\1:***@", text)


class OutdatedDatabase(RuntimeError):
    """The database says it is at the newest revision but lacks tables of it."""


_REVISION_LINE = re.compile(r"^(down_revision|revision)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.M)


def _head_revision() -> str | None:
    """The newest revision id, read from the revision files' own lines (no Alembic import:
    it costs a command a noticeable share of its start-up); None when not plain."""
    revisions: dict[str, str | None] = {}
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        found = dict(_REVISION_LINE.findall(path.read_text(encoding="utf-8")))
        rev, down = found.get("revision", ""), found.get("down_revision", "None")
        if not re.fullmatch(r"['\"][\w-]+['\"]", rev) or not re.fullmatch(
                r"None|['\"][\w-]+['\"]", down):
            return None  # a merge revision or anything unusual: let Alembic decide
        revisions[rev.strip("'\"")] = None if down == "None" else down.strip("'\"")
    heads = set(revisions) - set(revisions.values())
    return heads.pop() if len(heads) == 1 else None


def _at_head(conn: Connection) -> bool:
    from sqlalchemy.exc import DBAPIError

    head = _head_revision()
    if head is None:
        return False
    try:
        with conn.begin_nested():  # a missing table must not spoil the transaction
            versions = set(conn.exec_driver_sql(
                "SELECT version_num FROM alembic_version").scalars())
    except DBAPIError:
        return False
    return versions == {head}


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    from sqlalchemy import inspect

    from dispatcher.store.schema import metadata

    with engine.begin() as conn:
        if not _at_head(conn):  # Alembic only when there is something to do
            from alembic import command

            cfg = _alembic_config(engine)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        # Until the first release the schema is one revision that grows: a database made
        # by an older pre-release build claims "head" yet misses tables. Say so plainly
        # instead of failing later with "no such table".
        inspector = inspect(conn)
        present = set(inspector.get_table_names())
        missing = sorted(set(metadata.tables) - present)
        missing += sorted(
            f"{name}.{column}" for name, table in metadata.tables.items() if name in present
            for column in set(table.columns.keys())
            - {c["name"] for c in inspector.get_columns(name)})
    if missing:
        raise OutdatedDatabase(
            f"the database {engine.url.render_as_string(hide_password=True)} was created "
            f"by an older pre-release version (missing tables or columns: {', '.join(missing)}); "
            "move it aside and run the command again to create a fresh one")
