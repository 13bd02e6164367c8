"""Prometheus metrics of the sender (process-wide counters and a latency histogram).

prometheus-client comes with the ``web`` extra; without it these calls do nothing,
so the core (``run-once`` from cron) works without the extra. Queue depth and
outbox states are read from the database at scrape time (see web/metrics.py), so
every dispatcher process reports the same shared queue.
"""

from __future__ import annotations

from typing import Any

from dispatcher.store.states import OutboxStatus

try:
    from prometheus_client import Counter, Histogram
except ImportError:  # pragma: no cover - the web extra is not installed
    Counter = Histogram = None  # type: ignore[assignment,misc]

_messages: Any = None
_skipped: Any = None
_failed: Any = None
_latency: Any = None

if Counter is not None:
    _messages = Counter("dispatcher_messages", "Outcomes of send attempts by channel and status",
                        ["channel", "status"])
    _skipped = Counter("dispatcher_skipped", "Rows skipped at send time by reason", ["reason"])
    _failed = Counter("dispatcher_failures",
                      "Failed attempts (retried or final) by channel and error class",
                      ["channel", "error_class"])
    _latency = Histogram("dispatcher_send_seconds", "Provider call latency", ["channel"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))

# Outcome statuses as the metric names them ("pending" after a failure is a retry).
_STATUS_NAMES: dict[str, str] = {
    OutboxStatus.PENDING: "retry", OutboxStatus.SENT: "sent", OutboxStatus.FAILED: "failed",
    OutboxStatus.SKIPPED: "skipped", OutboxStatus.UNCERTAIN: "uncertain"}


def record_outcome(channel: str, status: str, reason: str | None,
                   error_class: str | None) -> None:
    name = _STATUS_NAMES.get(status)
    if _messages is None or name is None:
        return
    _messages.labels(channel=channel, status=name).inc()
    if status == OutboxStatus.SKIPPED:
        _skipped.labels(reason=reason or "unknown").inc()
    elif error_class is not None:
        _failed.labels(channel=channel, error_class=error_class).inc()


def observe_latency(channel: str, seconds: float) -> None:
    if _latency is not None:
        _latency.labels(channel=channel).observe(seconds)
