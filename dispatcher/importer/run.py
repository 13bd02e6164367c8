"""Import a file: validate every row first, then write all of it in one transaction.

All-or-nothing by default: if any row is bad, nothing is written and every bad
row is reported with its line and field. With ``skip_bad`` the good rows are
written and the bad ones go to a reject file (the original row plus the error).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, select

from ..store.db import utcnow
from ..store.schema import customers
from .read import ReadError, detect_format, read_rows
from .rows import ROW_MODELS
from .write import WRITERS

CHUNK = 2000


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.field}: " if self.field else ""
        return f"{self.line}: {where}{self.message}"  # printed after "path:"


@dataclass
class ImportReport:
    kind: str
    path: Path
    rows: int = 0
    written: int = 0
    errors: list[RowError] = field(default_factory=list)
    rejects_path: Path | None = None

    @property
    def ok(self) -> bool:
        return self.written > 0 or not self.errors


def _validated(kind: str, path: Path, fmt: str) -> Iterator[tuple[int, Any, dict[str, Any] | None,
                                                                    list[RowError]]]:
    model = ROW_MODELS[kind]
    for line, raw in read_rows(path, fmt):
        if isinstance(raw, ReadError):
            yield line, None, None, [RowError(line, "", raw.message)]
            continue
        try:
            yield line, model.model_validate(raw), raw, []
        except ValidationError as exc:
            errors = []
            for err in exc.errors():
                name = ".".join(str(p) for p in err["loc"]) or "row"
                message = err["msg"].removeprefix("Value error, ")
                if err["type"] == "extra_forbidden":
                    message = "unknown column"
                elif err["type"] == "missing":
                    message = "required"
                errors.append(RowError(line, name, message))
            yield line, None, raw, errors


def _missing_customers(engine: Engine, ids: set[str]) -> set[str]:
    found: set[str] = set()
    wanted = list(ids)
    with engine.connect() as conn:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            found.update(conn.execute(select(customers.c.id).where(customers.c.id.in_(chunk)))
                         .scalars())
    return ids - found


def import_file(engine: Engine, kind: str, path: Path, *, fmt: str | None = None,
                skip_bad: bool = False, rejects: Path | None = None,
                progress: Callable[[int], None] | None = None) -> ImportReport:
    if kind not in ROW_MODELS:
        raise ValueError(f"unknown import kind {kind!r} (use: {', '.join(ROW_MODELS)})")
    fmt = detect_format(path, fmt)
    report = ImportReport(kind, path)
    bad_lines: set[int] = set()
    rejected: list[tuple[int, dict[str, Any] | None, list[RowError]]] = []

    # Pass 1: validate every row, and check that referenced customers exist (set-based).
    pending_refs: dict[str, list[int]] = {}

    def check_refs() -> None:
        for missing in _missing_customers(engine, set(pending_refs)):
            for line in pending_refs[missing]:
                error = RowError(line, "customer_id", f"unknown customer {missing!r}")
                report.errors.append(error)
                bad_lines.add(line)
                rejected.append((line, None, [error]))
        pending_refs.clear()

    seen_ids: set[str] = set()
    for line, row, raw, errors in _validated(kind, path, fmt):
        report.rows += 1
        if errors:
            report.errors.extend(errors)
            bad_lines.add(line)
            rejected.append((line, raw, errors))
        elif kind in ("orders", "carts"):
            cid = row.customer_id
            if cid not in seen_ids:
                pending_refs.setdefault(cid, []).append(line)
            if len(pending_refs) >= CHUNK:
                check_refs()
        if kind == "customers" and row is not None:
            seen_ids.add(row.id)
    check_refs()
    if report.errors and not skip_bad:
        return report

    # Pass 2: write the good rows, all in one transaction.
    now = utcnow()
    writer = WRITERS[kind]
    with engine.begin() as conn:
        chunk: list[Any] = []
        for line, row, _raw, errors in _validated(kind, path, fmt):
            if errors or line in bad_lines:
                continue
            chunk.append(row)
            if len(chunk) >= CHUNK:
                writer(conn, _last_wins(chunk), now)
                report.written += len(chunk)
                if progress:
                    progress(len(chunk))
                chunk = []
        if chunk:
            writer(conn, _last_wins(chunk), now)
            report.written += len(chunk)
            if progress:
                progress(len(chunk))
    if rejected and rejects is not None:
        _write_rejects(rejects, rejected)
        report.rejects_path = rejects
    return report


def _last_wins(rows: list[Any]) -> list[Any]:
    """Within one chunk a repeated id keeps its last row (an upsert can't touch a row twice)."""
    by_id = {row.id: row for row in rows}
    return list(by_id.values())


def _write_rejects(path: Path, rejected: list[tuple[int, dict[str, Any] | None,
                                                    list[RowError]]]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for line, raw, errors in sorted(rejected, key=lambda r: r[0]):
            fh.write(json.dumps({"line": line, "row": raw,
                                 "errors": [{"field": e.field, "message": e.message}
                                            for e in errors]},
                                ensure_ascii=False, default=str) + "\n")
