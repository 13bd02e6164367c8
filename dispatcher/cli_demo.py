"""``dispatcher demo``: the first command to try (see dispatcher/demo.py)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.table import Table

from dispatcher.cli import ConfigOption, _load, app, console, err_console


@app.command()
def demo(config: ConfigOption = None,
         customers: Annotated[int, typer.Option(help="How many synthetic customers")] = 200,
         seed: Annotated[int, typer.Option(help="Random seed (same seed, same shop)")] = 7,
         database: Annotated[str, typer.Option(
             help="SQLite file for the demo shop (replaced), next to the config")] = "demo.db",
         outbox: Annotated[str, typer.Option(
             help="Folder the file transports write messages to")] = "demo-outbox") -> None:
    """Generate a synthetic shop, run every campaign once through the file transports,
    and show who got what on which channel, and why the others did not."""
    from .app import open_channels
    from .demo import generate, load_shop, plan_all, summary, use_file_transports
    from .sender import Sender
    from .store.db import make_engine, migrate, utcnow

    loaded = _load(config)
    target = loaded.base_dir / database
    if target.exists():
        target.unlink()
    use_file_transports(loaded, outbox)
    # Its own database, never the configured one.
    engine = make_engine(f"sqlite:///{target}")
    migrate(engine)
    now = utcnow()
    shop = generate(customers, now, seed)
    load_shop(engine, shop, now)
    err_console.print(f"demo shop: {len(shop.customers)} customers, {len(shop.orders)} orders, "
                      f"{len(shop.carts)} carts -> {target}")
    plan_all(engine, loaded, now)

    async def send() -> None:
        async with open_channels(loaded) as channels:
            await Sender(engine, loaded, channels).drain()

    asyncio.run(send())
    table = Table(title="demo: one run of every campaign")
    for column in ("campaign", "sent", "not sent, and why"):
        table.add_column(column)
    results = summary(engine)
    for name in loaded.config.campaigns:
        counts = results.get(name, {})
        sent = ", ".join(f"{v} {k.removeprefix('sent via ')}" for k, v in sorted(counts.items())
                         if k.startswith("sent")) or "0"
        others = ", ".join(f"{v} {k}" for k, v in sorted(counts.items())
                           if not k.startswith("sent")) or "-"
        table.add_row(name, sent, others)
    console.print(table)
    console.print(f"messages written under {loaded.base_dir / outbox}/; try "
                  f"`dispatcher promo report` with DISPATCHER_DATABASE_URL=sqlite:///{target}")
    engine.dispose()
