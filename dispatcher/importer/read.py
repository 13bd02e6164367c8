"""Read CSV or JSONL rows with their line numbers, without loading the file into memory."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ATTRIBUTE_PREFIX = "attr."


class ReadError(Exception):
    def __init__(self, line: int, message: str) -> None:
        self.line = line
        self.message = message
        super().__init__(f"line {line}: {message}")


def detect_format(path: Path, explicit: str | None = None) -> str:
    if explicit:
        return explicit
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    return "csv"


def read_rows(path: Path, fmt: str) -> Iterator[tuple[int, dict[str, Any] | ReadError]]:
    """Yield (line number, row or the reason it can't be read)."""
    if fmt == "jsonl":
        with open(path, encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield number, ReadError(number, f"invalid JSON: {exc.msg}")
                    continue
                if not isinstance(value, dict):
                    yield number, ReadError(number, "each line must be a JSON object")
                    continue
                yield number, value
        return
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        start = reader.line_num + 1
        for row in reader:
            number = start
            start = reader.line_num + 1
            if None in row:
                yield number, ReadError(number, f"more values than the {len(header)} columns")
                continue
            if any(value is None for value in row.values()):
                yield number, ReadError(number, f"fewer values than the {len(header)} columns")
                continue
            yield number, fold_attributes(row)


def fold_attributes(row: dict[str, Any]) -> dict[str, Any]:
    """``attr.tier`` columns become ``attributes: {tier: ...}`` (CSV has no nesting)."""
    attributes = {k[len(ATTRIBUTE_PREFIX):]: v for k, v in row.items()
                  if k.startswith(ATTRIBUTE_PREFIX) and v != ""}
    plain = {k: v for k, v in row.items() if not k.startswith(ATTRIBUTE_PREFIX)}
    if attributes:
        plain["attributes"] = {**attributes, **(plain.get("attributes") or {})} \
            if isinstance(plain.get("attributes"), dict) else attributes
    return plain
