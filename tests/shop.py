"""Build a throwaway shop: config.yaml, templates and data files in a temp folder."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from dispatcher.cli.main import app
from dispatcher.clock import Clock, current_clock, using_clock

ROOT = Path(__file__).resolve().parent.parent

BASE_CONFIG = """\
shop:
  name: Test Shop
  url: https://shop.test
  public_url: http://127.0.0.1:8080
database: sqlite:///shop.db
timezone: Europe/Kyiv
channels:
{channels}
segments:
{segments}
campaigns:
{campaigns}
"""


class Shop:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.runner = CliRunner()
        (folder / "templates").mkdir(exist_ok=True)

    @property
    def config_path(self) -> Path:
        return self.folder / "config.yaml"

    def write_config(self, channels: str, segments: str, campaigns: str) -> None:
        self.config_path.write_text(BASE_CONFIG.format(
            channels=_indent(channels), segments=_indent(segments),
            campaigns=_indent(campaigns)), encoding="utf-8")

    def template(self, relative: str, text: str) -> None:
        target = self.folder / "templates" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    def copy_templates(self, campaign: str) -> None:
        shutil.copytree(ROOT / "templates" / campaign, self.folder / "templates" / campaign,
                        dirs_exist_ok=True)

    def csv(self, name: str, rows: list[dict[str, Any]]) -> Path:
        path = self.folder / name
        columns: list[str] = []
        for row in rows:
            columns.extend(k for k in row if k not in columns)
        with open(path, "w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: row.get(k, "") for k in columns})
        return path

    def jsonl(self, name: str, rows: list[dict[str, Any]]) -> Path:
        path = self.folder / name
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                        encoding="utf-8")
        return path

    def cli(self, *args: str, expect: int | None = 0, clock: Clock | None = None) -> Any:
        """Run a command; ``clock`` pins the time it decides by (dispatcher/clock.py)."""
        with using_clock(clock or current_clock()):
            result = self.runner.invoke(app, [*args, "--config", str(self.config_path)],
                                        catch_exceptions=False)
        if expect is not None:
            assert result.exit_code == expect, (result.exit_code, result.output)
        return result

    def db_url(self) -> str:
        return f"sqlite:///{self.folder / 'shop.db'}"


def _indent(block: str) -> str:
    return "\n".join("  " + line if line.strip() else line
                     for line in block.strip("\n").splitlines())
