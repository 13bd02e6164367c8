"""Bad config, bad template, bad CSV row: a located message, and nothing changed."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from contextlib import closing
from pathlib import Path

from sqlalchemy import create_engine, func, select

from dispatcher.store.schema import customers, orders, outbox

from .shop import Shop
from .smtp_server import SMTPServer
from .test_core_email import CAMPAIGNS, SEGMENTS, build


def snapshot(path: Path) -> str | None:
    """A digest of every row of every table (a logical dump, so a WAL checkpoint that
    rewrites the file without changing data does not count as a change)."""
    if not path.exists():
        return None
    with closing(sqlite3.connect(path)) as con:
        dump = "\n".join(con.iterdump())
    return hashlib.sha256(dump.encode()).hexdigest()


def count(shop: Shop, table) -> int:
    engine = create_engine(shop.db_url())
    with engine.connect() as conn:
        value = conn.execute(select(func.count()).select_from(table)).scalar_one()
    engine.dispose()
    return int(value)


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


# -- config ---------------------------------------------------------------------------


def test_typo_in_segment_name_is_located_and_all_errors_come_at_once(
        shop: Shop, smtp: SMTPServer) -> None:
    build(shop, smtp.port)
    shop.cli("run-once")  # a real database with real sends exists before the bad edit
    before_db, before_mail = snapshot(shop.folder / "shop.db"), len(smtp.handler.received)
    text = shop.config_path.read_text(encoding="utf-8")
    text = text.replace("segment: lapsed", "segment: lapsd")
    text = text.replace("gt: 90d", "gt: 90 days")
    text = text.replace('schedule: "0 11 * * *"', 'schedule: "0 11 * * *"\n    colour: red')
    shop.config_path.write_text(text, encoding="utf-8")

    for command in (["validate"], ["run-once"], ["plan", "win_back"]):
        result = shop.cli(*command, expect=2)
        out = result.output
        seg_line = line_of(shop.config_path, "segment: lapsd")
        assert re.search(rf"config\.yaml:{seg_line}:\d+ campaigns\.win_back\.segment: "
                         r"unknown segment 'lapsd'", out), out
        dur_line = line_of(shop.config_path, "gt: 90 days")
        assert f"config.yaml:{dur_line}:" in out and "segments.lapsed" in out, out
        key_line = line_of(shop.config_path, "colour: red")
        assert f"config.yaml:{key_line}:" in out and "colour" in out, out
        assert "3 error(s)" in out, out
    assert snapshot(shop.folder / "shop.db") == before_db
    assert len(smtp.handler.received) == before_mail


def test_broken_yaml_is_located(shop: Shop) -> None:
    shop.write_config("email: {}", SEGMENTS, CAMPAIGNS)
    shop.copy_templates("win_back")
    text = shop.config_path.read_text(encoding="utf-8")
    shop.config_path.write_text(text.replace("channels: [email]", "channels: [email"),
                                encoding="utf-8")
    result = shop.cli("validate", expect=2)
    assert re.search(r"config\.yaml:\d+:\d+", result.output), result.output
    assert not (shop.folder / "shop.db").exists()


def test_error_in_an_included_file_names_that_file(shop: Shop) -> None:
    shop.write_config("email: {}", SEGMENTS, CAMPAIGNS)
    shop.copy_templates("win_back")
    shop.copy_templates("win_back")
    (shop.folder / "more.yaml").write_text(
        "campaigns:\n  second:\n    segment: nobody\n    channels: [email]\n"
        "    template: win_back\n", encoding="utf-8")
    text = shop.config_path.read_text(encoding="utf-8")
    shop.config_path.write_text(text + "include: [more.yaml]\n", encoding="utf-8")
    result = shop.cli("validate", expect=2)
    assert re.search(r"more\.yaml:3:\d+ campaigns\.second\.segment: unknown segment 'nobody'",
                     result.output), result.output


def test_unknown_channel_lists_the_valid_ones(shop: Shop) -> None:
    shop.write_config("email: {}\npigeon: {}", SEGMENTS, CAMPAIGNS)
    result = shop.cli("validate", expect=2)
    assert "pigeon" in result.output and "email" in result.output, result.output
    assert re.search(r"config\.yaml:\d+:\d+ channels\.pigeon", result.output), result.output


# -- templates ------------------------------------------------------------------------


def test_undefined_variable_in_template_fails_before_anything_is_planned(
        shop: Shop, smtp: SMTPServer) -> None:
    build(shop, smtp.port)
    bad = shop.folder / "templates" / "win_back" / "email.txt"
    lines = bad.read_text(encoding="utf-8").splitlines()
    lines.insert(1, "Your points: {{ customer.loyalty_pointz }}")
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")

    for command in ("validate", "run-once"):
        result = shop.cli(command, expect=2)
        assert re.search(r"win_back/email\.txt:2:\d+ .*loyalty_pointz", result.output), \
            result.output
    assert count(shop, outbox) == 0
    assert smtp.handler.received == []


def test_template_syntax_error_is_located(shop: Shop, smtp: SMTPServer) -> None:
    build(shop, smtp.port)
    shop.template("win_back/email.subject", "Come back, {{ customer.first_name }\n")
    result = shop.cli("validate", expect=2)
    assert re.search(r"win_back/email\.subject:1:\d+", result.output), result.output


def test_sandbox_refuses_unsafe_attribute_access(shop: Shop, smtp: SMTPServer) -> None:
    build(shop, smtp.port)
    shop.template("win_back/email.txt", "{{ customer.__class__.__init__.__globals__ }}\n")
    result = shop.cli("validate", expect=2)
    assert "email.txt:1" in result.output, result.output
    assert smtp.handler.received == []


# -- CSV import -----------------------------------------------------------------------


def _customers_with_one_bad_row(shop: Shop) -> Path:
    return shop.csv("customers.csv", [
        {"id": "c1", "name": "Олена", "email": "olena@example.com", "birthday": "1990-04-01"},
        {"id": "c2", "name": "Bad Birthday", "email": "bad@example.com",
         "birthday": "1990-13-45"},
        {"id": "c3", "name": "Jane", "email": "jane@example.com", "birthday": ""},
    ])


def test_malformed_csv_row_is_located_and_nothing_is_written(shop: Shop) -> None:
    shop.write_config("email: {}", SEGMENTS, CAMPAIGNS)
    shop.copy_templates("win_back")
    shop.cli("init-db")
    before = snapshot(shop.folder / "shop.db")
    path = _customers_with_one_bad_row(shop)
    result = shop.cli("import", "customers", str(path), expect=1)
    # Row 2 of the data is line 3 of the file (the header is line 1).
    assert re.search(r"customers\.csv:3: birthday: ", result.output), result.output
    assert count(shop, customers) == 0
    assert snapshot(shop.folder / "shop.db") == before


def test_skip_bad_writes_good_rows_and_rejects_the_bad_one(shop: Shop) -> None:
    shop.write_config("email: {}", SEGMENTS, CAMPAIGNS)
    shop.copy_templates("win_back")
    path = _customers_with_one_bad_row(shop)
    rejects = shop.folder / "rejects.jsonl"
    shop.cli("import", "customers", str(path), "--skip-bad", "--rejects", str(rejects))
    assert count(shop, customers) == 2
    rejected = [json.loads(line) for line in rejects.read_text(encoding="utf-8").splitlines()]
    assert len(rejected) == 1
    assert rejected[0]["line"] == 3
    assert rejected[0]["row"]["id"] == "c2"
    assert any(e["field"] == "birthday" for e in rejected[0]["errors"])


def test_import_twice_is_idempotent_and_upserts(shop: Shop) -> None:
    shop.write_config("email: {}", SEGMENTS, CAMPAIGNS)
    shop.copy_templates("win_back")
    rows = [{"id": "c1", "name": "Olena", "email": "olena@example.com"}]
    shop.cli("import", "customers", str(shop.csv("c.csv", rows)))
    shop.cli("import", "customers", str(shop.csv("c.csv", rows)))
    assert count(shop, customers) == 1
    rows[0]["name"] = "Olena K."
    shop.cli("import", "customers", str(shop.csv("c.csv", rows)))
    engine = create_engine(shop.db_url())
    with engine.connect() as conn:
        assert conn.execute(select(customers.c.name)).scalar_one() == "Olena K."
    engine.dispose()


def test_order_for_unknown_customer_is_located(shop: Shop) -> None:
    shop.write_config("email: {}", SEGMENTS, CAMPAIGNS)
    shop.copy_templates("win_back")
    shop.cli("import", "customers", str(shop.csv("c.csv", [{"id": "c1"}])))
    path = shop.jsonl("orders.jsonl", [
        {"id": "o1", "customer_id": "c1", "placed_at": "2026-01-01T10:00:00", "total": "10",
         "currency": "EUR"},
        {"id": "o2", "customer_id": "ghost", "placed_at": "2026-01-01T10:00:00",
         "total": "10", "currency": "EUR"},
        {"id": "o3", "customer_id": "c1", "placed_at": "2026-01-01T10:00:00",
         "total": "ten", "currency": "EUR"},
    ])
    result = shop.cli("import", "orders", str(path), expect=1)
    assert re.search(r"orders\.jsonl:2: customer_id: unknown customer 'ghost'", result.output)
    assert re.search(r"orders\.jsonl:3: total: ", result.output), result.output
    assert count(shop, orders) == 0

