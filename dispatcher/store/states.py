"""The states of an outbox row, as one enum.

    planned ──> pending ──claim──> sending ──mark started──> (provider call) ──> sent
                   ^                  │  │                                   ├─> failed
                   │   release,       │  │                                   ├─> uncertain
                   └── retry, defer ──┘  └── skipped (with a reason)          └─> pending (retry)
    held_out       the A/B holdout: recorded for the report, never sent

A StrEnum, so a member equals its text: ``row.status == OutboxStatus.SENT`` and
``row.status == "sent"`` say the same, in Python and in SQL.
"""

from __future__ import annotations

import enum
from typing import Any

from dispatcher.store.schema import outbox


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for not_before (also between retries)
    SENDING = "sending"  # claimed under a lease; started once send_started_at is set
    SENT = "sent"  # the provider accepted it
    FAILED = "failed"  # will not be sent: refused, gone, or out of attempts
    UNCERTAIN = "uncertain"  # may have reached the recipient; never sent again
    SKIPPED = "skipped"  # not sent, on purpose, with a reason (opted_out, capped, ...)
    HELD_OUT = "held_out"  # the experiment's holdout group


def released(now: Any, reason: str) -> dict[str, Any]:
    """The values that give a claimed row back: pending again, no lease, no claim, and
    the attempt the claim counted taken back (nothing reached the provider). The one
    release, used on stop, after an expired lease and for a quiet-hours deferral."""
    return {"status": OutboxStatus.PENDING, "lease_until": None, "leased_by": None,
            "claim_token": None, "attempts": outbox.c.attempts - 1, "updated_at": now,
            "reason": reason}


# States a row never leaves (besides an operator's cleanup).
FINAL = frozenset({OutboxStatus.SENT, OutboxStatus.FAILED, OutboxStatus.UNCERTAIN,
                   OutboxStatus.SKIPPED, OutboxStatus.HELD_OUT})
