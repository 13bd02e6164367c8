"""``dispatcher demo`` on a fresh folder: a synthetic shop, campaigns run, messages as files."""

from __future__ import annotations

import email
import email.policy
import shutil
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, func, select
from typer.testing import CliRunner

from dispatcher.cli.main import app
from dispatcher.clock import Clock, clock_at, current_clock, using_clock
from dispatcher.store.schema import addresses, customers, outbox

from .shop import ROOT


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("DISPATCHER_DATABASE_URL", "DISPATCHER_CONFIG", "SMTP_HOST"):
        monkeypatch.delenv(name, raising=False)
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    return tmp_path


def demo(folder: Path, *args: str, clock: Clock | None = None) -> str:
    with using_clock(clock or current_clock()):
        result = CliRunner().invoke(app, ["demo", "--customers", "400", *args,
                                          "--config", str(folder / "config.yaml")],
                                    catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def emails(folder: Path) -> list[Path]:
    return sorted((folder / "outbox" / "email").rglob("*.eml"))


def messages(folder: Path) -> list[Path]:
    """Every channel's files (.eml for email, .json for SMS and Telegram)."""
    return sorted(p for p in (folder / "outbox").rglob("*") if p.is_file())


def test_demo_writes_one_file_per_sent_message_and_nothing_twice(fresh: Path) -> None:
    noon = clock_at(datetime(2026, 12, 1, 10, 0))  # 12:00 in Kyiv
    out = demo(fresh, clock=noon)
    assert "Generated a synthetic shop: 400 customers" in out
    files = emails(fresh)
    assert files, out
    engine = create_engine(f"sqlite:///{fresh / 'dispatcher.db'}")
    with engine.connect() as conn:
        sent = conn.execute(select(func.count()).select_from(outbox)
                            .where(outbox.c.status == "sent")).scalar_one()
        withdrawn = {r[0] for r in conn.execute(select(addresses.c.address).where(
            addresses.c.channel == "email", addresses.c.consent == "withdrawn"))}
    everything = messages(fresh)
    assert len(everything) == sent
    recipients = set()
    for path in files:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        recipients.add(str(message["To"].addresses[0].addr_spec))
        assert message["List-Unsubscribe"]
    assert recipients and not recipients & withdrawn
    assert str(fresh / "outbox" / "email") in out.replace("\n", "")

    # Running it again neither generates nor sends anything new.
    again = demo(fresh, clock=noon)
    again = " ".join(again.split())
    assert "already present (400 customers)" in again
    assert "nothing was sent twice" in again
    # Only rows that were waiting for quiet hours to end may go out now; nothing twice.
    after = messages(fresh)
    assert set(everything) <= set(after)
    assert f"written now: {len(after) - len(everything)} messages" in again


def test_demo_refuses_a_database_with_real_customers(fresh: Path) -> None:
    (fresh / "c.csv").write_text("id,name,email,email_consent\nreal1,Real Person,"
                                 "real@example.com,yes\n", encoding="utf-8")
    runner = CliRunner()
    config = str(fresh / "config.yaml")
    assert runner.invoke(app, ["import", "customers", str(fresh / "c.csv"),
                               "--config", config]).exit_code == 0
    result = runner.invoke(app, ["demo", "--customers", "50", "--config", config])
    assert result.exit_code == 2
    assert "not demo data" in result.output
    assert not (fresh / "outbox").exists()


def test_demo_reaches_customers_on_every_channel(fresh: Path) -> None:
    """The synthetic shop has email, phones, Telegram chats and browser subscriptions,
    and each message goes to an address of its own channel with consent."""
    import json

    demo(fresh, clock=clock_at(datetime(2026, 12, 1, 10, 0)))
    engine = create_engine(f"sqlite:///{fresh / 'dispatcher.db'}")
    with engine.connect() as conn:
        granted = {(r.channel, r.address) for r in conn.execute(
            select(addresses.c.channel, addresses.c.address)
            .where(addresses.c.consent == "granted"))}
    for channel in ("sms", "telegram", "push"):
        files = sorted((fresh / "outbox" / channel).rglob("*.json"))
        assert files, f"no {channel} message written"
        for path in files:
            message = json.loads(path.read_text(encoding="utf-8"))
            assert message["channel"] == channel
            assert (channel, message["to"]) in granted
    assert emails(fresh)


def sent_local_times(folder: Path) -> list[datetime]:
    """Each sent message's send time on its customer's own clock."""
    engine = create_engine(f"sqlite:///{folder / 'dispatcher.db'}")
    with engine.connect() as conn:
        rows = conn.execute(select(outbox.c.sent_at, customers.c.timezone)
                            .join(customers, customers.c.id == outbox.c.customer_id)
                            .where(outbox.c.status == "sent")).all()
    engine.dispose()
    return [sent.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(zone or "Europe/Kyiv"))
            for sent, zone in rows]


def test_demo_at_night_shows_the_messages_of_the_next_allowed_morning(fresh: Path) -> None:
    # Given it is 02:30 in Kyiv (00:30 UTC), inside the shipped quiet hours (09:00-21:00)
    out = " ".join(demo(fresh, clock=clock_at(datetime(2026, 12, 1, 0, 30))).split())
    # Then the demo says it simulates the next allowed minute, and writes the messages
    assert "It is 02:30 Europe/Kyiv, inside the shop's quiet hours" in out
    assert "simulated clock as of 09:00 Europe/Kyiv" in out
    files = messages(fresh)
    assert len(files) > 50, out
    assert f"written now: {len(files)} messages" in out
    # none of them at night on the customer's own clock
    times = sent_local_times(fresh)
    assert len(times) == len(files)
    assert all(9 <= t.hour < 21 for t in times), sorted({t.strftime("%H:%M %Z") for t in times})
    # At 09:00 in Kyiv it is 08:00 in Warsaw and 02:00 in New York: those customers
    # wait, and the demo says until when
    assert "wait for the customer's quiet hours (the first at 09:00 Europe/Warsaw = " \
           "10:00 Europe/Kyiv); run again after that time." in out


def test_demo_in_the_afternoon_runs_on_the_real_time(fresh: Path) -> None:
    # 14:00 in Kyiv: no simulation, the messages go out now
    out = " ".join(demo(fresh, clock=clock_at(datetime(2026, 12, 1, 12, 0))).split())
    assert "simulated" not in out
    files = messages(fresh)
    assert len(files) > 50 and f"written now: {len(files)} messages" in out
    assert {t.strftime("%Y-%m-%d %H") for t in sent_local_times(fresh)
            if t.tzinfo == ZoneInfo("Europe/Kyiv")} == {"2026-12-01 14"}
