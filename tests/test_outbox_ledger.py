"""The outbox state machine on its own: fencing by claim token, and the start mark's
consent rule held equal to the sender's Python rule. Both engines."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import insert, select, update

from dispatcher.app import load, open_store
from dispatcher.outbox.ledger import Ledger, Record
from dispatcher.outbox.reachable import skip_reason
from dispatcher.store.schema import addresses, outbox, suppressions, topic_optouts
from dispatcher.store.states import OutboxStatus

from .daemon_peers import build_shop
from .shop import Shop

START = datetime(2026, 11, 30, 12, 0, 0)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def planned(shop: Shop, db_url: str, monkeypatch: pytest.MonkeyPatch, count: int = 3):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DISPATCHER_DATABASE_URL", db_url)
    build_shop(shop, 9, count)
    shop.cli("pause", "win_back")
    shop.cli("run-once", "win_back", "--wait-retries", "0")  # plans, sends nothing
    shop.cli("resume", "win_back")
    engine = open_store(load(str(shop.config_path)))
    with engine.begin() as conn:  # due before our pinned clock's start
        conn.execute(update(outbox).values(not_before=START - timedelta(minutes=1)))
    return engine


def test_a_stalled_claim_can_neither_mark_nor_record_what_another_took_over(
        shop: Shop, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = planned(shop, db_url, monkeypatch)
    clock = Clock()
    stalled = Ledger(engine, clock, timedelta(seconds=4), "a:1")
    other = Ledger(engine, clock, timedelta(seconds=4), "b:2")
    # Given a claim whose owner stalls past its lease, and another dispatcher recovering
    first = stalled.claim(["email"], None, 10)
    ids = [r.id for r in first.rows]
    assert len(ids) == 3
    started = stalled.commit([], [(first.token, ids[:1])]).started  # one row started
    assert started == {(first.token, ids[0])}
    clock.now += timedelta(seconds=5)
    assert other.recover_expired([]) == 1  # the started one: uncertain
    second = other.claim(["email"], None, 10)  # the other two, claimed again
    assert sorted(r.id for r in second.rows) == ids[1:]

    # When the stalled owner wakes up and carries on
    marks = stalled.commit([Record(ids[1], first.token, OutboxStatus.SENT)],
                           [(first.token, ids[1:])])
    stalled.extend([first.token], clock.now)

    # Then it marked nothing, recorded nothing, extended nothing
    assert marks.started == set()
    assert marks.lost == {(first.token, i) for i in ids[1:]}
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(select(outbox))}
    for i in ids[1:]:
        assert (rows[i].status, rows[i].claim_token) == ("sending", second.token)
        assert rows[i].send_started_at is None
        assert rows[i].lease_until == second.lease_until
    # and the row it had started stays in doubt, until its own late answer says more
    assert rows[ids[0]].status == "uncertain"
    stalled.commit([Record(ids[0], first.token, OutboxStatus.SENT, provider_id="late")])
    with engine.connect() as conn:
        late = conn.execute(select(outbox).where(outbox.c.id == ids[0])).one()
    assert (late.status, late.provider_id) == ("sent", "late")
    # while the new owner's marks and outcomes do apply
    assert other.commit([], [(second.token, ids[1:])]).started == \
        {(second.token, i) for i in ids[1:]}
    engine.dispose()


# address state -> (consent, invalid, suppressed, topic switched off)
STATES = {
    "granted": ("granted", False, False, False),
    "withdrawn": ("withdrawn", False, False, False),
    "never asked": (None, False, False, False),
    "invalid": ("granted", True, False, False),
    "suppressed": ("granted", False, True, False),
    "topic off": ("granted", False, False, True),
    "everything": ("withdrawn", True, True, True),
}


def test_the_start_mark_and_the_python_rule_agree(
        shop: Shop, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = planned(shop, db_url, monkeypatch, count=len(STATES))
    with engine.begin() as conn:
        rows = conn.execute(select(outbox.c.id, outbox.c.address_id, outbox.c.customer_id,
                                   outbox.c.topic).order_by(outbox.c.id)).all()
        for (consent, invalid, suppressed, topic_off), row in zip(STATES.values(), rows,
                                                                   strict=True):
            conn.execute(update(addresses).where(addresses.c.id == row.address_id).values(
                consent=consent, invalid_at=START if invalid else None))
            if suppressed:
                digest = conn.execute(select(addresses.c.address_hash).where(
                    addresses.c.id == row.address_id)).scalar_one()
                conn.execute(insert(suppressions).values(
                    channel="email", address_hash=digest, reason="opted_out", created_at=START))
            if topic_off:
                conn.execute(insert(topic_optouts).values(
                    customer_id=row.customer_id, topic=row.topic, created_at=START))
    ledger = Ledger(engine, Clock(), timedelta(minutes=5), "a:1")
    claim = ledger.claim(["email"], None, 100)
    marks = ledger.commit([], [(claim.token, [r.id for r in claim.rows])])
    by_id = {row.id: name for name, row in zip(STATES, rows, strict=True)}
    in_sql = {by_id[i] for _, i in marks.started}
    in_python = {name for name, (consent, invalid, suppressed, topic_off) in STATES.items()
                 if skip_reason(SimpleNamespace(consent=consent,
                                                invalid_at=START if invalid else None),
                                suppressed, topic_off) is None}
    assert in_sql == in_python == {"granted"}
    # the rows the mark refused are recorded as skips, with the Python rule's reason
    with engine.connect() as conn:
        reasons = {by_id[r.id]: (r.status, r.reason) for r in conn.execute(select(outbox))}
    assert reasons["withdrawn"] == ("skipped", "opted_out")
    assert reasons["suppressed"] == ("skipped", "suppressed")
    assert reasons["topic off"] == ("skipped", "topic_opted_out")
    engine.dispose()
