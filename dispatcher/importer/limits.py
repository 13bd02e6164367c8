"""Bounds on what one imported row may hold, so a hostile or broken file gets a
located error instead of exhausting memory, the recursion limit or a column's size."""

from __future__ import annotations

import csv
import re
from typing import Any

FIELD_LIMIT = csv.field_size_limit()  # one CSV value (the csv module's own bound)
LINE_LIMIT = 1 << 20  # one JSONL line
ROW_DEPTH_LIMIT = 32  # nesting of a JSONL line as a whole
JSON_DEPTH_LIMIT = 8  # nesting of a JSON field (attributes, cart items)
JSON_SIZE_LIMIT = 64 * 1024  # a JSON field, as text

# Control characters move the cursor or rewrite a terminal (ESC), end strings in C
# (NUL), or break a header line; none belongs in a name or an id. A tab or line break
# in a one-line field becomes a space (one_line); multi-line text fields keep them.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_LINES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class JsonTooDeep(ValueError):
    pass


def check_depth(value: Any, limit: int = ROW_DEPTH_LIMIT) -> None:
    """Raise JsonTooDeep when lists and objects nest deeper than ``limit`` (iterative:
    the check itself cannot hit the recursion limit)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            raise JsonTooDeep(f"nested too deeply (more than {limit} levels)")
        stack.extend((child, depth + 1) for child in children)


_LINE_BREAKS = re.compile(r"[ \t]*[\t\r\n]+[ \t]*")


def one_line(text: str) -> str:
    """Tabs and line breaks inside a one-line value become one space."""
    return _LINE_BREAKS.sub(" ", text) if ("\n" in text or "\r" in text or "\t" in text) \
        else text


def has_control(text: str, multiline: bool = False) -> bool:
    return bool((_CONTROL_BUT_LINES if multiline else _CONTROL).search(text))


def check_json(value: Any, depth_limit: int, size_limit: int) -> None:
    """One walk over a JSON field: nesting, size (about its length as JSON) and control
    characters in its keys and strings (tabs and line breaks allowed), each a ValueError."""
    size = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth > depth_limit:
                raise JsonTooDeep(f"nested too deeply (more than {depth_limit} levels)")
            stack.extend((key, depth) for key in item)
            stack.extend((child, depth + 1) for child in item.values())
            size += 2
        elif isinstance(item, list):
            if depth > depth_limit:
                raise JsonTooDeep(f"nested too deeply (more than {depth_limit} levels)")
            stack.extend((child, depth + 1) for child in item)
            size += 2
        elif isinstance(item, str):
            if has_control(item, multiline=True):
                raise ValueError(f"{quote(item)} contains a control character")
            size += len(item) + 3
        else:
            size += 8
        if size > size_limit:
            raise ValueError(f"longer than {size_text(size_limit)} as JSON")


def quote(value: Any, keep: int = 40) -> str:
    """The value as an error message shows it: quoted, escaped, shortened if long."""
    text = str(value)
    if len(text) <= keep:
        return repr(text)
    shown = repr(text[:keep])
    return f"{shown[:-1]}…{shown[-1]} ({len(text)} characters)"


def size_text(limit: int) -> str:
    return f"{limit // (1 << 20)} MiB" if limit >= 1 << 20 else f"{limit // 1024} KiB"
