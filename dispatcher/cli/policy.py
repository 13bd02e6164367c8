"""Commands for consent and privacy: ``forget``, ``import-bounces``, ``consent``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from dispatcher.cli.errors import fail
from dispatcher.cli.main import ConfigOption, _load, _now, app, console, err_console
from dispatcher.cli.options import file_format


@app.command()
def forget(customer: str, config: ConfigOption = None,
           yes: Annotated[bool, typer.Option("--yes", help="Do not ask to confirm")] = False,
           ) -> None:
    """Erase CUSTOMER: delete their data, keep a hashed suppression and pseudonymous
    send-log rows (so a re-import stays suppressed and reports keep their counts)."""
    from dispatcher.app import open_store
    from dispatcher.clock import utcnow
    from dispatcher.policy.forget import forget as do_forget

    loaded = _load(config)
    engine = open_store(loaded)
    if not yes and not typer.confirm(f"Erase customer {customer} for good?"):
        raise typer.Exit(1)
    with engine.begin() as conn:
        result = do_forget(conn, customer, utcnow())
    if not result.found:
        err_console.print(f"no customer {customer!r} (nothing erased)", style="red")
        raise typer.Exit(1)
    console.print(f"erased customer {customer}: {result.addresses} address(es) suppressed by "
                  f"hash, {result.outbox_rows} send-log row(s) kept as {result.pseudonym}, "
                  f"{result.engagement} click/open record(s) deleted")


@app.command("import-bounces")
def import_bounces(file: Path, config: ConfigOption = None,
                   fmt: Annotated[str | None, typer.Option(
                       "--format", help="csv | jsonl", callback=file_format)] = None,
                   ) -> None:
    """Import bounce events (columns: email, type=hard|soft, optional code, reason, at).

    Hard bounces suppress at once; soft ones suppress past bounces.soft_threshold.
    All-or-nothing: a bad row is reported with its line and nothing is written.
    """
    from dispatcher.app import open_store
    from dispatcher.importer.read import FileError, detect_format, read_rows
    from dispatcher.policy.bounces import Bounce, record_bounces
    from dispatcher.store.stats import refresh_statistics

    if not file.is_file():
        fail(f"{file}: no such file")
    loaded = _load(config)
    now = _now(None)
    events: list[Bounce] = []
    errors: list[str] = []
    try:
        _read_bounces(file, read_rows(file, detect_format(file, fmt)), now, events, errors)
    except FileError as exc:
        fail(f"{file}:{exc.line or 1}: {exc.message}; nothing was written", code=1)
    if errors:
        for error in errors[:50]:
            err_console.print(error)
        err_console.print(f"{len(errors)} bad row(s); nothing was written", style="bold red")
        raise typer.Exit(1)
    engine = open_store(loaded)
    with engine.begin() as conn:
        result = record_bounces(conn, events, loaded.config.bounces, f"file {file.name}", now)
    refresh_statistics(engine, ("bounces", "suppressions"))
    console.print(f"recorded {result.recorded} bounce(s); {result.suppressed} address(es) "
                  f"suppressed")


def _read_bounces(file: Path, rows: Any, now: Any, events: list[Any],
                  errors: list[str]) -> None:
    from dispatcher.importer.read import ReadError
    from dispatcher.importer.rows import parse_timestamp
    from dispatcher.policy.bounces import Bounce

    for line, raw in rows:
        if isinstance(raw, ReadError):
            errors.append(f"{file}:line {line}: {raw.message}")
            continue
        address = str(raw.get("email") or raw.get("address") or "").strip()
        kind = str(raw.get("type") or raw.get("kind") or "").strip().lower()
        if "@" not in address:
            errors.append(f"{file}:line {line}: email: not an email address: {address!r}")
            continue
        try:
            at = parse_timestamp(raw.get("at")) or now
            events.append(Bounce(address, kind, at, _opt(raw.get("code")),
                                 _opt(raw.get("reason"))))
        except ValueError as exc:
            field = "type" if "bounce type" in str(exc) else "at"
            errors.append(f"{file}:line {line}: {field}: {exc}")


def _opt(value: object) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


@app.command()
def consent(customer: str, config: ConfigOption = None) -> None:
    """Show CUSTOMER's consent history: every grant and withdrawal, source and wording."""
    from rich.table import Table

    from dispatcher.app import open_store
    from dispatcher.policy.consent import history

    loaded = _load(config)
    engine = open_store(loaded)
    with engine.connect() as conn:
        events = history(conn, customer)
    table = Table(title=f"consent history of {customer}")
    for column in ("when (UTC)", "channel", "status", "source", "wording shown"):
        table.add_column(column)
    for event in events:
        table.add_row(f"{event.at:%Y-%m-%d %H:%M}", event.channel, event.status, event.source,
                      event.text or "")
    console.print(table)
