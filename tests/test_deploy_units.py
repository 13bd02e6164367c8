"""The shipped systemd units run commands that exist, the way the daemon expects."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from dispatcher.cli.main import app

from .shop import Shop

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def directives(name: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in (DEPLOY / name).read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_daemon_unit_is_notify_restarting_reloadable_and_hardened() -> None:
    unit = directives("dispatcher.service")
    assert unit["Type"] == ["notify"]
    assert unit["Restart"] == ["on-failure"]
    assert unit["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert unit["KillSignal"] == ["SIGTERM"]
    for option in ("NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp",
                   "RestrictAddressFamilies", "SystemCallFilter", "CapabilityBoundingSet"):
        assert option in unit, option


def test_nightly_timer_starts_the_one_shot() -> None:
    timer = directives("dispatcher-nightly.timer")
    assert timer["OnCalendar"] and timer["Persistent"] == ["yes"]
    service = directives("dispatcher-nightly.service")
    assert service["Type"] == ["oneshot"]


@pytest.mark.parametrize("unit", ["dispatcher.service", "dispatcher-nightly.service",
                                  "dispatcher-web.service"])
def test_exec_lines_are_real_commands(unit: str, shop: Shop) -> None:
    for key in ("ExecStartPre", "ExecStart"):
        for line in directives(unit).get(key, []):
            argv = shlex.split(line)
            assert argv[0].endswith("/dispatcher")
            # The same arguments are accepted by the CLI (--help stops before doing anything).
            result = shop.runner.invoke(app, [*argv[1:], "--help"])
            assert result.exit_code == 0, (line, result.output)
