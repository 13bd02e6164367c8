"""Lease recovery rules, the scheduler's jobs, and JSON log lines."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from dispatcher.app import load, open_store
from dispatcher.clock import utcnow
from dispatcher.send.sender import Sender
from dispatcher.store.schema import outbox

from .daemon_peers import build_shop, output_of, start
from .shop import Shop


def planned_shop(shop: Shop, idempotent: bool = False):  # type: ignore[no-untyped-def]
    build_shop(shop, 9, 3, channel_extra="idempotent: true" if idempotent else "")
    shop.cli("pause", "win_back")
    shop.cli("run-once", "win_back", "--wait-retries", "0")  # plans, sends nothing
    loaded = load(str(shop.config_path))
    engine = open_store(loaded)
    ids = [r.id for r in engine.connect().execute(select(outbox.c.id).order_by(outbox.c.id))]
    return loaded, engine, ids


def lease(engine, row_id: int, started: bool) -> None:  # type: ignore[no-untyped-def]
    """What a worker that died leaves behind: an expired lease, maybe a start mark."""
    past = utcnow() - timedelta(minutes=10)
    with engine.begin() as conn:
        conn.execute(update(outbox).where(outbox.c.id == row_id).values(
            status="sending", attempts=1, leased_by="dead:1", lease_until=past,
            send_started_at=past if started else None))


@pytest.mark.parametrize("idempotent", [False, True])
def test_expired_leases_uncertain_only_if_started(shop: Shop, idempotent: bool) -> None:
    loaded, engine, (started_id, unstarted_id, untouched_id) = planned_shop(shop, idempotent)
    lease(engine, started_id, started=True)
    lease(engine, unstarted_id, started=False)
    sender = Sender(engine, loaded, {})
    recovered = sender.recover_expired_leases()
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(select(outbox))}
    # A row that never reached the provider is simply pending again, attempt not counted.
    assert rows[unstarted_id].status == "pending" and rows[unstarted_id].attempts == 0
    if idempotent:
        # The provider deduplicates by our message id: safe to send again.
        assert rows[started_id].status == "pending" and recovered == 0
    else:
        assert rows[started_id].status == "uncertain" and recovered == 1
        assert "not re-sent" in rows[started_id].reason
    assert rows[untouched_id].status == "pending"
    engine.dispose()


def test_scheduler_jobs_follow_each_campaign_cron_in_the_config_zone(shop: Shop) -> None:
    from dispatcher.daemon.schedule import install_jobs, make_scheduler

    build_shop(shop, 9, 1, schedule="0 11 * * *")
    loaded = load(str(shop.config_path))

    async def jobs() -> list[tuple[str, str, int]]:
        scheduler = make_scheduler(loaded)

        async def fire(name: str) -> None:
            return None

        install_jobs(scheduler, loaded, fire)
        scheduler.start(paused=True)
        try:
            return [(j.id, str(j.trigger), j.misfire_grace_time) for j in scheduler.get_jobs()]
        finally:
            scheduler.shutdown(wait=False)

    [(job_id, trigger, grace)] = asyncio.run(jobs())
    assert job_id == "win_back"
    assert "hour='11'" in trigger and "minute='0'" in trigger
    assert grace == 3600  # the campaign's default grace of 1h


def test_json_log_lines_carry_ids_and_no_addresses(
        shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    build_shop(shop, 9, 2)  # port 9: nothing listens, so every send fails and is logged
    monkeypatch.setenv("DISPATCHER_LOG_FORMAT", "json")
    proc = start(shop, shop.db_url(), "-v", "run-once", "win_back", "--wait-retries", "0")
    proc.wait(timeout=120)
    out = output_of(proc)
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    failed = [e for e in lines if e["message"] == "send failed"]
    assert failed and all(e["campaign"] == "win_back" and e["outbox_id"] for e in failed)
    assert "@example.com" not in out
