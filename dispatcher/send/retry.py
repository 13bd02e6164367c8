"""The retry policy: what a send's Outcome does to its outbox row, for every channel.

The channels' classifiers decide what an error means (channels/base.py); this module is
the one place that acts on it (as Dramatiq's Retries middleware does for its actors)::

    Retry(after)     pending again after the provider's ``after`` or our backoff (capped
                     exponential, full jitter), until the channel's max_attempts; then
                     failed: "gave up after N attempts: <last reason>"
    Fail(reason)     failed
    Unknown(reason)  uncertain: it may have been delivered, so it is never sent again;
                     on a channel declared ``idempotent`` (the provider drops a duplicate
                     of the same message) it is retried like Retry, and stays uncertain
                     if the attempts run out
    Gone(action)     failed; the address is suppressed / invalidated / deleted

``systemic`` changes nothing here: it only feeds the error-rate guard.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from channels.base import ChannelSettings, Fail, Gone, Outcome, Retry, Unknown
from dispatcher.store.states import OutboxStatus

MAY_HAVE_BEEN_DELIVERED = "may have been delivered; not sent again"


@dataclass(frozen=True)
class Decision:
    status: OutboxStatus  # pending (a retry), failed or uncertain
    reason: str
    not_before: datetime | None = None
    gone: Gone | None = None


class RetryPolicy:
    def __init__(self, settings: Mapping[str, ChannelSettings],
                 clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self.clock = clock

    def decide(self, channel: str, outcome: Outcome, attempts: int) -> Decision:
        """``attempts``: attempts made so far, this one included."""
        settings = self.settings[channel]
        if isinstance(outcome, Gone):
            return Decision(OutboxStatus.FAILED, outcome.reason, gone=outcome)
        if isinstance(outcome, Fail):
            return Decision(OutboxStatus.FAILED, outcome.reason)
        retry_after = outcome.after if isinstance(outcome, Retry) else None
        if isinstance(outcome, Unknown) and not settings.idempotent:
            return Decision(OutboxStatus.UNCERTAIN, f"{outcome.reason}; {MAY_HAVE_BEEN_DELIVERED}")
        if attempts < settings.max_attempts:
            delay = backoff(attempts, settings.retry_base, settings.retry_cap, retry_after)
            return Decision(OutboxStatus.PENDING, outcome.reason, self.clock() + delay)
        if isinstance(outcome, Unknown):  # idempotent, out of attempts: still unknown
            return Decision(OutboxStatus.UNCERTAIN,
                            f"gave up after {attempts} attempts: {outcome.reason}; "
                            f"{MAY_HAVE_BEEN_DELIVERED}")
        return Decision(OutboxStatus.FAILED,
                        f"gave up after {attempts} attempts: {outcome.reason}")


def backoff(attempt: int, base: timedelta, cap: timedelta,
            retry_after: float | None = None) -> timedelta:
    """Full-jitter exponential backoff; the provider's retry_after is honoured exactly."""
    if retry_after is not None:
        return timedelta(seconds=retry_after)
    ceiling = min(cap.total_seconds(), base.total_seconds() * (2 ** max(0, attempt - 1)))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))
