"""``dispatcher demo``: a synthetic shop, every campaign run once, messages as files.

The first command of a fresh clone. It never reaches a provider: every channel is
switched to its file transport, so what would have been sent lands in outbox/.
It only runs on the embedded SQLite database and refuses to mix demo customers into
a database that holds real ones.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dispatcher.cli.main import (
    AtOption,
    ConfigOption,
    _check_campaigns,
    _clock,
    _load,
    _now,
    _print_waiting,
    app,
    console,
    err_console,
)

DEMO_PREFIX = "demo-"


def _file_only(loaded) -> None:
    """Demo messages go to files: no provider call, no rate limit to wait for."""
    for name, settings in list(loaded.channel_settings.items()):
        loaded.channel_settings[name] = settings.model_copy(
            update={"transport": "file", "rate": None})


def _outbox_files(loaded) -> dict[Path, int]:
    counts: dict[Path, int] = {}
    for settings in loaded.channel_settings.values():
        root = Path(settings.outbox_dir)
        root = root if root.is_absolute() else loaded.base_dir / root
        if root.is_dir():
            for folder in sorted(p for p in root.glob("*/*") if p.is_dir()):
                counts[folder] = sum(1 for f in folder.iterdir() if f.is_file())
    return counts


@app.command()
def demo(customers: Annotated[int, typer.Option(
             "--customers", min=1, max=1_000_000, help="How many synthetic customers")] = 2000,
         seed: Annotated[int, typer.Option(help="Seed of the synthetic data")] = 7,
         config: ConfigOption = None, at: AtOption = None) -> None:
    """Fill the embedded database with a synthetic shop and run every campaign once.

    Messages are written as files under outbox/ (no provider is contacted). Running it
    again generates nothing new and sends nothing twice. Inside the shop's quiet hours
    it runs as of the next allowed moment, on a simulated clock, and says so.
    """
    from dispatcher.app import open_store
    from dispatcher.clock import clock_at
    from dispatcher.daemon.runner import run_once
    from dispatcher.demo.synth import SynthSpec, existing, generate, shop_summary

    loaded = _load(config)
    url = loaded.database_url()
    if not url.startswith("sqlite"):
        err_console.print("the demo runs on the embedded SQLite database only; unset "
                          "DISPATCHER_DATABASE_URL or point --config at a demo config",
                          style="red")
        raise typer.Exit(2)
    names = [n for n, c in loaded.config.campaigns.items() if c.enabled]
    _check_campaigns(loaded, names)
    _file_only(loaded)
    engine = open_store(loaded)
    held = shop_summary(engine)["customers"]
    demo_held = existing(engine, DEMO_PREFIX)
    if held > demo_held:
        engine.dispose()
        err_console.print(f"{url.removeprefix('sqlite:///')} already holds {held - demo_held} "
                          "customers that are not demo data; the demo will not mix with them. "
                          "Run it from a fresh folder (copy config.yaml and templates/).",
                          style="red")
        raise typer.Exit(2)
    now, simulated = _demo_moment(loaded, _now(at))
    clock = clock_at(now) if simulated or at else _clock()
    if demo_held:
        console.print(f"Demo data already present ({demo_held} customers): not generating "
                      "again. Runs already planned for this schedule slot are not re-sent.")
    else:
        counts = generate(engine, SynthSpec(customers=customers, seed=seed, now=now,
                                            id_prefix=DEMO_PREFIX))
        channels = ", ".join(f"{k} {v}" for k, v in sorted(counts.addresses.items()))
        console.print(f"Generated a synthetic shop: {counts.customers} customers, "
                      f"{counts.orders} orders over two years, {counts.carts} carts, "
                      f"addresses: {channels}.")
    engine.dispose()

    result = asyncio.run(run_once(loaded, names, now, wait_retries=0, clock=clock))
    table = Table(title="demo run (every campaign once)")
    for column in ("campaign", "segment", "skipped", "already sent", "to send", "run"):
        table.add_column(column)
    for plan in result.plans:
        f = plan.funnel
        skipped = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(f.skipped.items()))
        via = ", ".join(f"{k} {v}" for k, v in sorted(f.by_channel.items()))
        table.add_row(plan.campaign, str(f.segment), skipped or "-", str(f.already_sent),
                      f"{f.to_send}" + (f" ({via})" if via else "")
                      + (f"; {f.deferred} wait for quiet hours" if f.deferred else ""),
                      "new" if plan.created else "earlier")
    console.print(table)
    for name, latest in sorted(result.stale.items()):
        console.print(f"{name}: not due today (scheduled {latest:%Y-%m-%d %H:%M} UTC); "
                      "a run more than a day late counts as missed, not sent.")
    if not all(plan.created for plan in result.plans):
        console.print("Runs marked 'earlier' were planned by a previous demo for the same "
                      "schedule slot: nothing was sent twice.")
    s = result.stats
    console.print(f"written now: {s.sent} messages; failed {s.failed}; "
                  f"skipped at send time {s.skipped}")
    _print_waiting(result.waiting, loaded, clock())
    files = _outbox_files(loaded)
    if files:
        console.print("Messages are files you can open:")
        for folder, count in files.items():
            console.print(f"  {folder}/  ({count} files)", markup=False, highlight=False)
    example = _example(loaded)
    if example:
        campaign, customer = example
        console.print(f"Next: `dispatcher plan {campaign}` shows the funnel; "
                      f"`dispatcher preview {campaign} --customer {customer}` one message.")


def _demo_moment(loaded, now: datetime) -> tuple[datetime, bool]:
    """When the demo runs: ``now``, or inside the shop's quiet hours the next minute
    they allow (so the demo shows messages at any hour), and whether that is simulated."""
    from dispatcher.outbox.waiting import when
    from dispatcher.policy.quiet import next_allowed

    now = now.replace(second=0, microsecond=0)
    zone = loaded.config.timezone
    window = loaded.config.quiet_hours.allowed
    slot = next_allowed(now, zone, window)
    if not slot.deferred:
        return now, False
    assert window is not None
    console.print(f"It is {when(now, zone, now, zone)}, inside the shop's quiet hours "
                  f"(messages go out {window.start:%H:%M}-{window.end:%H:%M} in each "
                  f"customer's time zone). The demo runs on a simulated clock as of "
                  f"{when(slot.not_before, zone, now, zone)}, the next allowed minute, "
                  "so you see what would go out then; nothing leaves this machine.",
                  markup=False, highlight=False)
    return slot.not_before, True


def _example(loaded) -> tuple[str, str] | None:
    """A campaign and a customer who got a message from it, for the hint."""
    from sqlalchemy import select

    from dispatcher.app import open_store
    from dispatcher.store.schema import outbox

    engine = open_store(loaded)
    try:
        with engine.connect() as conn:
            row = conn.execute(select(outbox.c.campaign, outbox.c.customer_id)
                               .where(outbox.c.status == "sent")
                               .order_by(outbox.c.id).limit(1)).first()
    finally:
        engine.dispose()
    return (row[0], row[1]) if row else None
