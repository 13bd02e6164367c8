"""``dispatcher report`` and ``dispatcher metrics``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dispatcher.cli.main import (
    AtOption,
    ConfigOption,
    _check_campaigns,
    _load,
    _now,
    app,
    console,
    err_console,
)
from dispatcher.cli.options import output_file, time_value

FORMATS = ("table", "csv", "json", "html")


@app.command()
def report(campaign: str, config: ConfigOption = None, at: AtOption = None,
           fmt: Annotated[str, typer.Option("--format", help="table | csv | json | html")]
           = "table",
           output: Annotated[Path | None, typer.Option(
               "--output", "-o", help="Write to this file", callback=output_file)] = None,
           mde: Annotated[str | None, typer.Option(
               "--mde", help="An effect worth finding, e.g. 1pp (percentage points) or 10% "
                             "(relative): the recipients needed to detect it")] = None,
           ) -> None:
    """A/B report of CAMPAIGN: per variant and holdout, the funnel (sent, delivered,
    clicked), conversions, revenue, uplift."""
    from dispatcher.app import open_store
    from dispatcher.reports.abtest import build_report
    from dispatcher.reports.abtest_formats import print_table, to_csv, to_json
    from dispatcher.reports.power import Effect

    if fmt not in FORMATS:
        err_console.print(f"unknown format '{fmt}' (use {', '.join(FORMATS)})", style="red")
        raise typer.Exit(2)
    try:
        effect = Effect.parse(mde) if mde is not None else None
    except ValueError as exc:
        err_console.print(f"--mde: {exc}", style="red", markup=False, highlight=False)
        raise typer.Exit(2) from None
    loaded = _load(config)
    _check_campaigns(loaded, [campaign])
    engine = open_store(loaded)
    result = build_report(engine, loaded, campaign, _now(at), mde=effect)
    engine.dispose()
    if fmt == "table":
        if output is None:
            print_table(result, console)
            return
        from dispatcher.cli.output import make_console

        with open(output, "w", encoding="utf-8") as fh:
            print_table(result, make_console(file=fh))
        console.print(f"wrote {output}")
        return
    if fmt == "html":
        try:
            from dispatcher.reports.abtest_html import render_html

            text = render_html(result)
        except ImportError:
            err_console.print("the HTML report needs matplotlib: "
                              "pip install 'dispatcher[reports]'", style="red")
            raise typer.Exit(1) from None
    else:
        text = to_json(result) if fmt == "json" else to_csv(result)
    if output is None:
        typer.echo(text, nl=not text.endswith("\n"))
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}")


# "money" lines hold one figure per currency and get one table line per currency:
# amounts in different currencies are never added.
METRIC_LINES = (
    ("repeat customer rate", "repeat_customer_rate", "pct"),
    ("purchase frequency", "purchase_frequency", "num"),
    ("average order value", "average_order_value", "money"),
    ("customer value", "customer_value", "money"),
    ("retention rate", "retention_rate", "num"),
    ("orders", "orders", "int"),
    ("  in", "orders_by_currency", "int"),
    ("revenue", "revenue", "money"),
    ("customers who ordered", "customers_ordered", "int"),
    ("  with 2+ orders", "repeat_customers", "int"),
    ("customers at start", "customers_at_start", "int"),
    ("customers at end", "customers_at_end", "int"),
    ("new customers", "new_customers", "int"),
)


def _metric(value: float | int | None, kind: str) -> str:
    if value is None:
        return "-"
    return {"pct": f"{value:.1%}", "num": f"{value:.2f}", "money": f"{value:,.2f}",
            "int": f"{int(value):,}"}[kind]


@app.command()
def metrics(config: ConfigOption = None,
            start: Annotated[str | None, typer.Option(
                "--from", help="Period start (UTC date or time); default: 30 days before --to",
                callback=time_value)]
            = None,
            end: Annotated[str | None, typer.Option(
                "--to", help="Period end, exclusive (UTC); default: now",
                callback=time_value)] = None,
            segments: Annotated[list[str] | None, typer.Option(
                "--segment", help="Also per segment (repeatable)")] = None,
            active: Annotated[str, typer.Option(
                help="Who counts as a customer at a moment: ordered within this long "
                     "before it")] = "365d",
            fmt: Annotated[str, typer.Option("--format", help="table | csv | json")] = "table",
            ) -> None:
    """Retention metrics for a period: repeat rate, frequency, AOV, value, retention."""
    import csv
    import io
    import json
    from datetime import timedelta

    from rich.table import Table

    from channels.durations import parse_duration
    from dispatcher.app import open_store
    from dispatcher.reports.csv_safe import neutral_dict
    from dispatcher.reports.metrics import compute_metrics

    if fmt not in ("table", "csv", "json"):
        err_console.print(f"unknown format '{fmt}' (use table, csv, json)", style="red")
        raise typer.Exit(2)
    loaded = _load(config)
    unknown = [s for s in segments or [] if s not in loaded.segments]
    if unknown:
        known = ", ".join(sorted(loaded.segments)) or "none defined"
        err_console.print(f"unknown segment '{unknown[0]}' (known: {known})", style="red")
        raise typer.Exit(2)
    try:
        period_end = _now(end)
        period_start = _now(start) if start else period_end - timedelta(days=30)
        window = parse_duration(active)
    except ValueError as exc:
        err_console.print(f"bad option: {exc}", style="red")
        raise typer.Exit(2) from None
    if period_start >= period_end:
        err_console.print("--from must be before --to", style="red")
        raise typer.Exit(2)
    engine = open_store(loaded)
    results = [compute_metrics(engine, loaded, period_start, period_end, None, window)]
    results += [compute_metrics(engine, loaded, period_start, period_end, s, window)
                for s in segments or []]
    engine.dispose()
    if fmt == "json":
        typer.echo(json.dumps([r.as_dict() for r in results], indent=2))
        return
    currencies = sorted({c for r in results for c in r.orders_by_currency})
    if fmt == "csv":
        buffer = io.StringIO()
        rows = [_flat(r.as_dict(), currencies) for r in results]
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(neutral_dict({k: ("" if v is None else v) for k, v in row.items()})
                         for row in rows)
        typer.echo(buffer.getvalue(), nl=False)
        return
    table = Table(title=f"Retention metrics {period_start:%Y-%m-%d %H:%M} to "
                        f"{period_end:%Y-%m-%d %H:%M} UTC")
    table.add_column("")
    for result in results:
        table.add_column(result.segment or "whole shop", justify="right")
    for label, attr, kind in METRIC_LINES:
        values = [getattr(r, attr) for r in results]
        if not isinstance(values[0], dict):
            table.add_row(label, *(_metric(v, kind) for v in values))
            continue
        for currency in currencies:
            name = f"{label} {currency}" if label.strip() == "in" else f"{label}, {currency}"
            table.add_row(name, *(_metric(v.get(currency), kind) for v in values))
    console.print(table)


def _flat(row: dict[str, object], currencies: list[str]) -> dict[str, object]:
    """Per-currency figures as one column per currency (``revenue_UAH``), for CSV."""
    out: dict[str, object] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            out.update({f"{key}_{c}": value.get(c) for c in currencies})
        else:
            out[key] = value
    return out
