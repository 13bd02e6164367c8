"""The shipped config.yaml and templates: they validate, and every mechanic in them
reaches the customer it is meant for through the file transport."""

from __future__ import annotations

import email
import email.policy
import re
import shutil
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from dispatcher.cli.main import app
from dispatcher.store.schema import promo_codes, tracked_links

from .mechanics_peers import NOW, at, iso
from .shop import ROOT

KYIV = ZoneInfo("Europe/Kyiv")


def test_shipped_config_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DISPATCHER_DATABASE_URL", "DISPATCHER_CONFIG", "SMTP_HOST"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(app, ["validate", "--config", str(ROOT / "config.yaml")])
    assert result.exit_code == 0, result.output
    assert "OK: 10 campaigns" in result.output


def _local(moment, fmt: str) -> str:
    return moment.replace(tzinfo=ZoneInfo("UTC")).astimezone(KYIV).strftime(fmt)


@pytest.fixture
def shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("DISPATCHER_CONFIG", "SMTP_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DISPATCHER_DATABASE_URL", f"sqlite:///{tmp_path / 'shop.db'}")
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    # Dates relative to now: the offer runs another week, the closed sale opened an hour ago.
    text = re.sub(r"expires_at: 2026-12-31 23:59",
                  f"expires_at: {_local(NOW + timedelta(days=7), '%Y-%m-%d %H:%M')}", text)
    text = re.sub(r"starts_at: 2026-12-10 09:00",
                  f"starts_at: {_local(at(hours=1), '%Y-%m-%d %H:%M')}", text)
    text = re.sub(r"expires_at: 2026-12-12 23:59",
                  f"expires_at: {_local(NOW + timedelta(days=3), '%Y-%m-%d %H:%M')}", text)
    # The New Year greeting fires today, an hour ago (a one-shot run sends only a day late).
    greeting = NOW.replace(tzinfo=ZoneInfo("UTC")).astimezone(KYIV) - timedelta(hours=1)
    assert '"0 10 31 12 *"' in text
    text = text.replace('"0 10 31 12 *"', f'"{greeting.minute} {greeting.hour} '
                                          f'{greeting.day} {greeting.month} *"')
    # Policy is tested on its own: here quiet hours and the shared cap must not depend
    # on the time of day the suite runs, nor on how many mechanics one customer hits.
    assert 'allowed: "09:00-21:00"' in text and "global: 3 per 7d" in text
    text = text.replace('allowed: "09:00-21:00"', 'allowed: "00:00-24:00"')
    text = text.replace("global: 3 per 7d", "global: 50 per 7d")
    (tmp_path / "config.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def _cli(folder: Path, *args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--config", str(folder / "config.yaml")],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _write(folder: Path, name: str, lines: list[str]) -> str:
    (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(folder / name)


def test_every_mechanic_reaches_its_customer(shipped: Path) -> None:
    today_kyiv = NOW.replace(tzinfo=ZoneInfo("UTC")).astimezone(KYIV).date()
    people = {  # id: (locale, extra json)
        "newbie": "uk", "carter": "en", "bday": "uk", "lapsed": "en", "fifth": "uk",
        "vip": "en", "riser": "en", "surveyed": "uk", "quiet": "en",
    }
    rows = []
    for cid, locale in people.items():
        birthday = f'"{today_kyiv.replace(year=1990).isoformat()}"' if cid == "bday" else "null"
        rows.append(f'{{"id": "{cid}", "name": "{cid.title()} Test", "locale": "{locale}", '
                    f'"timezone": "Europe/Kyiv", "birthday": {birthday}, '
                    f'"email": "{cid}@example.com", "email_consent": "yes"}}')
    _cli(shipped, "import", "customers", _write(shipped, "customers.jsonl", rows))

    def order(oid: str, cid: str, placed, total: str = "500", delivered=None) -> str:
        return (f'{{"id": "{oid}", "customer_id": "{cid}", "placed_at": "{iso(placed)}", '
                f'"total": "{total}", "currency": "UAH", "delivered_at": '
                f'{"null" if delivered is None else chr(34) + iso(delivered) + chr(34)}}}')

    orders = [order("n1", "newbie", at(hours=3)),
              order("l1", "lapsed", at(days=120))]
    orders += [order(f"f{i}", "fifth", at(days=200 - 30 * i)) for i in range(4)]
    orders += [order("f4", "fifth", at(hours=2))]
    orders += [order(f"v{i}", "vip", at(days=300 - 10 * i), "1100") for i in range(15)]
    # vip's last order was before the closed sale's first step (an order since would
    # take them out of the sequence); riser crossed into silver yesterday.
    orders += [order("v15", "vip", at(days=3, hours=5), "1100")]
    orders += [order("r1", "riser", at(days=30), "3000"),
               order("r2", "riser", at(hours=20), "2100")]
    orders += [order("s1", "surveyed", at(days=10), delivered=at(days=7, hours=3))]
    _cli(shipped, "import", "orders", _write(shipped, "orders.jsonl", orders))
    cart = (f'{{"id": "k1", "customer_id": "carter", "updated_at": "{iso(at(hours=5))}", '
            f'"total": "1350", "currency": "UAH", "items": [{{"sku": "rose", '
            f'"name": "Red roses", "qty": 3}}]}}')
    _cli(shipped, "import", "carts", _write(shipped, "carts.jsonl", [cart]))

    _cli(shipped, "run-once", "--wait-retries", "0")

    def recipients(campaign: str) -> dict[str, email.message.EmailMessage]:
        out = {}
        for path in sorted((shipped / "outbox" / "email" / campaign).glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            out[str(message["To"]).split("<")[-1].rstrip(">").split("@")[0]] = message
        return out

    assert set(recipients("welcome")) == {"newbie"}
    assert set(recipients("abandoned_cart")) == {"carter"}
    assert set(recipients("birthday")) == {"bday"}
    assert set(recipients("win_back")) == {"lapsed"}
    assert set(recipients("nth_order")) == {"fifth"}
    assert set(recipients("closed_sale")) == {"vip"}
    assert set(recipients("vip_tier")) == {"riser"}
    assert set(recipients("post_purchase_survey")) == {"surveyed"}
    assert set(recipients("winter_offer")) == {"newbie", "lapsed", "fifth", "vip", "riser",
                                               "surveyed"}
    assert set(recipients("new_year")) == set(people)

    def text(message: email.message.EmailMessage) -> str:
        return message.get_body(("plain",)).get_content()

    welcome = recipients("welcome")["newbie"]
    assert str(welcome["Subject"]) == "Дякуємо за перше замовлення, Newbie!"
    engine = create_engine(f"sqlite:///{shipped / 'shop.db'}")
    with engine.connect() as conn:
        code = conn.execute(select(promo_codes.c.code)
                            .where(promo_codes.c.campaign == "welcome")).scalar_one()
    engine.dispose()
    assert code.startswith("HELLO-") and code in text(welcome)
    assert "Red roses x 3" in text(recipients("abandoned_cart")["carter"])
    assert "UAH\u00a01,350" in text(recipients("abandoned_cart")["carter"])
    fifth = text(recipients("nth_order")["fifth"])
    assert "№ 5" in fifth and "через 5 замовлень" in fifth
    assert str(recipients("vip_tier")["riser"]["Subject"]) == "Welcome to silver, Riser!"
    assert "UAH\u00a09,900 more to gold" in text(recipients("vip_tier")["riser"])
    assert str(recipients("closed_sale")["vip"]["Subject"]).startswith("It is open")
    # A marketing campaign's links are tracked: the text links to /c/<token>, and the
    # destinations on file are the survey's own links (with UTM tags).
    survey = text(recipients("post_purchase_survey")["surveyed"])
    assert "/c/" in survey and "feedback?score=" not in survey
    engine = create_engine(f"sqlite:///{shipped / 'shop.db'}")
    with engine.connect() as conn:
        targets = list(conn.execute(select(tracked_links.c.url)).scalars())
    engine.dispose()
    assert any("feedback?score=5" in url and "utm_campaign=post_purchase_survey" in url
               for url in targets)

