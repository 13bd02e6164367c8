"""Run a ``dispatcher`` command the way a user does and collect what they would see."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from dispatcher.cli.main import app

# Commands that start a long-running service: a mistake that let them start would hang
# an in-process run, so they run as a child process with a timeout.
SERVICES = ("run", "serve")


def run_cli(args: list[str], cwd: Path, env: dict[str, str | None]) -> tuple[int, str, str]:
    """Exit code, standard output and standard error of ``dispatcher ARGS``; ``env``
    adds variables (a None value removes one)."""
    if args[0] in SERVICES:
        child_env = {k: v for k, v in os.environ.items() if k not in env}
        child_env.update({k: v for k, v in env.items() if v is not None})
        result = subprocess.run(
            [sys.executable, "-c", "from dispatcher.cli.main import main; main()", *args],
            capture_output=True, text=True, cwd=cwd, timeout=120, env=child_env)
        return result.returncode, result.stdout, result.stderr
    outcome = CliRunner().invoke(app, args, env=env)
    assert outcome.exception is None or isinstance(outcome.exception, SystemExit), \
        repr(outcome.exception)
    return outcome.exit_code, outcome.stdout, outcome.stderr
