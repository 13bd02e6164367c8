"""Real shop exports import: Excel's separators and encodings, and every bad file gets
a located error that quotes the bad value (never a traceback), with nothing written."""

from __future__ import annotations

import json
import os
import re

import pytest
from sqlalchemy import create_engine, func, select

from dispatcher.store.schema import carts, customers, orders

from .shop import Shop

SEGMENTS = "everyone:\n  id: {is_null: false}\n"
CAMPAIGNS = "hello:\n  segment: everyone\n  channels: [email]\n  template: win_back\n"

HEADER = ["id", "name", "email", "email_consent", "attr.tier"]
ROWS = [["c1", "Олена Коваленко", "olena@example.com", "yes", "золото"],
        ["c2", "Ґанна Їжакевич", "hanna@example.com", "no", ""],
        ["c3", "Jane Doe", "jane@example.com", "yes", "silver"]]


@pytest.fixture(params=["sqlite", "postgresql"])
def any_shop(request: pytest.FixtureRequest, shop: Shop) -> Shop:
    """The shop on each engine (PostgreSQL refuses NUL and over-long values itself)."""
    if request.param == "postgresql":
        shop = request.getfixturevalue("pg_shop")
    return _setup(shop)


@pytest.fixture
def plain_shop(shop: Shop) -> Shop:
    return _setup(shop)


def _setup(shop: Shop) -> Shop:
    shop.write_config("email: {}", SEGMENTS, CAMPAIGNS)
    shop.copy_templates("win_back")
    shop.cli("init-db")
    return shop


def _url(shop: Shop) -> str:
    return os.environ.get("DISPATCHER_DATABASE_URL") or shop.db_url()


def stored(shop: Shop, table=customers) -> int:
    engine = create_engine(_url(shop))
    with engine.connect() as conn:
        value = conn.execute(select(func.count()).select_from(table)).scalar_one()
    engine.dispose()
    return int(value)


def names(shop: Shop) -> dict[str, str]:
    engine = create_engine(_url(shop))
    with engine.connect() as conn:
        rows = conn.execute(select(customers.c.id, customers.c.name, customers.c.attributes))
        result = {r.id: f"{r.name}|{r.attributes.get('tier', '')}" for r in rows}
    engine.dispose()
    return result


def write(shop: Shop, name: str, text: str, encoding: str = "utf-8") -> str:
    path = shop.folder / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def table(rows: list[list[str]], delimiter: str = ",", newline: str = "\n",
          header: list[str] = HEADER) -> str:
    return "".join(delimiter.join(r) + newline for r in [header, *rows])


# -- separators and encodings ----------------------------------------------------------


def test_a_semicolon_excel_export_in_cp1251_imports_with_no_option(plain_shop: Shop) -> None:
    # What Excel writes for "CSV (разделители - точка с запятой)" on a Ukrainian Windows.
    path = write(plain_shop, "export.csv", table(ROWS, ";", "\r\n"), "cp1251")
    result = plain_shop.cli("import", "customers", path)
    assert "imported 3 customers" in result.output, result.output
    assert "windows-1251" in result.output  # says how it read the file
    assert names(plain_shop) == {"c1": "Олена Коваленко|золото", "c2": "Ґанна Їжакевич|",
                                 "c3": "Jane Doe|silver"}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1251", "utf-16"])
@pytest.mark.parametrize("delimiter", [",", ";", "\t"], ids=["comma", "semicolon", "tab"])
def test_every_separator_and_encoding_is_detected(plain_shop: Shop, encoding: str,
                                                  delimiter: str) -> None:
    path = write(plain_shop, "c.csv", table(ROWS, delimiter, "\r\n"), encoding)
    result = plain_shop.cli("import", "customers", path)
    assert "imported 3 customers" in result.output, result.output
    assert names(plain_shop)["c2"] == "Ґанна Їжакевич|"


def test_explicit_delimiter_and_encoding(plain_shop: Shop) -> None:
    rows = [["c1", "Jürgen Müller", "jm@example.com", "yes", "gold"]]
    path = write(plain_shop, "pipes.txt", table(rows, "|"), "cp1252")
    plain_shop.cli("import", "customers", path, "--delimiter", "|", "--encoding", "cp1252")
    assert names(plain_shop) == {"c1": "Jürgen Müller|gold"}


def test_a_wrong_explicit_encoding_is_a_located_error(plain_shop: Shop) -> None:
    path = write(plain_shop, "export.csv", table(ROWS, ";"), "cp1251")
    result = plain_shop.cli("import", "customers", path, "--encoding", "utf-8", expect=1)
    assert re.search(r"export\.csv:2: not valid utf-8 \(byte 0x[0-9a-f]{2}\)", result.output), \
        result.output
    assert stored(plain_shop) == 0


def test_a_utf8_file_with_one_broken_byte_is_an_error_not_a_guess(plain_shop: Shop) -> None:
    text = table([[f"c{n}", "Олена Коваленко", f"o{n}@example.com", "yes", ""]
                  for n in range(1, 40)]).encode()
    broken = text.replace(b"o7@example.com", b"o7@ex\xffample.com")
    (plain_shop.folder / "broken.csv").write_bytes(broken)
    result = plain_shop.cli("import", "customers", str(plain_shop.folder / "broken.csv"),
                            expect=1)
    assert re.search(r"broken\.csv:8: not valid utf-8 \(byte 0xff\)", result.output), \
        result.output
    assert "--encoding" in result.output
    assert stored(plain_shop) == 0


# -- located errors that quote the value -----------------------------------------------


def test_errors_quote_the_bad_value_at_its_line(plain_shop: Shop) -> None:
    rows = [[f"c{n}", "Name", f"c{n}@example.com", "yes", ""] for n in range(1, 4200)]
    head = ["id", "name", "email", "email_consent", "birthday"]
    rows[4116][4] = "2025-13-45"  # data row 4117 is line 4118 of the file
    path = write(plain_shop, "big.csv", table(rows, header=head))
    result = plain_shop.cli("import", "customers", path, expect=1)
    assert "big.csv:4118: birthday: '2025-13-45' is not a date" in result.output, result.output
    assert stored(plain_shop) == 0

    plain_shop.cli("import", "customers", write(plain_shop, "one.csv", "id\nc1\n"))
    orders_file = write(plain_shop, "orders.csv",
                        "id,customer_id,placed_at,total,currency\n"
                        "o1,c1,yesterday,10,UAH\n"
                        "o2,c1,2026-01-01,ten,UAH\n"
                        "o3,c1,2026-01-01,10,hryvnia\n")
    out = plain_shop.cli("import", "orders", orders_file, expect=1).output
    assert "orders.csv:2: placed_at: 'yesterday' is not a date and time" in out, out
    assert "orders.csv:3: total: 'ten' is not a number" in out, out
    assert "orders.csv:4: currency: 'hryvnia'" in out, out


def test_an_unknown_column_is_reported_once_from_the_header(plain_shop: Shop) -> None:
    rows = [[f"c{n}", f"c{n}@example.com", "gold"] for n in range(1, 101)]
    path = write(plain_shop, "c.csv", table(rows, header=["id", "email", "tier"]))
    for extra in ([], ["--skip-bad"]):
        result = plain_shop.cli("import", "customers", path, *extra, expect=1)
        assert result.output.count("unknown column") == 1, result.output
        assert "c.csv:1: unknown column 'tier'" in result.output
        assert "attr.tier" in result.output
    assert stored(plain_shop) == 0


def test_an_empty_file_is_an_error(plain_shop: Shop) -> None:
    for name in ("empty.csv", "empty.jsonl"):
        path = write(plain_shop, name, "")
        result = plain_shop.cli("import", "customers", path, expect=1)
        assert f"{name}: the file is empty (0 bytes)" in result.output, result.output


# -- duplicate ids and the printed count -----------------------------------------------


def test_duplicate_ids_are_reported_with_both_lines(plain_shop: Shop) -> None:
    path = write(plain_shop, "dup.csv", table([
        ["c1", "First", "a@example.com", "yes", ""],
        ["c2", "Other", "b@example.com", "yes", ""],
        ["c1", "Second", "c@example.com", "yes", ""]]))
    result = plain_shop.cli("import", "customers", path, expect=1)
    assert "dup.csv:4: id: 'c1' is already on line 2" in result.output, result.output
    assert "--last-wins" in result.output
    assert stored(plain_shop) == 0

    result = plain_shop.cli("import", "customers", path, "--last-wins")
    assert "imported 2 customers" in result.output, result.output
    assert stored(plain_shop) == 2
    assert names(plain_shop)["c1"] == "Second|"


def test_the_printed_count_is_the_rows_stored(plain_shop: Shop) -> None:
    path = write(plain_shop, "mixed.csv", table([
        ["c1", "One", "a@example.com", "yes", ""],
        ["c1", "One again", "a@example.com", "yes", ""],
        ["c2", "Two", "not-an-email", "yes", ""],
        ["c3", "Three", "c@example.com", "yes", ""]]))
    result = plain_shop.cli("import", "customers", path, "--skip-bad")
    assert "imported 2 customers" in result.output and "2 rejected" in result.output, \
        result.output
    assert stored(plain_shop) == 2


def test_skip_bad_that_rejects_every_row_exits_1(plain_shop: Shop) -> None:
    path = write(plain_shop, "bad.csv", "id,email\nc1,nope\nc2,also-nope\n")
    result = plain_shop.cli("import", "customers", path, "--skip-bad", expect=1)
    assert "every row was rejected" in result.output, result.output
    assert stored(plain_shop) == 0


# -- hostile files: nesting, size, control characters ----------------------------------


def test_deep_json_nesting_is_a_located_error(plain_shop: Shop) -> None:
    plain_shop.cli("import", "customers", write(plain_shop, "one.csv", "id\nc1\n"))
    deep = "[" * 200_000 + "]" * 200_000
    lines = [json.dumps({"id": "k1", "customer_id": "c1", "updated_at": "2026-01-01"}),
             f'{{"id": "k2", "customer_id": "c1", "updated_at": "2026-01-01", '
             f'"items": {deep}}}',
             json.dumps({"id": "k3", "customer_id": "c1", "updated_at": "2026-01-01",
                         "items": [{"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {
                             "i": {"j": {"k": 1}}}}}}}}}}}]})]
    path = write(plain_shop, "carts.jsonl", "\n".join(lines) + "\n")
    out = plain_shop.cli("import", "carts", path, expect=1).output
    assert re.search(r"carts\.jsonl:2: .*nested too deeply", out), out
    assert re.search(r"carts\.jsonl:3: items: .*nested too deeply", out), out
    csv_path = write(plain_shop, "c.csv", "id,attributes\nc2,\"" + "[" * 50_000 + "\"\n")
    out = plain_shop.cli("import", "customers", csv_path, expect=1).output
    assert re.search(r"c\.csv:2: attributes: .*(nested too deeply|not valid JSON)", out), out
    assert stored(plain_shop, carts) == 0 and stored(plain_shop) == 1


def test_oversized_fields_are_located_errors(any_shop: Shop) -> None:
    huge = "x" * (2 * 1024 * 1024)
    path = write(any_shop, "huge.csv", f"id,name\nc1,Ann\nc2,{huge}\nc3,Bob\n")
    out = any_shop.cli("import", "customers", path, "--skip-bad", expect=1).output
    assert "huge.csv:3: a value is longer than" in out, out
    path = write(any_shop, "huge.jsonl", json.dumps({"id": "c1"}) + "\n"
                 + json.dumps({"id": "c2", "name": huge}) + "\n")
    out = any_shop.cli("import", "customers", path, expect=1).output
    assert "huge.jsonl:2: the line is longer than" in out, out
    long_values = write(any_shop, "long.csv", "id,name,email\n"
                        f"c1,{'N' * 5000},a@example.com\n"
                        f"{'i' * 65},Ann,b@example.com\n")
    out = any_shop.cli("import", "customers", long_values, expect=1).output
    assert re.search(r"long\.csv:2: name: 'N{20,}…' \(5000 characters\) is longer than",
                     out), out
    assert "long.csv:3: id: " in out, out
    orders_file = write(any_shop, "o.csv", "id,customer_id,placed_at,total,currency,status\n"
                        f"o1,c1,2026-01-01,10,UAH,{'s' * 40}\n")
    out = any_shop.cli("import", "orders", orders_file, expect=1).output
    assert "o.csv:2: status: " in out, out
    assert stored(any_shop) == 0 and stored(any_shop, orders) == 0


def test_control_characters_in_names_are_refused(any_shop: Shop) -> None:
    path = write(any_shop, "c.csv", "id,name,email\n"
                 "c1,Olena\x1b[2J\x1b]0;pwned\x07,a@example.com\n"
                 "c2,Nul\x00Byte,b@example.com\n"
                 "c3,\"Fine\r\n\tName\",c@example.com\n")
    out = any_shop.cli("import", "customers", path, expect=1).output
    assert "\x1b" not in out and "\x00" not in out
    assert "c.csv:2: name: 'Olena\\x1b[2J\\x1b]0;pwned\\x07' contains a control " \
           "character" in out, out
    assert "c.csv:3: name: 'Nul\\x00Byte' contains a control character" in out, out
    assert stored(any_shop) == 0
    out = any_shop.cli("import", "customers", path, "--skip-bad").output
    assert "imported 1 customers" in out, out
    assert names(any_shop) == {"c3": "Fine Name|"}
