"""``dispatcher promo export|report``: personal promo codes for the shop's checkout."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dispatcher.cli.main import ConfigOption, _check_campaigns, _load, _now, app, console
from dispatcher.cli.options import output_file

promo_app = typer.Typer(help="Personal promo codes: export for checkout, redemption report.",
                        no_args_is_help=True)
app.add_typer(promo_app, name="promo")


@promo_app.command("export")
def export(config: ConfigOption = None,
           campaign: Annotated[str | None, typer.Option(help="Only this campaign")] = None,
           active: Annotated[bool, typer.Option(
               "--active", help="Only codes not yet redeemed and not expired")] = False,
           output: Annotated[Path | None, typer.Option(
               "--output", "-o", help="CSV file (default: standard output)",
               callback=output_file)] = None) -> None:
    """Write issued codes as CSV: code, campaign, customer_id, issued_at, expires_at,
    redeemed_at, order_id (one-time: a redeemed code must be refused at checkout)."""
    from dispatcher.app import open_store
    from dispatcher.mechanics.promo import export_rows, write_csv
    from dispatcher.reports.csv_safe import neutral_rows

    loaded = _load(config)
    if campaign:
        _check_campaigns(loaded, [campaign])
    engine = open_store(loaded)
    # Customer and order ids come from imports: no cell may run as a formula.
    rows = neutral_rows(export_rows(engine, campaign, active, _now(None)))
    if output is None:
        write_csv(rows, sys.stdout)
        return
    with open(output, "w", encoding="utf-8", newline="") as fh:
        count = write_csv(rows, fh)
    console.print(f"exported {count} promo code(s) to {output}")


@promo_app.command("report")
def report(config: ConfigOption = None) -> None:
    """Per campaign: codes issued, redeemed, redemption rate, revenue of redeeming orders
    (per currency)."""
    from dispatcher.app import open_store
    from dispatcher.mechanics.promo import summary

    engine = open_store(_load(config))
    table = Table(title="promo codes")
    for column in ("campaign", "issued", "redeemed", "rate", "revenue"):
        table.add_column(column)
    for line in summary(engine):
        table.add_row(line.campaign, str(line.issued), str(line.redeemed),
                      f"{line.rate:.1%}",
                      ", ".join(f"{v:,.2f} {c}" for c, v in line.revenue.items()) or "-")
    console.print(table)
