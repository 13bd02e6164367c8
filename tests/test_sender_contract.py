"""The sender's contract, for every outcome a channel can report and every channel setting.

The real sender runs against a real database with a scripted channel (channels/scripted.py)
in place of the provider: each recipient's sends answer as scripted. For each scenario
the table says what a user would check: how many provider calls, the row's final state,
and how many copies the customer received.

Settings: A plain channel with 3 or 1 attempts, and one declared ``idempotent`` (its
provider drops a duplicate of the same message) with 3 or 1 attempts.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

import dispatcher.send.sender as sender_module
from channels.base import Fail, Gone, GoneAction, Retry, Unknown
from channels.scripted import Answer, ScriptedChannel
from dispatcher.app import load, open_store
from dispatcher.send.sender import Sender, SenderOptions
from dispatcher.store.schema import addresses, outbox, suppressions

from .daemon_peers import address, build_shop
from .shop import Shop

RETRY = Answer(Retry("mailbox busy", after=0.05))
UNKNOWN_DELIVERED = Answer(Unknown("no answer after DATA"), delivered=True)
UNKNOWN_LOST = Answer(Unknown("no answer after DATA"))

# scenario -> the sends' answers (after them: delivered)
SCRIPTS: dict[str, tuple[Answer, ...]] = {
    "delivered": (),
    "retry_once": (RETRY,),
    "retry_always": (RETRY,) * 5,
    "fail": (Answer(Fail("rejected as spam")),),
    "unknown_delivered": (UNKNOWN_DELIVERED,),
    "unknown_lost": (UNKNOWN_LOST,),
    "unknown_always": (UNKNOWN_LOST,) * 5,
    "gone_suppress": (Answer(Gone(GoneAction.SUPPRESS, "unsubscribed", "21610")),),
    "gone_invalidate": (Answer(Gone(GoneAction.INVALIDATE, "no such number", "21211")),),
    "gone_delete": (Answer(Gone(GoneAction.SUPPRESS | GoneAction.DELETE, "expired", "410")),),
    "opted_out_before_claim": (),  # consent withdrawn after planning
    "opted_out_before_mark": (),  # withdrawn after the claim's checks, before the mark
    "taken_over": (),  # another dispatcher took the row after our claim
}
SCENARIOS = list(SCRIPTS)

# scenario -> (provider calls, final state, copies received), the same under every setting
ALWAYS: dict[str, tuple[int, str, int]] = {
    "delivered": (1, "sent", 1),
    "fail": (1, "failed", 0),
    "gone_suppress": (1, "failed", 0),
    "gone_invalidate": (1, "failed", 0),
    "gone_delete": (1, "failed", 0),
    "opted_out_before_claim": (0, "skipped", 0),
    "opted_out_before_mark": (0, "skipped", 0),
    "taken_over": (0, "sending", 0),  # left to its new owner, untouched
}
# setting -> scenario -> what depends on the setting
EXPECTED: dict[str, dict[str, tuple[int, str, int]]] = {
    "plain, 3 attempts": {
        **ALWAYS,
        "retry_once": (2, "sent", 1),
        "retry_always": (3, "failed", 0),
        "unknown_delivered": (1, "uncertain", 1),
        "unknown_lost": (1, "uncertain", 0),
        "unknown_always": (1, "uncertain", 0),
    },
    "plain, 1 attempt": {
        **ALWAYS,
        "retry_once": (1, "failed", 0),
        "retry_always": (1, "failed", 0),
        "unknown_delivered": (1, "uncertain", 1),
        "unknown_lost": (1, "uncertain", 0),
        "unknown_always": (1, "uncertain", 0),
    },
    "idempotent, 3 attempts": {
        **ALWAYS,
        "retry_once": (2, "sent", 1),
        "retry_always": (3, "failed", 0),
        "unknown_delivered": (2, "sent", 1),  # resent; the provider dropped the copy
        "unknown_lost": (2, "sent", 1),
        "unknown_always": (3, "uncertain", 0),
    },
    "idempotent, 1 attempt": {
        **ALWAYS,
        "retry_once": (1, "failed", 0),
        "retry_always": (1, "failed", 0),
        "unknown_delivered": (1, "uncertain", 1),
        "unknown_lost": (1, "uncertain", 0),
        "unknown_always": (1, "uncertain", 0),
    },
}
SETTINGS = {"plain, 3 attempts": (False, 3), "plain, 1 attempt": (False, 1),
            "idempotent, 3 attempts": (True, 3), "idempotent, 1 attempt": (True, 1)}


def to(scenario: str) -> str:
    return address(SCENARIOS.index(scenario))


@pytest.fixture(params=list(SETTINGS))
def setting(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_every_outcome_under_every_setting(shop: Shop, db_url: str, setting: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPATCHER_DATABASE_URL", db_url)
    idempotent, attempts = SETTINGS[setting]
    # Given one planned message per scenario
    build_shop(shop, 9, len(SCENARIOS), max_attempts=attempts)
    shop.cli("pause", "win_back")
    shop.cli("run-once", "win_back", "--wait-retries", "0")  # plans, sends nothing
    shop.cli("resume", "win_back")
    logging.getLogger("dispatcher").handlers.clear()  # the CLI's handler wrote to its runner
    loaded = load(str(shop.config_path))
    loaded.channel_settings["email"].idempotent = idempotent
    engine = open_store(loaded)
    with engine.begin() as conn:
        conn.execute(update(addresses).where(addresses.c.address == to("opted_out_before_claim"))
                     .values(consent="withdrawn"))
    channel = ScriptedChannel(dedupes=idempotent)
    for scenario, answers in SCRIPTS.items():
        channel.script(to(scenario), *answers)
    between_claim_and_mark(monkeypatch, engine)

    # When the sender drains them (waiting for the retries)
    options = SenderOptions(wait_for_retries=timedelta(seconds=30))
    asyncio.run(Sender(engine, loaded, {"email": channel}, options).drain())

    # Then each scenario ends as the table says
    with engine.connect() as conn:
        # (customer c<i> has the address of scenario i)
        rows = {address(int(r.customer_id[1:])): r for r in conn.execute(select(outbox))}
        gone = {r.address_hash: r for r in conn.execute(select(suppressions))}
        kept = {r.address: r for r in conn.execute(select(addresses))}
    found = {s: (channel.calls_to(to(s)), rows[to(s)].status, len(channel.received[to(s)]))
             for s in SCENARIOS}
    assert found == EXPECTED[setting]
    # and the details a user would look for
    if attempts > 1:
        assert rows[to("retry_once")].attempts == 2
    assert rows[to("retry_always")].reason == f"gave up after {attempts} attempts: mailbox busy"
    assert idempotent or "may have been delivered" in rows[to("unknown_lost")].reason
    assert rows[to("fail")].reason == "rejected as spam"
    assert rows[to("opted_out_before_claim")].reason == "opted_out"
    assert rows[to("opted_out_before_mark")].reason == "opted_out"
    assert rows[to("taken_over")].claim_token == "another-dispatcher"
    assert kept[to("gone_invalidate")].invalid_at is not None
    assert to("gone_delete") not in kept  # the dead subscription's row is deleted
    suppressed = {kept[to("gone_suppress")].address_hash}
    assert suppressed <= set(gone)
    assert any(g.provider_code == "410" for g in gone.values())
    engine.dispose()


def between_claim_and_mark(monkeypatch: pytest.MonkeyPatch, engine: Any) -> None:
    """After a claim's checks and before its start marks: one customer opts out, and
    another dispatcher takes one row over (as if our lease had run out meanwhile)."""
    real_prepare = sender_module.prepare

    def prepare(*args: Any, **kwargs: Any) -> Any:
        jobs = real_prepare(*args, **kwargs)
        with engine.begin() as conn:
            conn.execute(update(addresses)
                         .where(addresses.c.address == to("opted_out_before_mark"))
                         .values(consent="withdrawn"))
            taken = select(addresses.c.customer_id).where(
                addresses.c.address == to("taken_over")).scalar_subquery()
            conn.execute(update(outbox).where(outbox.c.customer_id == taken,
                                              outbox.c.status == "sending")
                         .values(claim_token="another-dispatcher"))
        return jobs

    monkeypatch.setattr(sender_module, "prepare", prepare)
