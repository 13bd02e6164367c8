"""Date arithmetic the two dialects spell differently."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Date
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement


class within_after(FunctionElement[bool]):
    """``anchor < moment <= anchor + seconds``."""

    type = Boolean()
    inherit_cache = True


@compiles(within_after, "sqlite")
def _within_sqlite(element: within_after, compiler: Any, **kw: Any) -> str:
    moment, anchor, seconds = (compiler.process(c, **kw) for c in element.clauses)
    # julianday() compares instants whatever the text format's precision.
    return (f"(julianday({moment}) > julianday({anchor}) AND "
            f"julianday({moment}) <= julianday({anchor}) + ({seconds}) / 86400.0)")


@compiles(within_after)
def _within_default(element: within_after, compiler: Any, **kw: Any) -> str:
    moment, anchor, seconds = (compiler.process(c, **kw) for c in element.clauses)
    return (f"({moment} > {anchor} AND "
            f"{moment} <= {anchor} + ({seconds}) * INTERVAL '1 second')")


class not_after(FunctionElement[bool]):
    """``moment <= limit`` as instants (SQLite compares the text otherwise)."""

    type = Boolean()
    inherit_cache = True


@compiles(not_after, "sqlite")
def _not_after_sqlite(element: not_after, compiler: Any, **kw: Any) -> str:
    moment, limit = (compiler.process(c, **kw) for c in element.clauses)
    return f"(julianday({moment}) <= julianday({limit}))"


@compiles(not_after)
def _not_after_default(element: not_after, compiler: Any, **kw: Any) -> str:
    moment, limit = (compiler.process(c, **kw) for c in element.clauses)
    return f"({moment} <= {limit})"


class day_of(FunctionElement[Any]):
    """The calendar day (UTC) of a timestamp."""

    type = Date()
    inherit_cache = True


@compiles(day_of, "sqlite")
def _day_sqlite(element: day_of, compiler: Any, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)})"


@compiles(day_of)
def _day_default(element: day_of, compiler: Any, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS DATE)"


class at_most_after(FunctionElement[bool]):
    """``moment <= anchor + seconds`` (NULL when either is NULL)."""

    type = Boolean()
    inherit_cache = True


@compiles(at_most_after, "sqlite")
def _at_most_sqlite(element: at_most_after, compiler: Any, **kw: Any) -> str:
    moment, anchor, seconds = (compiler.process(c, **kw) for c in element.clauses)
    return f"(julianday({moment}) <= julianday({anchor}) + ({seconds}) / 86400.0)"


@compiles(at_most_after)
def _at_most_default(element: at_most_after, compiler: Any, **kw: Any) -> str:
    moment, anchor, seconds = (compiler.process(c, **kw) for c in element.clauses)
    return f"({moment} <= {anchor} + ({seconds}) * INTERVAL '1 second')"
