"""``once_per``: the key that makes a campaign reach a customer at most once per X.

The key is stored on every outbox row that counts as handled (pending, sent, held
out, ...) under a unique index (campaign, step, dedupe_key), so no race or restart
can plan the same customer twice for the same key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, String, and_, cast, exists, literal, select

from channels.durations import parse_duration
from dispatcher.config.mechanics import ONCE_PER_FIXED as FIXED
from dispatcher.store.schema import outbox

# Keys about a thing rather than a time: the audience query carries it as ``subject``.
SUBJECT_KEYS = ("cart", "order", "tier")


def dedupe_key(once_per: str, customer_id: Any, scheduled_for: datetime,
               timezone: str, subject: Any = None) -> ColumnElement[str]:
    customer = cast(customer_id, String)
    if once_per == "customer":
        return customer
    if once_per in ("cart", "order"):
        # Cart and order ids are unique shop-wide: one message per cart / per order.
        return literal(f"{once_per}:") + cast(subject, String)
    if once_per == "tier":
        return customer + literal("@tier:") + cast(subject, String)
    if once_per == "run":
        return customer + literal(f"@{scheduled_for.isoformat(timespec='minutes')}")
    local = scheduled_for.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(timezone))
    if once_per == "year":
        return customer + literal(f"@{local.year}")
    window = parse_duration(once_per)
    bucket = int(scheduled_for.timestamp() // window.total_seconds())
    return customer + literal(f"@{once_per}:{bucket}")


def recently_handled(once_per: str, campaign: str, step: str, customer_id: Any,
                     now: datetime) -> ColumnElement[bool] | None:
    """For window keys: was the customer handled within the window (any bucket)?"""
    if once_per in FIXED:
        return None
    window = parse_duration(once_per)
    return exists(
        select(literal(1)).where(
            and_(
                outbox.c.campaign == campaign,
                outbox.c.step == step,
                outbox.c.customer_id == customer_id,
                outbox.c.dedupe_key.is_not(None),
                outbox.c.created_at > now - window,
            )
        )
    )
