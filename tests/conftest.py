from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .shop import Shop
from .smtp_server import SMTPServer


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    with SMTPServer() as server:
        yield server


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Shop:
    monkeypatch.delenv("DISPATCHER_DATABASE_URL", raising=False)
    monkeypatch.delenv("DISPATCHER_CONFIG", raising=False)
    return Shop(tmp_path)

# A real throwaway PostgreSQL for the session (tests/pg.py): postgres_server, pg_url,
# db_url (each test on both dialects), pg_shop (the shop fixture on PostgreSQL).
from .pg import db_url, pg_shop, pg_url, postgres_server  # noqa: E402, F401


@pytest.fixture(autouse=True)
def _reset_dispatcher_logging() -> Iterator[None]:
    """A CLI run configures the 'dispatcher' logger (own handler, no propagation); undo it
    so a later test's caplog still sees dispatcher.* records."""
    yield
    import logging

    logger = logging.getLogger("dispatcher")
    logger.handlers.clear()
    logger.setLevel(logging.NOTSET)
    logger.propagate = True
