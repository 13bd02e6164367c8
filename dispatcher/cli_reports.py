"""``dispatcher report`` and ``dispatcher metrics``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .cli import AtOption, ConfigOption, _check_campaigns, _load, _now, app, console, err_console

FORMATS = ("table", "csv", "json", "html")


@app.command()
def report(campaign: str, config: ConfigOption = None, at: AtOption = None,
           fmt: Annotated[str, typer.Option("--format", help="table | csv | json | html")]
           = "table",
           output: Annotated[Path | None, typer.Option("--output", "-o",
                                                       help="Write to this file")] = None,
           ) -> None:
    """A/B report of CAMPAIGN: per variant and holdout, conversions, revenue, uplift."""
    from .app import open_store
    from .reports.abtest import build_report
    from .reports.abtest_formats import print_table, to_csv, to_json

    if fmt not in FORMATS:
        err_console.print(f"unknown format '{fmt}' (use {', '.join(FORMATS)})", style="red")
        raise typer.Exit(2)
    loaded = _load(config)
    _check_campaigns(loaded, [campaign])
    engine = open_store(loaded)
    result = build_report(engine, loaded, campaign, _now(at))
    engine.dispose()
    if fmt == "table":
        if output is None:
            print_table(result, console)
            return
        from rich.console import Console

        with open(output, "w", encoding="utf-8") as fh:
            print_table(result, Console(file=fh, width=200))
        console.print(f"wrote {output}")
        return
    if fmt == "html":
        try:
            from .reports.abtest_html import render_html

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
