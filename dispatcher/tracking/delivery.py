"""The ``delivered`` column: one answer per message from whatever the channel tells us.

    email     SMTP 250 for the DATA             -> delivered at send
    push      push service 201 Created          -> delivered at send (404/410: failed)
    telegram  Bot API ok                        -> delivered at send
    sms       Twilio accepted (queued)          -> unknown until the status callback:
              delivered / read                  -> delivered
              undelivered / failed              -> not delivered

A failed message is not delivered; a retry or an unknown outcome leaves it NULL.
"""

from __future__ import annotations

# Channels whose provider's acceptance is the last word we get about delivery.
CONFIRMED_AT_SEND = frozenset({"email", "push", "telegram"})


def delivered_at_send(channel: str, status: str) -> bool | None:
    if status == "failed":
        return False
    if status == "sent" and channel in CONFIRMED_AT_SEND:
        return True
    return None


def delivered_from_receipt(status: str) -> bool | None:
    """What a provider's delivery receipt (a Twilio MessageStatus) says."""
    if status in ("delivered", "read"):
        return True
    if status in ("undelivered", "failed"):
        return False
    return None
