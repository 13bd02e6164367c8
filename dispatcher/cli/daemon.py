"""Commands of the long-running service: run, status, pause, resume."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Annotated, Any

import typer
from rich.table import Table

from dispatcher.cli.main import (
    ConfigOption,
    _check_campaigns,
    _clock,
    _load,
    _now,
    app,
    console,
    err_console,
)
from dispatcher.cli.options import listen_host, plain_text

HostOption = Annotated[str | None, typer.Option(help="HTTP host (default: daemon.host)",
                                               callback=listen_host)]
PortOption = Annotated[int | None, typer.Option(help="HTTP port (default: daemon.port)",
                                                min=1, max=65535)]

# Data (reasons, ids) printed as is: no markup, no colouring, no wrapping mid-line.
PLAIN: dict[str, Any] = {"markup": False, "highlight": False, "soft_wrap": True}


@app.command()
def run(config: ConfigOption = None, host: HostOption = None, port: PortOption = None,
        no_http: Annotated[bool, typer.Option("--no-http", help="Do not serve HTTP")] = False,
        ) -> None:
    """Run the dispatcher: schedules, HTTP app and sender. SIGHUP reloads, SIGTERM stops."""
    from dispatcher.app import open_store
    from dispatcher.daemon.service import Daemon
    from dispatcher.logs import configure_logging

    if logging.getLogger("dispatcher").level > logging.INFO:
        configure_logging(logging.INFO)
    loaded = _load(config)
    open_store(loaded).dispose()  # an unreachable database: one line, before validating
    _validate_templates(loaded)  # the daemon sends what it validated, as after a SIGHUP
    _refuse_forgeable_links(loaded, serve_http=not no_http)
    code = asyncio.run(Daemon(loaded, host, port, serve_http=not no_http,
                              clock=_clock()).run())
    raise typer.Exit(code)


@app.command()
def serve(config: ConfigOption = None, host: HostOption = None, port: PortOption = None,
          ) -> None:
    """Serve only the HTTP app (unsubscribe, preferences, webhooks, push, events,
    /metrics) and the Telegram /stop bot: for shops that send with the nightly
    `run-once` instead of the daemon. Schedules and sends nothing. SIGHUP reloads."""
    from dispatcher.daemon.service import Daemon
    from dispatcher.logs import configure_logging

    try:
        import starlette  # noqa: F401
    except ImportError:
        err_console.print("error: `serve` needs the web extra: pip install -e \".[web]\"",
                          markup=False, highlight=False)
        raise typer.Exit(2) from None
    if logging.getLogger("dispatcher").level > logging.INFO:
        configure_logging(logging.INFO)
    loaded = _load(config)
    _refuse_forgeable_links(loaded, serve_http=True)
    raise typer.Exit(asyncio.run(Daemon(loaded, host, port, dispatch=False).run()))


def _validate_templates(loaded: Any) -> None:
    from dispatcher.cli.main import _fail_config
    from dispatcher.config.errors import ConfigError
    from dispatcher.message.validate import validate_all

    try:
        validate_all(loaded)
    except ConfigError as exc:
        raise _fail_config(exc) from None


def _refuse_forgeable_links(loaded: Any, serve_http: bool) -> None:
    """Without DISPATCHER_SECRET, unsubscribe, preference and push-subscribe tokens are
    signed with a public development key: anyone could forge them. Fine while every
    channel writes files; refused once the daemon serves those links for real sends."""
    from dispatcher.links import real_channels, secret_is_default

    if not serve_http or not secret_is_default():
        return
    real = real_channels(loaded, loaded.config.campaigns)
    if real:
        err_console.print(
            f"error: DISPATCHER_SECRET is not set, and {', '.join(real)} send(s) to real "
            "recipients: their unsubscribe and preference links would be signed with the "
            "public development key. Set DISPATCHER_SECRET (a long random string, kept "
            "across restarts).", markup=False, highlight=False)
        raise typer.Exit(2)
    logging.getLogger("dispatcher.daemon").warning(
        "DISPATCHER_SECRET is not set: links use the development key (file transports only)")


@app.command()
def status(config: ConfigOption = None,
           as_json: Annotated[bool, typer.Option("--json", help="Machine-readable")] = False,
           ) -> None:
    """Runs, outbox by state, paused campaigns, uncertain rows and the last errors."""
    from dispatcher.app import open_store
    from dispatcher.reports.status import collect

    loaded = _load(config)
    engine = open_store(loaded)
    data = collect(engine)
    engine.dispose()
    if as_json:
        console.print_json(json.dumps(data.as_dict(), default=str))
        return
    table = Table(title="outbox")
    states = sorted({s for counts in data.outbox.values() for s in counts})
    table.add_column("campaign")
    for state in states:
        table.add_column(state, justify="right")
    for campaign, counts in sorted(data.outbox.items()):
        table.add_row(campaign, *[str(counts.get(s, 0)) for s in states])
    console.print(table)
    runs = Table(title=f"recent runs ({data.missed_total} missed in all)")
    for column in ("run", "campaign", "scheduled (UTC)", "status"):
        runs.add_column(column)
    for r in data.runs:
        runs.add_row(str(r["id"]), r["campaign"], str(r["scheduled_for"]), r["status"])
    console.print(runs)
    if data.paused:
        for p in data.paused:
            console.print(f"PAUSED {p.campaign} since {p.paused_at:%Y-%m-%d %H:%M} UTC "
                          f"by {p.paused_by}: {p.reason}", **PLAIN)
        console.print("resume with: dispatcher resume CAMPAIGN")
    else:
        console.print("paused campaigns: none")
    console.print(f"uncertain rows (sent or not, unknown; never re-sent): "
                  f"{data.uncertain_total}")
    for u in data.uncertain:
        console.print(f"  outbox {u['id']} {u['campaign']} customer {u['customer_id']} "
                      f"via {u['channel']} at {u['updated_at']}: {u['reason']}", **PLAIN)
    if data.errors:
        console.print("last errors:")
        for e in data.errors:
            console.print(f"  outbox {e['id']} {e['campaign']} customer {e['customer_id']} "
                          f"{e['status']} after {e['attempts']} attempt(s): "
                          f"[{e['error_class']}] {e['reason'] or e['last_error']}",
                          **PLAIN)


@app.command()
def pause(campaign: str, config: ConfigOption = None,
          reason: Annotated[str, typer.Option(help="Why (shown by status)",
                                             callback=plain_text)] = "paused by operator",
          ) -> None:
    """Stop sending CAMPAIGN (planned messages wait) until `dispatcher resume`."""
    from dispatcher.app import open_store
    from dispatcher.outbox.pauses import pause as do_pause

    loaded = _load(config)
    _check_campaigns(loaded, [campaign])
    engine = open_store(loaded)
    changed = do_pause(engine, campaign, "operator", reason, _now(None))
    console.print(f"{campaign}: {'paused' if changed else 'was already paused'}")


@app.command()
def resume(campaign: str, config: ConfigOption = None) -> None:
    """Continue CAMPAIGN where it stopped; what was sent is not sent again."""
    from dispatcher.app import open_store
    from dispatcher.outbox.pauses import resume as do_resume

    loaded = _load(config)
    _check_campaigns(loaded, [campaign])
    engine = open_store(loaded)
    if not do_resume(engine, campaign, _now(None)):
        err_console.print(f"{campaign} was not paused")
        return
    console.print(f"{campaign}: resumed; pending messages will be sent by the next "
                  f"`dispatcher run-once` or by the running daemon")
