"""An error line in the daemon's log says what went wrong; ``-v`` adds the traceback.

The database turns read-only under a running daemon (a failover left it on a standby):
every attempt of the sender fails, and the log must name the cause on the line itself.
"""

from __future__ import annotations

import re
import signal

import psycopg
import pytest
from sqlalchemy.engine import make_url

from .daemon_peers import Output, SinkHandler, build_shop, start
from .shop import Shop
from .smtp_server import SMTPServer


def make_read_only(db_url: str) -> None:
    url = make_url(db_url)
    with psycopg.connect(f"postgresql://postgres@{url.host}:{url.port}/postgres",
                         autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{url.database}" SET default_transaction_read_only = on')
        # sessions already open keep their setting: end them, the daemon reconnects
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = %s AND pid <> pg_backend_pid()", (url.database,))


@pytest.mark.parametrize("verbose", [False, True], ids=["default", "verbose"])
def test_sender_failures_are_logged_with_their_cause(
        shop: Shop, pg_url: str, monkeypatch: pytest.MonkeyPatch, verbose: bool) -> None:
    monkeypatch.setenv("DISPATCHER_DATABASE_URL", pg_url)
    with SMTPServer(SinkHandler()) as smtp:
        build_shop(shop, smtp.port, 3)
        args = ["-v", "run", "--no-http"] if verbose else ["run", "--no-http"]
        proc = start(shop, pg_url, *args)
        output = Output(proc)
        try:
            output.wait_for("dispatcher running")
            # When the database becomes read-only under it
            make_read_only(pg_url)
            output.wait_for("cannot execute UPDATE in a read-only transaction")
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    lines = [line for line in output.text().splitlines() if "sender loop failed" in line]
    # Then each error line carries the exception's type and message (the first may be
    # the connection the server ended; then the database's own refusal)
    assert lines
    for line in lines:
        assert re.search(r"\(cause: \w+Error: \w+: .+\)", line), line
    assert any("ReadOnlySqlTransaction: cannot execute UPDATE in a read-only transaction"
               in line for line in lines), lines
    # the statement stays out of the default log, its parameters (customer data) out of both
    assert ("[SQL:" in output.text()) is verbose
    assert "[parameters:" not in output.text()
    # and the traceback comes with -v only
    assert ("Traceback (most recent call last)" in output.text()) is verbose
