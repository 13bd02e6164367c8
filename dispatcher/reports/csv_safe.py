"""CSV cells a spreadsheet will not run.

Excel, LibreOffice and Google Sheets evaluate a cell that starts with ``=``, ``+``,
``-`` or ``@`` (and, through their import, a leading tab or carriage return) as a
formula: ``=HYPERLINK(...)`` in a customer id becomes a link, worse formulas reach
other programs. Every CSV the dispatcher writes passes text through
:func:`neutral_cell`, which prefixes such a cell with ``'`` (OWASP's advice); the
shop's tools see the text as it was, after a leading quote. Numbers stay numbers:
only text is changed, so ``-0.05`` written from a float is not touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutral_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def neutral_rows(rows: Iterable[Iterable[Any]]) -> Iterator[tuple[Any, ...]]:
    for row in rows:
        yield tuple(neutral_cell(value) for value in row)


def neutral_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    return {key: neutral_cell(value) for key, value in row.items()}
