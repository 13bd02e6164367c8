"""``dispatcher demo`` on a fresh folder: a synthetic shop, campaigns run, messages as files."""

from __future__ import annotations

import email
import email.policy
import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from typer.testing import CliRunner

from dispatcher.cli import app
from dispatcher.store.schema import addresses, outbox

from .shop import ROOT


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("DISPATCHER_DATABASE_URL", "DISPATCHER_CONFIG", "SMTP_HOST"):
        monkeypatch.delenv(name, raising=False)
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    return tmp_path


def demo(folder: Path, *args: str) -> str:
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
    out = demo(fresh)
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
    again = demo(fresh)
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

    demo(fresh)
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
