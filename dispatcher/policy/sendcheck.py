"""Checks the sender repeats at send time, for a batch of claimed rows at once.

The sender itself re-checks suppression and channel consent. This adds what may
have changed since planning, or what planning could not foresee:

- the customer switched the campaign's topic off on the preference page;
- the campaign's deadline passed (``expired``);
- the row comes due inside the customer's quiet hours (the daemon was down
  overnight, or a retry landed at night): it goes back to ``pending`` with the
  next allowed minute, or is skipped if that is past the deadline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, true, tuple_, update

from dispatcher.config.load import LoadedConfig
from dispatcher.policy.quiet import QUIET_HOURS_REASON, Slot, next_allowed
from dispatcher.store.schema import customers, outbox, topic_optouts
from dispatcher.store.states import released


@dataclass
class SendTimeVerdict:
    skip: dict[int, str] = field(default_factory=dict)  # outbox id -> reason
    deferred: set[int] = field(default_factory=set)  # put back to pending, not to send now


def check_at_send(conn: Connection, loaded: LoadedConfig, claimed: Sequence[Any],
                  now: datetime, claim_token: str | None = None) -> SendTimeVerdict:
    """Decide, in a fixed number of queries, which claimed rows must not go out now;
    deferred rows are already written back to ``pending`` when this returns (only while
    the claim ``claim_token`` still owns them)."""
    config = loaded.config
    campaigns = config.campaigns
    verdict = SendTimeVerdict()
    rows = [row for row in claimed if row.campaign in campaigns]
    for row in rows:
        if campaigns[row.campaign].expired_at(now, config.timezone):
            verdict.skip[row.id] = "expired"
    wanted = {(row.customer_id, campaigns[row.campaign].topic) for row in rows}
    if wanted:
        off = set(conn.execute(select(topic_optouts.c.customer_id, topic_optouts.c.topic)
                               .where(tuple_(topic_optouts.c.customer_id,
                                             topic_optouts.c.topic).in_(list(wanted)))).all())
        for row in rows:
            if row.id not in verdict.skip and \
                    (row.customer_id, campaigns[row.campaign].topic) in off:
                verdict.skip[row.id] = "topic_opted_out"
    _quiet_hours(conn, loaded, [r for r in rows if r.id not in verdict.skip], now, verdict,
                 claim_token)
    return verdict


def _quiet_hours(conn: Connection, loaded: LoadedConfig, rows: Sequence[Any], now: datetime,
                 verdict: SendTimeVerdict, claim_token: str | None) -> None:
    quiet = loaded.config.quiet_hours
    rows = [row for row in rows if quiet.window_for(row.channel) is not None]
    if not rows:
        return
    zones = dict(conn.execute(select(customers.c.id, customers.c.timezone).where(
        customers.c.id.in_(list({row.customer_id for row in rows})))).all())
    slots: dict[tuple[str, str], Slot] = {}
    later: list[dict[str, Any]] = []
    for row in rows:
        zone = zones.get(row.customer_id) or loaded.config.timezone
        key = (zone, row.channel)
        if key not in slots:
            slots[key] = next_allowed(now, zone, quiet.window_for(row.channel))
        slot = slots[key]
        if not slot.deferred:
            continue
        if loaded.config.campaigns[row.campaign].expired_at(slot.not_before,
                                                            loaded.config.timezone):
            verdict.skip[row.id] = "quiet_hours_expired"
            continue
        verdict.deferred.add(row.id)
        later.append({"oid": row.id, "nb": slot.not_before, "tok": claim_token})
    if later:
        # Not an attempt: give back the lease and the attempt the claim counted.
        owned = outbox.c.claim_token == bindparam("tok") if claim_token else true()
        conn.execute(update(outbox).where(outbox.c.id == bindparam("oid"), owned).values(
            {**released(now, QUIET_HOURS_REASON), "not_before": bindparam("nb")}), later)
