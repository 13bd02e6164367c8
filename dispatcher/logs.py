"""Structured logging: context fields (campaign, run, outbox id), never addresses.

An error line carries its cause on the line itself (``cause: OperationalError: ...``,
with the chain of causes); the traceback is added with ``-v`` (DEBUG), or always in
JSON lines, where it is one field.
"""

from __future__ import annotations

import json
import logging
import os
import sys

_CONTEXT = ("campaign", "run_id", "outbox_id", "customer_id", "channel", "failure", "reason")


def cause_of(exc: BaseException | None) -> str:
    """``Type: message`` of an exception and of what caused it, on one line."""
    parts: list[str] = []
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen and len(parts) < 4:
        seen.add(id(exc))
        orig = getattr(exc, "orig", None)
        if isinstance(orig, BaseException) and hasattr(exc, "statement"):
            # A database error: the driver's own message, without the SQL text and its
            # parameters (customer data) that SQLAlchemy's message would add.
            parts.append(f"{type(exc).__name__}: {_one_line(orig, type(orig).__name__)}")
            break
        parts.append(_one_line(exc, type(exc).__name__))
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return " <- ".join(parts)


def _one_line(exc: BaseException, name: str) -> str:
    text = " ".join(str(exc).split())
    return f"{name}: {text}"[:500] if text else name


class KeyValueFormatter(logging.Formatter):
    def __init__(self, tracebacks: bool = False) -> None:
        super().__init__()
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        fields = {k: getattr(record, k) for k in _CONTEXT if hasattr(record, k)}
        line = f"{self.formatTime(record)} {record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            line += f" (cause: {cause_of(record.exc_info[1])})"
        if fields:
            line += f" {json.dumps(fields, ensure_ascii=False, default=str)}"
        if self.tracebacks and record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line (DISPATCHER_LOG_FORMAT=json), for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record), "level": record.levelname,
                 "logger": record.name, "message": record.getMessage()}
        entry.update({k: getattr(record, k) for k in _CONTEXT if hasattr(record, k)})
        if record.exc_info:
            entry["cause"] = cause_of(record.exc_info[1])
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    json_lines = os.environ.get("DISPATCHER_LOG_FORMAT", "").lower() == "json"
    handler.setFormatter(JsonFormatter() if json_lines
                         else KeyValueFormatter(tracebacks=level <= logging.DEBUG))
    root = logging.getLogger("dispatcher")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
