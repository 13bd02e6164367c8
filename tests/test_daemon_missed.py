"""Runs missed while the dispatcher was down: caught up once inside the grace,
recorded as missed beyond it, never sent twice."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from dispatcher.app import latest_fire_time, load, open_store
from dispatcher.daemon.missed import catch_up, fire_times_between
from dispatcher.plan.planner import plan_run
from dispatcher.store.schema import outbox, runs

from .daemon_peers import build_shop
from .shop import Shop

KYIV = ZoneInfo("Europe/Kyiv")


def utc(local: str) -> datetime:
    """Naive UTC for a Kyiv wall-clock time (the shop's config time zone)."""
    return (datetime.fromisoformat(local).replace(tzinfo=KYIV)
            .astimezone(ZoneInfo("UTC")).replace(tzinfo=None))


def runs_of(engine) -> list[tuple[datetime, str]]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return [(r.scheduled_for, r.status) for r in conn.execute(
            select(runs).where(runs.c.campaign == "win_back").order_by(runs.c.scheduled_for))]


@pytest.fixture
def daily_shop(shop: Shop, db_url: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DISPATCHER_DATABASE_URL", db_url)
    build_shop(shop, 9, 10, campaign_extra="grace: 30m")  # daily at 11:00 Kyiv
    loaded = load(str(shop.config_path))
    engine = open_store(loaded)
    # The dispatcher last ran yesterday's 11:00 run.
    plan_run(engine, loaded, "win_back", utc("2026-11-22T11:00"), utc("2026-11-22T11:00"))
    with engine.begin() as conn:
        conn.execute(outbox.delete())  # yesterday's messages are not the point here
    yield loaded, engine
    engine.dispose()


def test_run_missed_by_ten_minutes_fires_once_after_restart(daily_shop) -> None:  # type: ignore[no-untyped-def]
    loaded, engine = daily_shop
    # Down from 10:55 to 11:10; the 11:00 run is 10 minutes late, inside the 30m grace.
    result = catch_up(engine, loaded, utc("2026-11-23T11:10"))
    assert [p.scheduled_for for p in result.planned] == [utc("2026-11-23T11:00")]
    assert result.planned[0].funnel.to_send == 10 and result.missed == {}
    # A second dispatcher starting (or a restart) does not plan it again.
    again = catch_up(engine, loaded, utc("2026-11-23T11:12"))
    assert again.planned == [] and again.missed == {}
    assert runs_of(engine) == [(utc("2026-11-22T11:00"), "planned"),
                               (utc("2026-11-23T11:00"), "planned")]
    with engine.connect() as conn:
        assert len(list(conn.execute(select(outbox.c.id)))) == 10


def test_runs_missed_beyond_the_grace_are_recorded_not_sent(daily_shop, shop: Shop) -> None:  # type: ignore[no-untyped-def]
    loaded, engine = daily_shop
    # Down for three days: the 23rd and 24th are long past; the 25th is 2h late (> 30m).
    result = catch_up(engine, loaded, utc("2026-11-25T13:00"))
    assert result.planned == []
    missed = [utc("2026-11-23T11:00"), utc("2026-11-24T11:00"), utc("2026-11-25T11:00")]
    assert result.missed == {"win_back": missed}
    assert runs_of(engine)[1:] == [(when, "missed") for when in missed]
    with engine.connect() as conn:
        assert list(conn.execute(select(outbox.c.id))) == []
    # Recording is idempotent too, and status tells the operator.
    catch_up(engine, loaded, utc("2026-11-25T13:05"))
    assert len(runs_of(engine)) == 4
    assert "3 missed in all" in shop.cli("status").output


def test_several_misses_inside_the_grace_coalesce_into_one_run(
        shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    build_shop(shop, 9, 3, schedule="*/5 * * * *", campaign_extra="grace: 1h")
    loaded = load(str(shop.config_path))
    engine = open_store(loaded)
    plan_run(engine, loaded, "win_back", utc("2026-11-23T10:00"), utc("2026-11-23T10:00"))
    result = catch_up(engine, loaded, utc("2026-11-23T10:22"))
    # 10:05, 10:10, 10:15, 10:20 were missed: one run (the latest) is planned, and the
    # older ones are recorded as missed rather than each sending.
    assert [p.scheduled_for for p in result.planned] == [utc("2026-11-23T10:20")]
    assert result.missed["win_back"] == [utc(f"2026-11-23T10:{m}") for m in ("05", "10", "15")]
    engine.dispose()


def test_fire_times_follow_the_config_time_zone_across_dst(shop: Shop) -> None:
    build_shop(shop, 9, 1, schedule="0 3 * * *")
    loaded = load(str(shop.config_path))
    # Kyiv leaves summer time on 2026-10-25 at 04:00, so 03:00 happens twice that night
    # (00:00 and 01:00 UTC; APScheduler fires both, the run keys differ, once_per keeps
    # customers from a second message); afterwards 03:00 local is 01:00 UTC.
    fires = fire_times_between(loaded, "win_back", datetime(2026, 10, 23, 12),
                               datetime(2026, 10, 26, 12))
    assert fires == [datetime(2026, 10, 24, 0), datetime(2026, 10, 25, 0),
                     datetime(2026, 10, 25, 1), datetime(2026, 10, 26, 1)]
    # and the run a moment belongs to is found on that night too (this used to loop).
    assert latest_fire_time(loaded, "win_back", datetime(2026, 10, 25, 1, 30)) == \
        datetime(2026, 10, 25, 1)
    assert latest_fire_time(loaded, "win_back", datetime(2026, 10, 25, 0, 30)) == \
        datetime(2026, 10, 25, 0)
