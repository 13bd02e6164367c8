"""How a command ends when something goes wrong: one line, the right exit code, no traceback.

Every command runs inside :class:`DispatcherGroup`, so no command has to remember it:

- a bad option value, an unknown option or a missing argument (click's usage errors)
  prints ``error: <what>`` and exits 2;
- a database that cannot be opened prints where (the URL without its password) and
  why, and exits 1 (2 for a URL that is not one);
- any other unexpected exception prints its type and message and exits 1; ``-v`` logs
  the traceback at debug level for a bug report.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

try:  # typer >= 0.2x carries its own copy of click
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import exceptions as click_errors  # type: ignore[no-redef]

from dispatcher.cli.output import make_console
from dispatcher.config.errors import ConfigError
from dispatcher.store.db import hide_password, one_line

log = logging.getLogger("dispatcher.cli.main")
_errors = make_console(stderr=True)


def print_error(message: str) -> None:
    _errors.print(f"error: {hide_password(message)}", style="red")


def fail(message: str, code: int = 2) -> NoReturn:
    """End a command with one line: ``error: <message>`` (exit 2: bad usage)."""
    print_error(message)
    raise typer.Exit(code)


def report_config_error(exc: ConfigError) -> int:
    """Print every issue of a configuration error, one per line; the exit code (2)."""
    for issue in exc.issues:
        _errors.print(str(issue))
    count = len([i for i in exc.issues if i.severity == "error"])
    _errors.print(f"{count} error(s) in the configuration; nothing was sent.",
                  style="bold red")
    return 2


def _describe(exc: Exception) -> tuple[int, str]:
    """The exit code and one line for an exception no command handled."""
    from sqlalchemy.exc import DBAPIError

    from dispatcher.store.db import DatabaseUnavailable, OutdatedDatabase

    if isinstance(exc, DatabaseUnavailable):
        return exc.exit_code, str(exc)
    if isinstance(exc, OutdatedDatabase):
        return 2, str(exc)
    if isinstance(exc, DBAPIError):
        return 1, f"database error: {one_line(str(exc.orig))}"
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return 1, f"{where}{exc.strerror}"
    return 1, (f"unexpected {type(exc).__name__}: {one_line(str(exc))} "
               "(run with -v for the traceback)")


class DispatcherGroup(TyperGroup):
    """The top-level command group: turns every failure into one line and an exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, click_errors.ClickException):
            raise
        except ConfigError as exc:
            raise typer.Exit(report_config_error(exc)) from None
        except Exception as exc:
            log.debug("command failed", exc_info=True)
            code, message = _describe(exc)
            print_error(message)
            raise typer.Exit(code) from None

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             windows_expand_args: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode,
                                windows_expand_args, **extra)
        try:
            result = super().main(args, prog_name, complete_var, False,
                                  windows_expand_args, **extra)
        except click_errors.NoArgsIsHelpError as exc:
            typer.echo(exc.format_message(), err=True)
            sys.exit(2)
        except click_errors.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            print_error(one_line(exc.format_message()) + hint)
            sys.exit(2)
        except click_errors.ClickException as exc:
            print_error(one_line(exc.format_message()))
            sys.exit(exc.exit_code)
        except typer.Abort:
            print_error("aborted")
            sys.exit(1)
        # Not standalone, typer returns the code of a typer.Exit (or the command's None).
        sys.exit(result if isinstance(result, int) else 0)
