"""Import a file: validate every row first, then write all of it in one transaction.

All-or-nothing by default: if any row is bad, nothing is written and every bad
row is reported with its line and field, quoting the bad value. A file that cannot
be read as a whole (empty, undecodable, unknown columns) raises FileError. An id
that comes twice is an error naming both lines, unless ``last_wins``. With
``skip_bad`` the good rows are written and the bad ones go to a reject file (the
original row plus the error).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, select

from dispatcher.clock import utcnow
from dispatcher.importer.limits import quote
from dispatcher.importer.read import (
    ATTRIBUTE_PREFIX,
    FileError,
    ReadError,
    TextFormat,
    detect_format,
    detect_text,
    read_header,
    read_rows,
)
from dispatcher.importer.rows import ROW_MODELS
from dispatcher.importer.write import TOUCHED, WRITERS
from dispatcher.store.schema import customers
from dispatcher.store.stats import refresh_statistics

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
    written: int = 0  # rows stored: one per id
    errors: list[RowError] = field(default_factory=list)
    rejects_path: Path | None = None
    text: TextFormat | None = None  # how the file was read
    repeated: int = 0  # rows whose id came again later (--last-wins kept the last)

    @property
    def ok(self) -> bool:
        return self.written > 0 or not self.errors


def check_columns(kind: str, header: list[str]) -> None:
    """The CSV header against the row model: each unknown column once, with a hint."""
    fields = ROW_MODELS[kind].model_fields
    attributes = kind == "customers"
    named = [name for name in header if name]
    twice = sorted({name for name in named if named.count(name) > 1})
    if twice:
        raise FileError(1, f"column {twice[0]!r} appears more than once")
    unknown = [name for name in named if name not in fields and not (
        attributes and name.startswith(ATTRIBUTE_PREFIX) and len(name) > len(ATTRIBUTE_PREFIX))]
    if unknown:
        listed = ", ".join(repr(name) for name in unknown)
        hint = (f"a custom attribute is a column named {ATTRIBUTE_PREFIX}<name>, e.g. "
                f"{ATTRIBUTE_PREFIX}{unknown[0]}; " if attributes else "")
        raise FileError(1, f"unknown column{'s' if len(unknown) > 1 else ''} {listed} "
                           f"({hint}known: {', '.join(fields)})")
    missing = [name for name, info in fields.items() if info.is_required() and name not in named]
    if missing:
        raise FileError(1, f"missing column{'s' if len(missing) > 1 else ''} "
                           f"{', '.join(repr(name) for name in missing)}")


def _message(err: Any) -> str:
    """Pydantic's error as a person reads it, quoting the bad value."""
    kind, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "unknown field (custom attributes go under \"attributes\")"
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    if kind.startswith("datetime"):
        return f"{quote(value)} is not a date and time (ISO 8601, e.g. 2026-05-01T09:30:00Z)"
    if kind.startswith("date"):
        return f"{quote(value)} is not a date (YYYY-MM-DD)"
    if kind in ("decimal_parsing", "decimal_type", "float_parsing", "float_type",
                "int_parsing", "int_type", "finite_number"):
        return f"{quote(value)} is not a number"
    if kind.startswith("decimal_"):
        return f"{quote(value)} has too many digits ({err['msg'].lower()})"
    if kind == "greater_than_equal":
        return f"{quote(value)} must be at least {ctx.get('ge')}"
    if kind == "string_too_long":
        return f"{quote(value)} is longer than {ctx.get('max_length')} characters"
    if kind == "string_too_short":
        if ctx.get("min_length") == 1:
            return "must not be empty"
        return f"{quote(value)} is shorter than {ctx.get('min_length')} characters"
    if kind in ("list_type", "dict_type"):
        return f"{quote(value)} is not a JSON {'list' if kind == 'list_type' else 'object'}"
    return f"{quote(value)}: {err['msg']}"


def _validated(kind: str, path: Path, fmt: str, text: TextFormat,
               ) -> Iterator[tuple[int, Any, dict[str, Any] | None, list[RowError]]]:
    model = ROW_MODELS[kind]
    for line, raw in read_rows(path, fmt, text):
        if isinstance(raw, ReadError):
            yield line, None, None, [RowError(line, "", raw.message)]
            continue
        try:
            yield line, model.model_validate(raw), raw, []
        except ValidationError as exc:
            errors = [RowError(line, ".".join(str(p) for p in err["loc"]) or "row",
                               _message(err)) for err in exc.errors()]
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
                progress: Callable[[int], None] | None = None, encoding: str | None = None,
                delimiter: str | None = None, last_wins: bool = False) -> ImportReport:
    """Import ``path``; FileError (nothing written) when the file as a whole is unusable."""
    if kind not in ROW_MODELS:
        raise ValueError(f"unknown import kind {kind!r} (use: {', '.join(ROW_MODELS)})")
    fmt = detect_format(path, fmt)
    text = detect_text(path, fmt, encoding, delimiter)
    if fmt == "csv":
        check_columns(kind, read_header(path, text))
    report = ImportReport(kind, path, text=text)
    bad_lines: set[int] = set()
    rejected: list[tuple[int, dict[str, Any] | None, list[RowError]]] = []

    def reject(line: int, raw: dict[str, Any] | None, errors: list[RowError]) -> None:
        report.errors.extend(errors)
        bad_lines.add(line)
        rejected.append((line, raw, errors))

    # Pass 1: validate every row, find repeated ids, and check that referenced
    # customers exist (set-based, a chunk of ids at a time). ``first_line`` holds each
    # id once (about 120 bytes an id): pass 2 counts what it stores by it.
    first_line: dict[str, int] = {}
    pending_refs: dict[str, list[int]] = {}

    def check_refs() -> None:
        for missing in _missing_customers(engine, set(pending_refs)):
            for line in pending_refs[missing]:
                reject(line, None, [RowError(line, "customer_id",
                                             f"unknown customer {quote(missing)}")])
        pending_refs.clear()

    for line, row, raw, errors in _validated(kind, path, fmt, text):
        report.rows += 1
        if errors:
            reject(line, raw, errors)
            continue
        earlier = first_line.setdefault(row.id, line)
        if earlier != line:
            if not last_wins:
                reject(line, raw, [RowError(line, "id", f"{quote(row.id)} is already on line "
                                            f"{earlier} (--last-wins keeps the last row of "
                                            "each id)")])
                continue
            report.repeated += 1
        if kind in ("orders", "carts"):
            pending_refs.setdefault(row.customer_id, []).append(line)
            if len(pending_refs) >= CHUNK:
                check_refs()
    check_refs()
    if report.errors and not skip_bad:
        return report

    # Pass 2: write the good rows, all in one transaction.
    now = utcnow()
    writer = WRITERS[kind]
    with engine.begin() as conn:
        chunk: list[Any] = []
        for line, row, _raw, errors in _validated(kind, path, fmt, text):
            if errors or line in bad_lines:
                continue
            chunk.append(row)
            if first_line.pop(row.id, None) is not None:
                report.written += 1  # the id's first stored row; a repeat updates it
            if len(chunk) >= CHUNK:
                writer(conn, _last_wins(chunk), now)
                if progress:
                    progress(len(chunk))
                chunk = []
        if chunk:
            writer(conn, _last_wins(chunk), now)
            if progress:
                progress(len(chunk))
    # A plan right after an import must not run on a fresh table's guesses.
    refresh_statistics(engine, TOUCHED[kind])
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
