""""May we message this address" is defined once (store/addressable.py), in SQL for
segments, the planner and the start mark, and in Python for the sender's skip reasons
and the preference page. The two are held equal over every combination, on both engines."""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest
from sqlalchemy import insert, select

from dispatcher.app import load, open_store
from dispatcher.store.addressable import address_refusal, usable_address
from dispatcher.store.db import address_hash
from dispatcher.store.schema import addresses, customers, suppressions

from .shop import Shop

NOW = datetime(2026, 11, 30, 12, 0, 0)
CASES = list(itertools.product(["granted", "withdrawn", None], [False, True], [False, True]))


def test_the_sql_rule_and_the_python_rule_agree(shop: Shop, db_url: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPATCHER_DATABASE_URL", db_url)
    shop.write_config("email:\n  transport: file\n", "everyone:\n  id: {is_null: false}\n",
                      "hello:\n  segment: everyone\n  channels: [email]\n")
    shop.template("hello/email.subject", "Hi")
    shop.template("hello/email.txt", "Hi")
    engine = open_store(load(str(shop.config_path)))
    expected: dict[str, str | None] = {}
    with engine.begin() as conn:
        for number, (consent, invalid, suppressed) in enumerate(CASES):
            email = f"c{number}@example.com"
            digest = address_hash("email", email)
            conn.execute(insert(customers).values(id=f"c{number}", attributes={}, created_at=NOW,
                                                   updated_at=NOW))
            conn.execute(insert(addresses).values(
                customer_id=f"c{number}", channel="email", address=email, address_hash=digest,
                consent=consent, invalid_at=NOW if invalid else None, created_at=NOW))
            if suppressed:
                conn.execute(insert(suppressions).values(
                    channel="email", address_hash=digest, reason="opted_out", created_at=NOW))
            expected[email] = address_refusal(consent, NOW if invalid else None, suppressed)
    with engine.connect() as conn:
        in_sql = set(conn.execute(select(addresses.c.address).where(usable_address())).scalars())
    in_python = {email for email, refusal in expected.items() if refusal is None}
    assert in_sql == in_python == {"c0@example.com"}  # granted, valid, not suppressed
    # every refusal has a reason a report can show
    assert {refusal for refusal in expected.values()} == {None, "opted_out", "suppressed"}
