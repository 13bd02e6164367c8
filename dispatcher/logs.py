"""Structured logging: context fields (campaign, run, outbox id), never addresses."""

from __future__ import annotations

import json
import logging
import os
import sys

_CONTEXT = ("campaign", "run_id", "outbox_id", "customer_id", "channel", "failure", "reason")


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = {k: getattr(record, k) for k in _CONTEXT if hasattr(record, k)}
        base = f"{self.formatTime(record)} {record.levelname} {record.name}: {record.getMessage()}"
        return f"{base} {json.dumps(fields, ensure_ascii=False, default=str)}" if fields else base


class JsonFormatter(logging.Formatter):
    """One JSON object per line (DISPATCHER_LOG_FORMAT=json), for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record), "level": record.levelname,
                 "logger": record.name, "message": record.getMessage()}
        entry.update({k: getattr(record, k) for k in _CONTEXT if hasattr(record, k)})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    json_lines = os.environ.get("DISPATCHER_LOG_FORMAT", "").lower() == "json"
    handler.setFormatter(JsonFormatter() if json_lines else KeyValueFormatter())
    root = logging.getLogger("dispatcher")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
