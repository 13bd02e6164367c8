"""Every command, given a bad value for each of its options, exits 2 with one clear line.

The test walks the typer app, so a new option without an entry in BAD_VALUES fails
here until someone decides what a bad value for it is and checks it exits cleanly.
Each case runs as a real process (``dispatcher ...``), and must leave the database
and the outbox folder as they were.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from contextlib import closing

import pytest
import typer.main

from dispatcher.cli.main import app

from .cli_run import run_cli
from .shop import Shop

SEGMENTS = "everyone:\n  id: {is_null: false}\n"
CAMPAIGNS = """
hello:
  segment: everyone
  channels: [email, telegram]
  template: win_back
  schedule: "0 11 * * *"
"""

# The valid arguments each command runs with; one bad value is added per case.
VALID: dict[str, list[str]] = {
    "validate": [], "init-db": [], "status": [], "vapid-keys": [], "promo report": [],
    "plan": ["hello"],
    "run-once": ["hello"],
    "preview": ["hello", "--customer", "c1"],
    "test-send": ["hello", "--customer", "c1", "--to", "me@example.com"],
    "import": ["customers", "{shop}/customers.csv"],
    "demo": [],
    "forget": ["c1"],
    "import-bounces": ["{shop}/bounces.csv"],
    "consent": ["c1"],
    "run": [],
    "serve": [],
    "pause": ["hello"],
    "resume": ["hello"],
    "report": ["hello"],
    "metrics": [],
    "push-token": ["c1"],
    "promo export": [],
}

# option -> a bad value (a command's own entry wins over the shared one).
BAD_VALUES: dict[str, str] = {
    "--config": "{shop}/no-such-config.yaml",
    "--at": "yesterday",
    "--wait-retries": "-5",
    "--channel": "fax",
    "--to": "nobody",
    "--rejects": "/nonexistent-folder/rejects.jsonl",
    "--format": "xml",
    "--delimiter": "ab",
    "--encoding": "klingon-8",
    "--customers": "0",
    "--seed": "seven",
    "--host": "not a host!",
    "--port": "70000",
    "--reason": "\x1b[2Jgone",
    "--output": "/nonexistent-folder/out.csv",
    "--from": "last tuesday",
    "--to@metrics": "2026-02-30",
    "--segment": "no_such_segment",
    "--active": "forever",
    "--campaign": "no_such_campaign",
    "--mde": "lots",
    "--render-limit": "none",
}

# Values that are refused as data, not as usage: exit 1 as the README documents.
DATA_ERRORS: dict[str, tuple[str, int]] = {
    "--customer": ("ghost", 1),  # unknown customer for preview / test-send
}

BAD_ARGUMENTS: dict[str, str | None] = {
    "campaign": "no_such_campaign",
    "campaigns": "no_such_campaign",
    "kind": "wishlists",
    "file": "{shop}/missing.csv",
    "customer": None,  # any text may be a customer id; unknown ones are data, below
}


def _commands() -> Iterator[tuple[str, object]]:
    def walk(command: object, path: list[str]) -> Iterator[tuple[str, object]]:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                yield from walk(sub, [*path, name])
        else:
            yield " ".join(path), command

    yield from walk(typer.main.get_command(app), [])


def _cases() -> Iterator[tuple[str, str, str, int]]:
    for path, command in _commands():
        for param in command.params:  # type: ignore[attr-defined]
            if param.name == "help" or getattr(param, "is_flag", False):
                continue
            if param.param_type_name == "argument":
                value = BAD_ARGUMENTS.get(param.name, "MISSING")
                assert value != "MISSING", f"{path}: add a bad value for argument {param.name}"
                if value is not None:
                    yield path, param.name, value, 2
                continue
            option = max(param.opts, key=len)
            if option in DATA_ERRORS:
                value, code = DATA_ERRORS[option]
                yield path, option, value, code
                continue
            value = BAD_VALUES.get(f"{option}@{path}") or BAD_VALUES.get(option, "MISSING")
            assert value != "MISSING", f"{path}: add a bad value for {option} to BAD_VALUES"
            yield path, option, value, 2


CASES = list(_cases())


def _build(shop: Shop) -> Shop:
    shop.write_config("email: {}\ntelegram: {}\n", SEGMENTS, CAMPAIGNS)
    shop.copy_templates("win_back")
    shop.csv("customers.csv", [{"id": "c1", "name": "Olena", "email": "olena@example.com",
                                "email_consent": "yes"}])
    (shop.folder / "bounces.csv").write_text("email,type\nolena@example.com,soft\n",
                                             encoding="utf-8")
    shop.cli("import", "customers", str(shop.folder / "customers.csv"))
    return shop


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    return _build(Shop(tmp_path_factory.mktemp("bad-options")))


def _state(shop: Shop) -> tuple[str, list[str]]:
    with closing(sqlite3.connect(shop.folder / "shop.db")) as con:
        dump = "\n".join(con.iterdump())
    files = sorted(str(p.relative_to(shop.folder)) for p in shop.folder.rglob("*")
                   if "outbox" in p.parts)
    return hashlib.sha256(dump.encode()).hexdigest(), files


def _args(path: str, name: str, value: str, shop: Shop) -> list[str]:
    args = [a.replace("{shop}", str(shop.folder)) for a in VALID[path]]
    value = value.replace("{shop}", str(shop.folder))
    if not name.startswith("-"):  # an argument: replace the valid one at its place
        position = [p.name for p in dict(_commands())[path].params  # type: ignore[attr-defined]
                    if p.param_type_name == "argument"].index(name)
        args[position] = value
    elif name in args:
        args[args.index(name) + 1] = value
    else:
        args += [name, value]
    if name != "--config" and path not in ("vapid-keys", "push-token"):
        args += ["--config", str(shop.config_path)]
    return [*path.split(), *args]


def test_every_command_and_option_is_covered() -> None:
    assert {path for path, _ in _commands()} == set(VALID)
    assert len(CASES) >= 30


@pytest.mark.parametrize(("path", "name", "value", "code"), CASES,
                         ids=[f"{c[0]} {c[1]}" for c in CASES])
def test_a_bad_value_exits_cleanly_with_one_line(built: Shop, path: str, name: str,
                                                 value: str, code: int) -> None:
    before = _state(built)
    args = _args(path, name, value, built)
    code_seen, stdout, stderr = run_cli(args, built.folder, {
        "DISPATCHER_SECRET": "s" * 32, "DISPATCHER_DATABASE_URL": None,
        "DISPATCHER_CONFIG": None})
    assert code_seen == code, (args, stdout, stderr)
    assert "Traceback" not in stderr + stdout
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2, stderr  # the error (and a config error's summary)
    shown = value.replace("{shop}/", "").replace("\x1b", "\\x1b")
    assert shown in stderr or name in stderr, (shown, stderr)
    assert "\x1b" not in stderr
    assert _state(built) == before
