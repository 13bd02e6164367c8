"""Structured logging: context fields (campaign, run, outbox id), never addresses."""

from __future__ import annotations

import json
import logging
import sys

_CONTEXT = ("campaign", "run_id", "outbox_id", "customer_id", "channel", "failure", "reason")


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = {k: getattr(record, k) for k in _CONTEXT if hasattr(record, k)}
        base = f"{self.formatTime(record)} {record.levelname} {record.name}: {record.getMessage()}"
        return f"{base} {json.dumps(fields, ensure_ascii=False, default=str)}" if fields else base


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger("dispatcher")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
