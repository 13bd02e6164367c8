"""A database that cannot be opened: one clear line, exit 1 or 2, never the password.

Every command that opens the database is run against a PostgreSQL URL (with a
password) to a closed port on 127.0.0.1, and against a SQLite path that cannot be
created (its folder is a file).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .cli_run import run_cli
from .shop import Shop
from .support.ports import free_port

SECRET = "s3cr3t-Pa55word"

COMMANDS: list[list[str]] = [
    ["init-db"],
    ["plan", "hello"],
    ["run-once", "hello"],
    ["preview", "hello", "--customer", "c1"],
    ["test-send", "hello", "--customer", "c1", "--to", "me@example.com"],
    ["import", "customers", "{shop}/customers.csv"],
    ["import-bounces", "{shop}/bounces.csv"],
    ["forget", "c1", "--yes"],
    ["consent", "c1"],
    ["status"],
    ["pause", "hello"],
    ["resume", "hello"],
    ["report", "hello"],
    ["metrics"],
    ["promo", "export"],
    ["promo", "report"],
    ["run", "--no-http"],
    ["serve", "--port", "{port}"],
    ["demo", "--customers", "5"],
]


@pytest.fixture
def folder(shop: Shop) -> Shop:
    shop.write_config("email: {}\n", "everyone:\n  id: {is_null: false}\n",
                      "hello:\n  segment: everyone\n  channels: [email]\n"
                      "  template: win_back\n")
    shop.copy_templates("win_back")
    shop.csv("customers.csv", [{"id": "c1", "email": "olena@example.com"}])
    (shop.folder / "bounces.csv").write_text("email,type\nolena@example.com,hard\n",
                                             encoding="utf-8")
    (shop.folder / "not-a-folder").write_text("a file where a folder should be\n")
    return shop


def _urls(folder: Path) -> dict[str, tuple[str, str]]:
    """kind -> (URL, what the message must name)."""
    port = free_port()  # nothing listens there
    return {
        "postgres": (f"postgresql+psycopg://shop:{SECRET}@127.0.0.1:{port}/shop",
                     f"127.0.0.1:{port}"),
        "sqlite": (f"sqlite:///{folder}/not-a-folder/shop.db", "not-a-folder/shop.db"),
    }


@pytest.mark.parametrize("kind", ["postgres", "sqlite"])
@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c[:2]) for c in COMMANDS])
def test_an_unreachable_database_is_one_line_without_the_password(
        folder: Shop, command: list[str], kind: str) -> None:
    url, where = _urls(folder.folder)[kind]
    if command[0] == "demo" and kind == "postgres":
        pytest.skip("demo refuses PostgreSQL before opening it (tested elsewhere)")
    args = [a.replace("{shop}", str(folder.folder)).replace("{port}", str(free_port()))
            for a in command]
    code, stdout, stderr = run_cli([*args, "--config", str(folder.config_path)],
                                   folder.folder, {"DISPATCHER_DATABASE_URL": url,
                                                   "DISPATCHER_SECRET": "x" * 32})
    assert code in (1, 2), (code, stdout, stderr)
    assert "Traceback" not in stdout + stderr
    assert SECRET not in stdout + stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "cannot open the database" in lines[0] and where in lines[0], lines[0]
    assert not (folder.folder / "not-a-folder").is_dir()
