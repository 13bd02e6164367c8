"""Who a campaign step is for, with the subject ``once_per`` keys on.

    segment ids
      JOIN trigger (customer_id, subject)        when the campaign has a trigger
      JOIN newest cart / newest order / tier     when once_per is cart / order / tier
      minus customers who ordered since the sequence started (later steps)
      nothing at all once the offer has expired
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, exists, false, literal, null, select

from dispatcher.config.load import LoadedConfig
from dispatcher.mechanics.sequences import find_step, sequence_started
from dispatcher.mechanics.triggers import default_subject, trigger_select
from dispatcher.segments.sql import SegmentSQL
from dispatcher.store.schema import customers, orders


def audience(loaded: LoadedConfig, campaign_name: str, step: str, seg: SegmentSQL,
             now: datetime, only: str | None = None) -> Any:
    """A subquery of (customer_id, subject), one row per customer; ``only``: just that
    customer, if they belong (``preview`` asks the planner about one customer)."""
    config = loaded.config
    campaign = config.campaigns[campaign_name]
    members = seg.select_ids(campaign.segment)
    if only is not None:
        members = members.where(customers.c.id == only)
    ids = members.subquery("segment_ids")
    cid = ids.c.customer_id
    if campaign.trigger is not None:
        subjects = trigger_select(campaign.trigger, config.loyalty, now)
    else:
        subjects = default_subject(campaign.once_per, config.loyalty)
    query: Any
    if subjects is not None:
        subj = subjects.subquery("subjects")
        query = select(cid.label("customer_id"), subj.c.subject.label("subject")) \
            .select_from(ids.join(subj, subj.c.customer_id == cid))
    else:
        query = select(cid.label("customer_id"), null().cast(String).label("subject"))
    if campaign.expired_at(now, config.timezone):
        query = query.where(false())
    if campaign.steps and not step:
        # A sequence only sends its steps; a caller planning the campaign as a whole
        # (a plain cron tick) plans nobody rather than a message with no template.
        query = query.where(false())
    found = find_step(campaign, step) if step else None
    if found is not None and campaign.steps.index(found) > 0 and not found.keep_converted:
        started = sequence_started(campaign, config.timezone)
        query = query.where(~exists(select(literal(1)).where(
            orders.c.customer_id == cid, orders.c.placed_at >= started)))
    return query.subquery("audience")
