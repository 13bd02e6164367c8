"""A benchmark shop folder: config.yaml pointing at the sink and database, templates."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CONFIG = """\
shop:
  name: Bench Shop
  url: https://shop.example
  public_url: http://127.0.0.1:8080
database: {database}
timezone: Europe/Kyiv
caps:
  global: 2 per 7d  # marketing messages per customer, every channel
channels:
  email:
{transport}
    from: "Bench Shop <shop@bench.example>"
    unsubscribe_mailto: unsubscribe@bench.example
    concurrency: {concurrency}
    pool_size: {concurrency}
{rate}segments:
  buyers:
    orders_count: {{gte: 1}}
  lapsed:
    all:
      - orders_count: {{gte: 1}}
      - last_order_age: {{gt: 90d}}
campaigns:
  everyone:
    description: Every customer who ever bought (the pipeline benchmark's audience).
    segment: buyers
    template: win_back
    channels: [email]
    once_per: run
  win_back:
    description: Bring back customers who have not ordered for 90 days.
    segment: lapsed
    channels: [email]
    schedule: "0 11 * * *"
    once_per: 30d
"""


def make_shop(folder: Path, database: str, *, smtp_port: int | None = None,
              concurrency: int = 16, rate: str | None = None) -> Path:
    """Write config.yaml + templates into ``folder``; file transport when no port."""
    folder.mkdir(parents=True, exist_ok=True)
    if smtp_port is None:
        transport = "    transport: file"
    else:
        transport = f"    host: 127.0.0.1\n    port: {smtp_port}\n    security: none"
    (folder / "config.yaml").write_text(CONFIG.format(
        database=database, transport=transport, concurrency=concurrency,
        rate=f"    rate: {rate}\n" if rate else ""), encoding="utf-8")
    target = folder / "templates" / "win_back"
    if not target.exists():
        shutil.copytree(ROOT / "templates" / "win_back", target)
    return folder / "config.yaml"
