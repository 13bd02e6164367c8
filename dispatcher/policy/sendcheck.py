"""Checks the sender repeats at send time, for a batch of claimed rows at once.

The sender itself re-checks suppression and channel consent; this adds the
customer's topic switches from the preference page, which may have changed since
the run was planned.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select, tuple_

from ..config.load import LoadedConfig
from ..store.schema import topic_optouts


def blocked_at_send(conn: Connection, loaded: LoadedConfig,
                    claimed: Sequence[Any]) -> dict[int, str]:
    """outbox id -> skip reason, for claimed rows whose customer switched the topic off."""
    campaigns = loaded.config.campaigns
    wanted = {(row.customer_id, campaigns[row.campaign].topic)
              for row in claimed if row.campaign in campaigns}
    if not wanted:
        return {}
    off = set(conn.execute(select(topic_optouts.c.customer_id, topic_optouts.c.topic).where(
        tuple_(topic_optouts.c.customer_id, topic_optouts.c.topic).in_(list(wanted)))).all())
    return {row.id: "topic_opted_out" for row in claimed
            if row.campaign in campaigns
            and (row.customer_id, campaigns[row.campaign].topic) in off}
