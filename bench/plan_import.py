"""Ratio 7: `plan` on PostgreSQL right after `dispatcher import`, vs the hand-written statement.

The synthetic shop is written out as the CSV files a shop exports (customers with their
email and consent, orders), imported into a fresh PostgreSQL database with the
`dispatcher import` command, and planned at once: no ANALYZE by the benchmark, no wait
for autovacuum. Before the import refreshed statistics this plan was a nested loop over
customers x orders (644 s for 40,000 customers, issue 19).

    python -m bench.plan_import PG_ADMIN_URL CUSTOMERS WORKDIR    JSON on stdout
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from .shop import ROOT, make_shop

CONSENT = {"granted": "yes", "withdrawn": "no"}


def export_csv(engine: Engine, folder: Path) -> tuple[Path, Path]:
    """customers.csv and orders.csv as a shop would export them."""
    people, orders = folder / "customers.csv", folder / "orders.csv"
    with engine.connect() as conn, open(people, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["id", "name", "locale", "timezone", "birthday", "email",
                      "email_consent", "created_at"])
        for row in conn.execute(text(
                "SELECT c.id, c.name, c.locale, c.timezone, c.birthday, a.address, a.consent, "
                "c.created_at FROM customers c LEFT JOIN addresses a ON a.customer_id = c.id "
                "AND a.channel = 'email' ORDER BY c.id")):
            out.writerow([row[0], row[1] or "", row[2] or "", row[3] or "", row[4] or "",
                          row[5] or "", CONSENT.get(row[6] or "", ""),
                          str(row[7]).replace(" ", "T")])
    with engine.connect() as conn, open(orders, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["id", "customer_id", "placed_at", "total", "currency", "status"])
        for row in conn.execute(text("SELECT id, customer_id, placed_at, total, currency, "
                                     "status FROM orders ORDER BY id")):
            out.writerow([row[0], row[1], str(row[2]).replace(" ", "T"), row[3], row[4],
                          row[5] or ""])
    return people, orders


def measure(admin_url: str, customers: int, work: Path) -> dict[str, Any]:
    from dispatcher.demo.synth import SynthSpec, generate
    from dispatcher.store.db import make_engine, migrate

    from .plan_ratio import measure as plan_vs_hand

    work.mkdir(parents=True, exist_ok=True)
    people, orders = work / "customers.csv", work / "orders.csv"
    if not (people.exists() and orders.exists()):
        source = make_engine(f"sqlite:///{work / 'source.db'}")
        migrate(source)
        generate(source, SynthSpec(customers=customers, seed=42))
        export_csv(source, work)
        source.dispose()
    admin = make_engine(admin_url)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("DROP DATABASE IF EXISTS plan_import"))
        conn.execute(text("CREATE DATABASE plan_import"))
    admin.dispose()
    url = admin_url.rsplit("/", 1)[0] + "/plan_import"
    config = make_shop(work / "shop", url)
    dispatcher = str(Path(sys.executable).parent / "dispatcher")
    seconds = {}
    for kind, path in (("customers", people), ("orders", orders)):
        started = time.perf_counter()
        subprocess.run([dispatcher, "import", kind, str(path), "--config", str(config)],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        seconds[kind] = time.perf_counter() - started
    engine = make_engine(url)
    try:
        out = plan_vs_hand(engine, config, repeat=1)  # plan first thing, then again
        again = plan_vs_hand(engine, config, repeat=2)
    finally:
        engine.dispose()
    return {"customers": customers, "import_seconds": seconds,
            "first_plan_seconds": out["plan_all"][0], "first_hand_seconds": out["hand_all"][0],
            "plan_seconds": min(out["plan_all"] + again["plan_all"]),
            "hand_seconds": min(out["hand_all"] + again["hand_all"]),
            "rows": again["rows"], "mismatched_rows": max(out["mismatched_rows"],
                                                          again["mismatched_rows"])}


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))))
