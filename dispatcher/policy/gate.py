"""The policy layer over the planner's candidates: topic opt-outs, caps, quiet hours.

Takes the planner's SELECT (one row per audience member) and returns a SELECT with
the same columns plus ``not_before`` and ``deferred``. A row that a policy blocks
becomes ``skipped`` with a reason a person can read, and loses its dedupe key (a
skipped customer can be messaged on a later run):

    topic_opted_out               switched the campaign's topic off
    capped:global 3/7d            over a frequency cap (which one, and its size)
    quiet_hours_expired           the next allowed minute is past the campaign's deadline
    expired                       the campaign's deadline has passed

Everything stays one statement; nothing here loops over customers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, and_, case, func, literal, select

from dispatcher.config.load import LoadedConfig
from dispatcher.policy.caps import cap_counts, capped_reason, caps_for
from dispatcher.policy.quiet import Slot, next_allowed
from dispatcher.store.schema import customers, topic_optouts
from dispatcher.store.states import OutboxStatus


def apply_policy(loaded: LoadedConfig, campaign_name: str, base: Any, now: datetime,
                 zones: Sequence[str] | None = None) -> Any:
    """``base``: SELECT customer_id, channel, address_id, status, reason, dedupe_key, done.

    ``zones``: the customers' distinct time zones (``quiet.known_zones(conn)``); a
    customer in a zone not listed is treated as being in the config's zone.
    """
    config = loaded.config
    campaign = config.campaigns[campaign_name]
    rows = base.subquery("unpoliced")
    sendable = rows.c.status == OutboxStatus.PENDING

    # A join, not EXISTS: the verdict below is referenced several times per row, and
    # a joined column is cheap to read again where a subquery is re-run.
    topic_off = topic_optouts.c.customer_id.is_not(None)

    caps = caps_for(config, campaign_name, campaign, list(campaign.channels))
    source: Any = rows.outerjoin(topic_optouts, and_(
        topic_optouts.c.customer_id == rows.c.customer_id,
        topic_optouts.c.topic == campaign.topic))
    whens: list[tuple[Any, Any]] = [(~sendable, rows.c.reason),
                                    (topic_off, literal("topic_opted_out"))]
    if caps:
        counts = cap_counts(caps, campaign_name, now)
        source = source.outerjoin(counts, counts.c.customer_id == rows.c.customer_id)
        capped = capped_reason(caps, counts, rows.c.channel)
        whens.append((capped.is_not(None), capped))

    slot_nb, slot_deferred, slot_expired = _quiet_columns(loaded, campaign_name, rows, now,
                                                          zones or [])
    source = source.outerjoin(customers, customers.c.id == rows.c.customer_id)

    whens.append((slot_expired, _expiry_reason(loaded, campaign_name, now)))
    blocked = case(*whens, else_=None)
    status = case((and_(sendable, blocked.is_(None)), literal(OutboxStatus.PENDING.value)),
                  else_=OutboxStatus.SKIPPED.value)
    return select(
        rows.c.customer_id,
        rows.c.channel,
        rows.c.address_id,
        status.label("status"),
        blocked.label("reason"),
        case((blocked.is_(None), rows.c.dedupe_key), else_=None).label("dedupe_key"),
        rows.c.done,
        case((blocked.is_(None), slot_nb), else_=literal(now, DateTime)).label("not_before"),
        case((and_(blocked.is_(None), slot_deferred), 1), else_=0).label("deferred"),
    ).select_from(source)


def _expiry_reason(loaded: LoadedConfig, campaign_name: str, now: datetime) -> Any:
    expired = loaded.config.campaigns[campaign_name].expired_at(now, loaded.config.timezone)
    return literal("expired" if expired else "quiet_hours_expired")


def _quiet_columns(loaded: LoadedConfig, campaign_name: str, rows: Any, now: datetime,
                   zones: Sequence[str]) -> tuple[Any, Any, Any]:
    """CASEs over (time zone, channel) giving not_before, deferred and expired."""
    config = loaded.config
    campaign = config.campaigns[campaign_name]
    default_zone = config.timezone
    zone = func.coalesce(customers.c.timezone, default_zone)

    def slot(tz: str, channel: str) -> tuple[Slot, bool]:
        found = next_allowed(now, tz, config.quiet_hours.window_for(channel))
        return found, campaign.expired_at(found.not_before, default_zone)

    nb_whens, deferred_whens, expired_whens = [], [], []
    for channel in campaign.channels:
        for tz in sorted(set(zones) - {default_zone}):
            found, expired = slot(tz, channel)
            match = and_(zone == tz, rows.c.channel == channel)
            nb_whens.append((match, literal(found.not_before, DateTime)))
            deferred_whens.append((match, literal(int(found.deferred))))
            expired_whens.append((match, literal(int(expired))))
        # Anyone else (the config's zone, or a zone not listed) on this channel.
        found, expired = slot(default_zone, channel)
        nb_whens.append((rows.c.channel == channel, literal(found.not_before, DateTime)))
        deferred_whens.append((rows.c.channel == channel, literal(int(found.deferred))))
        expired_whens.append((rows.c.channel == channel, literal(int(expired))))
    past_deadline = campaign.expired_at(now, default_zone)
    return (case(*nb_whens, else_=literal(now, DateTime)),
            case(*deferred_whens, else_=literal(0)) == 1,
            case(*expired_whens, else_=literal(int(past_deadline))) == 1)
