"""Read CSV or JSONL rows with their line numbers, without loading the file into memory.

Real shop exports come from Excel as often as from a database: the separator may be
``,`` ``;`` or a tab, and the encoding UTF-8 (with or without a byte order mark),
UTF-16 ("Unicode text") or Windows-1251. Both are detected (see :func:`detect_text`)
unless given. A problem with one row is a :class:`ReadError` for that line; a problem
that makes the rest of the file unreadable is a :class:`FileError` (nothing imported).
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from dispatcher.importer.limits import FIELD_LIMIT, LINE_LIMIT, JsonTooDeep, check_depth, size_text

ATTRIBUTE_PREFIX = "attr."
DELIMITERS = {",": ",", ";": ";", "tab": "\t", "\t": "\t", "|": "|"}
FALLBACK_ENCODING = "cp1251"  # what Excel writes on a Ukrainian or Russian Windows
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))
_CHUNK = 1 << 20
# UTF-8 characters read before the first invalid byte that make the file UTF-8 with a
# broken byte rather than Windows-1251 (whose letters almost never form valid UTF-8).
_UTF8_EVIDENCE = 16


class ReadError(Exception):
    def __init__(self, line: int, message: str) -> None:
        self.line = line
        self.message = message
        super().__init__(f"line {line}: {message}")


class FileError(Exception):
    """The file cannot be imported at all: empty, undecodable, an unreadable header."""

    def __init__(self, line: int | None, message: str) -> None:
        self.line = line
        self.message = message
        super().__init__(f"{line}: {message}" if line else message)


@dataclass(frozen=True)
class TextFormat:
    encoding: str
    delimiter: str = ","
    guessed: bool = False  # the encoding is the Windows-1251 fallback, not a certainty

    @property
    def encoding_name(self) -> str:
        name = codecs.lookup(self.encoding).name
        return name.replace("cp125", "windows-125") if name.startswith("cp125") else name


def detect_format(path: Path, explicit: str | None = None) -> str:
    if explicit:
        return explicit
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    return "csv"


def detect_text(path: Path, fmt: str, encoding: str | None = None,
                delimiter: str | None = None) -> TextFormat:
    """The encoding and (for CSV) the separator of ``path``, given or detected.

    Encoding: a byte order mark decides; else the whole file is tried as strict UTF-8
    (streamed); else Windows-1251. A file that is mostly valid UTF-8 with a broken byte
    is an error at its line, not a reason to read every name as Windows-1251.
    Separator: the most frequent of ``,`` ``;`` and tab in the header line.
    """
    if path.stat().st_size == 0:
        raise FileError(None, "the file is empty (0 bytes)")
    guessed = False
    if encoding is None:
        encoding, guessed = _detect_encoding(path)
    else:
        if codecs.lookup(encoding).name == "utf-8" and _starts_with(path, codecs.BOM_UTF8):
            encoding = "utf-8-sig"  # the mark is no part of the first column's name
        _check_decodes(path, encoding)
    if fmt != "csv":
        return TextFormat(encoding, ",", guessed)
    if delimiter is None:
        with open(path, encoding=encoding, newline="") as fh:
            header = fh.readline(FIELD_LIMIT)
        delimiter = sniff_delimiter(header)
    return TextFormat(encoding, DELIMITERS.get(delimiter, delimiter), guessed)


def sniff_delimiter(header: str) -> str:
    counts = {d: _count_outside_quotes(header, d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _count_outside_quotes(line: str, delimiter: str) -> int:
    count, quoted = 0, False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif ch == delimiter and not quoted:
            count += 1
    return count


def _starts_with(path: Path, prefix: bytes) -> bool:
    with open(path, "rb") as fh:
        return fh.read(len(prefix)) == prefix


def _detect_encoding(path: Path) -> tuple[str, bool]:
    for bom, name in _BOMS:
        if _starts_with(path, bom):
            _check_decodes(path, name)
            return name, False
    bad = _first_undecodable(path, "utf-8")
    if bad is None:
        return "utf-8", False
    line, byte, evidence = bad
    if evidence >= _UTF8_EVIDENCE:
        raise FileError(line, f"not valid utf-8 (byte 0x{byte:02x}); the file is mostly "
                              "UTF-8: fix that line, or pass --encoding if it is another "
                              "encoding")
    _check_decodes(path, FALLBACK_ENCODING)  # its one undefined byte, 0x98
    return FALLBACK_ENCODING, True


def _check_decodes(path: Path, encoding: str) -> None:
    bad = _first_undecodable(path, encoding)
    if bad is not None:
        line, byte, _ = bad
        name = codecs.lookup(encoding).name
        raise FileError(line, f"not valid {name} (byte 0x{byte:02x}); pass the file's "
                              "encoding with --encoding")


def _first_undecodable(path: Path, encoding: str) -> tuple[int, int, int] | None:
    """(line, byte, non-ASCII characters decoded before it) of the first byte that
    ``encoding`` cannot decode, or None. Streams the file in 1 MiB chunks."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    line, evidence = 1, 0
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(_CHUNK)
            final = not chunk
            try:
                text = decoder.decode(chunk, final)
            except UnicodeDecodeError as exc:
                good = exc.object[:exc.start].decode(encoding, "replace")
                line += good.count("\n")
                evidence += _non_ascii(good)
                return line, exc.object[exc.start], evidence
            line += text.count("\n")
            if evidence < _UTF8_EVIDENCE:
                evidence += _non_ascii(text)
            if final:
                return None


def _non_ascii(text: str) -> int:
    """At least one per non-ASCII character (bytes beyond one each in UTF-8; C speed)."""
    return 0 if text.isascii() else len(text.encode("utf-8", "surrogatepass")) - len(text)


def read_rows(path: Path, fmt: str, text: TextFormat | None = None,
              ) -> Iterator[tuple[int, dict[str, Any] | ReadError]]:
    """Yield (line number, row or the reason it can't be read); FileError when the rest
    of the file cannot be read."""
    text = text or detect_text(path, fmt)
    with open(path, encoding=text.encoding, newline="" if fmt == "csv" else None) as fh:
        if fmt == "jsonl":
            yield from _jsonl_rows(fh)
        else:
            yield from _csv_rows(fh, text.delimiter)


def read_header(path: Path, text: TextFormat) -> list[str]:
    """The CSV header's column names (FileError when there is none)."""
    with open(path, encoding=text.encoding, newline="") as fh:
        reader = csv.reader(fh, delimiter=text.delimiter)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise FileError(1, _csv_problem(exc)) from None
    if not header or not any(name.strip() for name in header):
        raise FileError(1, "no header row (the first line names the columns)")
    return [name.strip() for name in header]


def _jsonl_rows(fh: IO[str]) -> Iterator[tuple[int, dict[str, Any] | ReadError]]:
    number = 0
    while True:
        line = fh.readline(LINE_LIMIT + 1)
        if not line:
            return
        number += 1
        if len(line) > LINE_LIMIT and not line.endswith("\n"):
            while (rest := fh.readline(LINE_LIMIT)) and not rest.endswith("\n"):
                pass  # skip the rest of the over-long line, a bounded piece at a time
            yield number, ReadError(number, f"the line is longer than {size_text(LINE_LIMIT)}")
            continue
        if not line.strip():
            continue
        try:
            value = json.loads(line)
            check_depth(value)
        except json.JSONDecodeError as exc:
            yield number, ReadError(number, f"invalid JSON: {exc.msg} (column {exc.colno})")
            continue
        except (RecursionError, JsonTooDeep):
            yield number, ReadError(number, "invalid JSON: nested too deeply")
            continue
        if not isinstance(value, dict):
            yield number, ReadError(number, "each line must be a JSON object")
            continue
        yield number, value


def _csv_rows(fh: IO[str], delimiter: str) -> Iterator[tuple[int, dict[str, Any] | ReadError]]:
    reader = csv.reader(fh, delimiter=delimiter)
    try:
        header = [name.strip() for name in next(reader, [])]
        start = reader.line_num + 1
        for values in reader:
            number = start
            start = reader.line_num + 1
            if not any(v.strip() for v in values):
                continue  # a blank line (Excel leaves them at the end)
            if len(values) > len(header) and not any(v.strip() for v in
                                                     values[len(header):]):
                values = values[:len(header)]  # trailing separators
            if len(values) > len(header):
                yield number, ReadError(number, f"more values than the {len(header)} columns")
                continue
            if len(values) < len(header):
                yield number, ReadError(number, f"fewer values than the {len(header)} columns")
                continue
            row = {name: value for name, value in zip(header, values, strict=True)
                   if name or value.strip()}
            yield number, fold_attributes(row)
    except csv.Error as exc:
        # The csv module cannot go on after this (e.g. a field over the size limit).
        raise FileError(reader.line_num, _csv_problem(exc)) from None


def _csv_problem(exc: csv.Error) -> str:
    if "field larger than field limit" in str(exc):
        return f"a value is longer than {size_text(FIELD_LIMIT)}"
    return f"unreadable CSV: {exc}"


def fold_attributes(row: dict[str, Any]) -> dict[str, Any]:
    """``attr.tier`` columns become ``attributes: {tier: ...}`` (CSV has no nesting)."""
    attributes = {k[len(ATTRIBUTE_PREFIX):]: v for k, v in row.items()
                  if k.startswith(ATTRIBUTE_PREFIX) and v != ""}
    plain = {k: v for k, v in row.items() if not k.startswith(ATTRIBUTE_PREFIX)}
    if attributes:
        plain["attributes"] = {**attributes, **(plain.get("attributes") or {})} \
            if isinstance(plain.get("attributes"), dict) else attributes
    return plain
