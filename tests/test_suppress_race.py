"""Two writers suppressing the same address at once (a STOP and a bounce, two daemons)
both succeed: the suppression is written by one statement with ON CONFLICT DO NOTHING,
not a select followed by an insert that loses the race on the unique key."""

from __future__ import annotations

import threading
import time
from datetime import datetime

from sqlalchemy import func, insert, select

from dispatcher.app import load, open_store
from dispatcher.policy.suppress import upsert_suppression
from dispatcher.store.db import address_hash
from dispatcher.store.schema import suppressions

from .shop import Shop

NOW = datetime(2026, 11, 30, 12, 0, 0)


def test_a_suppression_racing_another_for_the_same_address_does_not_fail(
        pg_shop: Shop) -> None:
    pg_shop.write_config("email:\n  transport: file\n", "everyone:\n  id: {is_null: false}\n",
                         "hello:\n  segment: everyone\n  channels: [email]\n")
    pg_shop.template("hello/email.subject", "Hi")
    pg_shop.template("hello/email.txt", "Hi")
    engine = open_store(load(str(pg_shop.config_path)))
    digest = address_hash("email", "olena@example.com")
    errors: list[BaseException] = []
    with engine.connect() as first:
        # Given one writer that has inserted the suppression but not yet committed
        transaction = first.begin()
        first.execute(insert(suppressions).values(channel="email", address_hash=digest,
                                                  reason="bounced", created_at=NOW))

        def second_writer() -> None:
            try:
                with engine.begin() as conn:  # waits for the first on the unique key
                    upsert_suppression(conn, "email", digest, "opted_out", "STOP", NOW)
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=second_writer)
        thread.start()
        # Give it time to reach the first writer's row lock. A sleep, not a timed join:
        # under .ci/run's faketime pass a timed lock wait never times out.
        time.sleep(1.0)
        transaction.commit()
        deadline = time.monotonic() + 60
        while thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
    # Then both writers succeed, and the first reason stays on file
    assert not thread.is_alive() and errors == []
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(suppressions)).scalar() == 1
        assert conn.execute(select(suppressions.c.reason)).scalar() == "bounced"
