"""The ``dispatcher`` command line."""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from dispatcher.cli import options as cli_options
from dispatcher.cli.errors import DispatcherGroup, fail, report_config_error
from dispatcher.cli.output import make_console
from dispatcher.config.errors import ConfigError
from dispatcher.config.load import LoadedConfig

if TYPE_CHECKING:
    from dispatcher.clock import Clock
    from dispatcher.outbox.waiting import Waiting

app = typer.Typer(cls=DispatcherGroup, add_completion=False, no_args_is_help=True,
                  help="Retention campaign dispatcher: plan, send and measure campaigns.")
# Text as written (no markup, no emoji codes, control characters escaped), never
# hard-wrapped; tables as wide as their content in a pipe (dispatcher/cli/output.py).
console = make_console()
err_console = make_console(stderr=True)

ConfigOption = Annotated[str | None, typer.Option("--config", "-c", envvar="DISPATCHER_CONFIG",
                                                  help="Path to config.yaml")]
AtOption = Annotated[str | None, typer.Option("--at", help="Pretend now is this UTC time "
                                                           "(ISO 8601), e.g. for a catch-up",
                                              callback=cli_options.time_value)]


def _clock() -> Clock:
    """The clock this command decides by (dispatcher/clock.py; tests pin it)."""
    from dispatcher.clock import current_clock

    return current_clock()


def _now(at: str | None) -> datetime:
    if at is None:
        return _clock()()
    from dispatcher.importer.rows import parse_timestamp  # the importer's models: only for --at

    parsed = parse_timestamp(at)
    assert parsed is not None
    return parsed


def _fail_config(exc: ConfigError) -> typer.Exit:
    return typer.Exit(report_config_error(exc))


def _load(config: str | None):
    from dispatcher.app import load

    try:
        return load(config)
    except ConfigError as exc:
        raise _fail_config(exc) from None


def _check_campaigns(loaded, names: list[str]) -> None:
    unknown = [n for n in names if n not in loaded.config.campaigns]
    if unknown:
        known = ", ".join(sorted(loaded.config.campaigns))
        err_console.print(f"unknown campaign '{unknown[0]}' (known: {known})", style="red")
        raise typer.Exit(2)


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    from dispatcher.logs import configure_logging

    configure_logging(logging.DEBUG if verbose else logging.WARNING)


@app.command()
def validate(config: ConfigOption = None) -> None:
    """Load the config and render every template against sample customers."""
    from dispatcher.message.validate import data_warnings, validate_all

    loaded = _load(config)
    try:
        warnings = validate_all(loaded) + data_warnings(loaded)
    except ConfigError as exc:
        raise _fail_config(exc) from None
    for warning in warnings:
        err_console.print(str(warning), markup=False, highlight=False)
    console.print(f"OK: {len(loaded.config.campaigns)} campaigns, "
                  f"{len(loaded.config.segments)} segments, templates render.")


@app.command()
def plan(campaign: str, config: ConfigOption = None, at: AtOption = None,
         render_limit: Annotated[int, typer.Option(
             "--render-limit", min=1, max=10_000_000,
             help="Render every SMS/push message up to this many per channel to count "
                  "segments and sizes; beyond it, a random sample of this many")] = 2_000,
         ) -> None:
    """Show who would get CAMPAIGN now, and why the others would not. Sends nothing."""
    from dispatcher.app import latest_fire_time, open_store
    from dispatcher.mechanics.sequences import preview_step
    from dispatcher.plan.planner import preview_funnel
    from dispatcher.plan.render_sample import PlanRun

    loaded = _load(config)
    _check_campaigns(loaded, [campaign])
    engine = open_store(loaded)
    now = _now(at)
    scheduled = latest_fire_time(loaded, campaign, now)
    # A sequence: the step due now, else the next one (dispatcher/mechanics/sequences.py).
    step, scheduled = preview_step(loaded, campaign, now, scheduled)
    funnel = preview_funnel(engine, loaded, campaign, scheduled, now, step)
    title = f"{campaign}{f' step {step}' if step else ''}"
    table = Table(title=f"{title} (run of {scheduled:%Y-%m-%d %H:%M} UTC)", show_header=False)
    table.add_row("segment", str(funnel.segment))
    for reason, count in sorted(funnel.skipped.items()):
        table.add_row(f"  - {reason.replace('_', ' ')}", str(count))
    table.add_row("  - already sent", str(funnel.already_sent))
    table.add_row("= to send", str(funnel.to_send), style="bold")
    for channel, count in sorted(funnel.by_channel.items()):
        table.add_row(f"    via {channel}", str(count))
    if funnel.deferred:
        table.add_row("    of which deferred (quiet hours)", str(funnel.deferred))
    console.print(table)
    run = PlanRun(engine, loaded, campaign, scheduled, now, step, funnel, render_limit)
    for report in PLAN_REPORTS:
        for line in _attr(report)(run):
            console.print(line, markup=False, highlight=False)


@app.command("run-once")
def run_once(campaigns: Annotated[list[str] | None, typer.Argument()] = None,
             config: ConfigOption = None, at: AtOption = None,
             wait_retries: Annotated[int, typer.Option(
                 min=0, help="Seconds to wait for retries that fall due soon")] = 60) -> None:
    """Plan the due run of each campaign (or the named ones) and send what is due."""
    from dispatcher.app import open_store
    from dispatcher.daemon.runner import run_once as do_run_once

    loaded = _load(config)
    names = campaigns or [n for n, c in loaded.config.campaigns.items() if c.enabled]
    _check_campaigns(loaded, names)
    open_store(loaded).dispose()  # an unreachable database: one line, before validating
    _warn_development_secret(loaded, names)
    try:
        result = asyncio.run(do_run_once(loaded, names, _now(at) if at else None,
                                         wait_retries, clock=_clock()))
    except ConfigError as exc:
        raise _fail_config(exc) from None
    table = Table(title="run-once")
    for column in ("campaign", "run", "new", "to send", "skipped"):
        table.add_column(column)
    for plan_result in result.plans:
        f = plan_result.funnel
        table.add_row(plan_result.campaign, f"{plan_result.scheduled_for:%Y-%m-%d %H:%M}",
                      "yes" if plan_result.created else "already planned",
                      str(f.to_send if plan_result.created else 0),
                      ", ".join(f"{k}={v}" for k, v in sorted(f.skipped.items())) or "-")
    console.print(table)
    for name, latest in sorted(result.stale.items()):
        console.print(f"{name}: not due (last scheduled {latest:%Y-%m-%d %H:%M} UTC, more "
                      "than a day ago; it runs at its next scheduled time)")
    s = result.stats
    console.print(f"sent {s.sent}, failed {s.failed}, retrying {s.retried}, "
                  f"skipped at send time {s.skipped}, "
                  f"uncertain {s.uncertain + s.recovered_uncertain}")
    _print_waiting(result.waiting, loaded, _clock()())


def _print_waiting(waiting: list[Waiting], loaded: LoadedConfig, now: datetime) -> None:
    """What the pass did not send, why, and when to run again."""
    for item in waiting:
        console.print(item.describe(now, loaded.config.timezone), markup=False,
                      highlight=False)


def _warn_development_secret(loaded: LoadedConfig, names: list[str]) -> None:
    """Real recipients would get links signed with the public development key."""
    from dispatcher.links import real_channels, secret_is_default

    real = real_channels(loaded, names)
    if real and secret_is_default():
        err_console.print(f"warning: DISPATCHER_SECRET is not set: the unsubscribe links "
                          f"in these {', '.join(real)} messages are signed with the public "
                          "development key, and stop working once it is set.",
                          markup=False, highlight=False)


@app.command()
def preview(campaign: str, customer: Annotated[str, typer.Option("--customer")],
            channel: Annotated[str | None, typer.Option(
                "--channel", help="Show this channel's message (default: the channel "
                                  "run-once would pick)")] = None,
            config: ConfigOption = None, at: AtOption = None) -> None:
    """Print the message CAMPAIGN would send to one customer, and what run-once would do."""
    from dispatcher.app import open_store
    from dispatcher.render.templating import TemplateProblem
    from dispatcher.send.testsend import preview_for

    loaded = _load(config)
    _check_campaigns(loaded, [campaign])
    cli_options.check_channel(loaded, campaign, channel)
    engine = open_store(loaded)
    try:
        shown = preview_for(engine, loaded, campaign, customer, channel, _now(at))
    except LookupError as exc:
        err_console.print(str(exc), style="red")
        raise typer.Exit(1) from None
    except TemplateProblem as exc:  # e.g. no template for the chosen channel
        fail(str(exc))
    message = shown.message
    for note in shown.notes:
        console.print(note, markup=False, highlight=False)
    goes_out = shown.verdict.sends and shown.verdict.channel == message.channel
    console.rule(f"{campaign} -> {message.channel} for customer {customer}"
                 + ("" if goes_out else " (not what run-once sends)"))
    if message.subject is not None:
        console.print(f"Subject: {message.subject}", markup=False, highlight=False)
    for name, value in message.headers.items():
        console.print(f"{name}: {value}", markup=False, highlight=False)
    console.rule("text")
    console.print(message.text, markup=False, highlight=False)
    if message.html:
        console.rule("html")
        console.print(message.html, markup=False, highlight=False)
    for line in message.data.get("preview_lines", []):
        console.print(line, markup=False, highlight=False)


@app.command("test-send")
def test_send(campaign: str, customer: Annotated[str, typer.Option("--customer")],
              to: Annotated[str, typer.Option("--to", help="Test address to send to")],
              channel: Annotated[str | None, typer.Option("--channel")] = None,
              config: ConfigOption = None) -> None:
    """Send the real message for CUSTOMER to a test address (not counted anywhere)."""
    from dispatcher.app import open_store
    from dispatcher.render.templating import TemplateProblem
    from dispatcher.send.testsend import send_test

    loaded = _load(config)
    _check_campaigns(loaded, [campaign])
    cli_options.check_channel(loaded, campaign, channel)
    channel = cli_options.channel_for_test_send(loaded, campaign, channel, to)
    engine = open_store(loaded)
    try:
        provider_id = asyncio.run(send_test(engine, loaded, campaign, customer, to, channel))
    except LookupError as exc:
        err_console.print(str(exc), style="red")
        raise typer.Exit(1) from None
    except TemplateProblem as exc:  # e.g. no template for the chosen channel
        fail(str(exc))
    except Exception as exc:  # the provider's answer, classified for the person
        err_console.print(f"test send failed: {exc}", style="red")
        raise typer.Exit(1) from None
    console.print(f"test message sent ({provider_id})")


@app.command("import")
def import_(kind: Annotated[str, typer.Argument(help="customers | orders | carts")],
            file: Path, config: ConfigOption = None,
            skip_bad: Annotated[bool, typer.Option(
                "--skip-bad", help="Write good rows; bad rows go to the reject file")] = False,
            rejects: Annotated[Path | None, typer.Option(
                help="Reject file (JSONL)", callback=cli_options.output_file)] = None,
            fmt: Annotated[str | None, typer.Option(
                "--format", help="csv | jsonl", callback=cli_options.file_format)] = None,
            delimiter: Annotated[str | None, typer.Option(
                help="CSV separator: , ; tab or | (default: detected from the header)",
                callback=cli_options.delimiter)] = None,
            encoding: Annotated[str | None, typer.Option(
                help="File encoding, e.g. utf-8, cp1251, cp1252, utf-16 (default: UTF-8 "
                     "with or without BOM, UTF-16 with BOM, else Windows-1251)",
                callback=cli_options.encoding)] = None,
            last_wins: Annotated[bool, typer.Option(
                "--last-wins", help="An id that comes twice: keep its last row "
                                    "(default: an error naming both lines)")] = False,
            ) -> None:
    """Import CSV or JSONL, upserting by id. All-or-nothing unless --skip-bad."""
    from rich.progress import Progress

    from dispatcher.app import open_store
    from dispatcher.importer import FileError, import_file

    if kind not in ("customers", "orders", "carts"):
        fail(f"unknown import kind '{kind}' (use customers, orders or carts)")
    if not file.is_file():
        fail(f"{file}: no such file")
    loaded = _load(config)
    engine = open_store(loaded)
    if skip_bad and rejects is None:
        rejects = file.with_name(file.name + ".rejects.jsonl")
    try:
        with Progress(console=err_console, transient=True,
                      disable=not sys.stderr.isatty()) as bar:
            task = bar.add_task(f"importing {file.name}", total=None)
            report = import_file(engine, kind, file, fmt=fmt, skip_bad=skip_bad,
                                 rejects=rejects, progress=lambda n: bar.advance(task, n),
                                 encoding=encoding, delimiter=delimiter, last_wins=last_wins)
    except FileError as exc:
        where = f"{file}:{exc.line}" if exc.line else f"{file}"
        fail(f"{where}: {exc.message}; nothing was written", code=1)
    if report.text is not None and report.text.guessed:
        err_console.print(f"{file}: not UTF-8; read as {report.text.encoding_name} "
                          "(pass --encoding if that is wrong)")
    for error in sorted(report.errors, key=lambda e: e.line)[:50]:
        err_console.print(f"{file}:{error}")
    if len(report.errors) > 50:
        err_console.print(f"... and {len(report.errors) - 50} more")
    if report.errors and not skip_bad:
        err_console.print(f"{len(report.errors)} bad row(s); nothing was written "
                          f"(use --skip-bad to import the good rows)", style="bold red")
        raise typer.Exit(1)
    if report.errors and not report.written:
        err_console.print(f"every row was rejected (see {report.rejects_path}); nothing was "
                          "written", style="bold red")
        raise typer.Exit(1)
    repeats = (f" ({report.repeated} row(s) repeated an id; the last of each was kept)"
               if report.repeated else "")
    console.print(f"imported {report.written} {kind} from {file}{repeats}"
                  + (f"; {len(report.errors)} rejected to {report.rejects_path}"
                     if report.errors else ""))


@app.command("init-db")
def init_db(config: ConfigOption = None) -> None:
    """Create or upgrade the database schema."""
    from dispatcher.app import open_store

    loaded = _load(config)
    open_store(loaded)
    console.print(f"database ready: {loaded.database_url().split('@')[-1]}")


def main() -> None:
    app()  # failures end as one line and an exit code (dispatcher/cli/errors.py)


# Feature modules that add commands to ``app`` when imported (one line per feature,
# so features land without touching each other's commands). Imported last: each
# does ``from dispatcher.cli.main import app`` and decorates its commands.
COMMAND_MODULES: list[str] = [
    "dispatcher.cli.demo",
    "dispatcher.cli.policy",
    "dispatcher.cli.promo",
    "dispatcher.cli.daemon",
    "dispatcher.cli.reports",
    "dispatcher.cli.push",
]

# "module:function(run: dispatcher.plan.render_sample.PlanRun) -> lines" that ``plan`` prints
# under its funnel (SMS segments and cost, push payload sizes, loyalty currencies, ...).
PLAN_REPORTS: list[str] = ["dispatcher.plan.sms_estimate:plan_report",
                           "dispatcher.plan.push_estimate:plan_report",
                           "dispatcher.plan.loyalty_report:plan_report"]


def _attr(path: str):
    import importlib

    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _register_feature_commands() -> None:
    import importlib

    for module in COMMAND_MODULES:
        importlib.import_module(module)


_register_feature_commands()
