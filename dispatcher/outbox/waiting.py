"""What a pass left unsent, and why: the lines ``run-once`` and ``demo`` end with.

A one-shot pass sends what is due and exits; the rest waits in the outbox for a later
pass. The person running it must learn how much waits, why, and when to run again:

    20 messages wait for the customer's quiet hours (the first at 09:00 Europe/Kyiv);
    run again after that time.

Kinds, from the pending rows of the pass's campaigns that are not due yet (plus due
rows of paused campaigns):

    quiet_hours   deferred to the customer's allowed hours, at planning or at send time
    retry         a temporary failure; the next attempt is at ``not_before``
    later         planned with a future "now" (``--at``): not due before that time
    paused        due, but the campaign is paused (``dispatcher resume``)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, and_, case, func, literal, or_, select

from dispatcher.config.load import LoadedConfig
from dispatcher.outbox.pauses import paused_campaigns_query
from dispatcher.policy.quiet import QUIET_HOURS_REASON
from dispatcher.store.schema import customers, outbox


@dataclass(frozen=True)
class Waiting:
    kind: str  # quiet_hours | retry | later | paused
    count: int
    first: datetime  # naive UTC: the earliest row's not_before
    zone: str  # that row's customer's time zone (else the config's)

    def describe(self, now: datetime, shop_zone: str) -> str:
        """One sentence for the person who ran the pass."""
        noun = "message" if self.count == 1 else "messages"
        verb = "waits" if self.count == 1 else "wait"
        if self.kind == "paused":
            return (f"{self.count} {noun} {verb} because the campaign is paused; "
                    "`dispatcher resume CAMPAIGN` lets them go.")
        why = {"quiet_hours": f"{verb} for the customer's quiet hours",
               "retry": f"{verb} to be retried after a temporary failure",
               "later": "are planned for later" if self.count > 1 else "is planned for later",
               }[self.kind]
        return (f"{self.count} {noun} {why} (the first at "
                f"{when(self.first, self.zone, now, shop_zone)}); run again after that time.")


def when(moment: datetime, zone: str, now: datetime, shop_zone: str) -> str:
    """``09:00 Europe/Kyiv`` in the customer's zone (with the date unless it is today
    there), and the shop's own time too when the zones differ."""
    text = _local(moment, zone, now)
    if zone != shop_zone:
        text += f" = {_local(moment, shop_zone, now)}"
    return text


def _local(moment: datetime, zone: str, now: datetime) -> str:
    tz = ZoneInfo(zone)
    local = moment.replace(tzinfo=UTC).astimezone(tz)
    today = now.replace(tzinfo=UTC).astimezone(tz).date()
    fmt = "%H:%M" if local.date() == today else "%Y-%m-%d %H:%M"
    return f"{local.strftime(fmt)} {zone}"


def waiting_rows(engine: Engine, loaded: LoadedConfig, campaigns: list[str],
                 now: datetime) -> list[Waiting]:
    """Pending rows of ``campaigns`` that a pass at ``now`` could not send, by kind."""
    quiet = or_(outbox.c.reason == QUIET_HOURS_REASON,
                and_(outbox.c.attempts == 0, outbox.c.not_before > outbox.c.created_at))
    paused = outbox.c.campaign.in_(paused_campaigns_query())
    kind = case((paused, literal("paused")), (quiet, literal("quiet_hours")),
                (outbox.c.attempts > 0, literal("retry")), else_=literal("later"))
    held = and_(outbox.c.status == "pending", outbox.c.campaign.in_(campaigns),
                or_(outbox.c.not_before > now, paused))
    rows = (select(kind.label("kind"), outbox.c.not_before,
                   func.coalesce(customers.c.timezone, loaded.config.timezone).label("zone"))
            .select_from(outbox.outerjoin(customers, customers.c.id == outbox.c.customer_id))
            .where(held).subquery("held"))
    # The earliest row of each kind, with its customer's zone: rank them in SQL, one query.
    ranked = select(rows.c.kind, rows.c.not_before, rows.c.zone,
                    func.count().over(partition_by=rows.c.kind).label("n"),
                    func.row_number().over(partition_by=rows.c.kind,
                                           order_by=rows.c.not_before).label("rank")
                    ).subquery("ranked")
    order = ["quiet_hours", "retry", "later", "paused"]
    with engine.connect() as conn:
        found = conn.execute(select(ranked.c.kind, ranked.c.n, ranked.c.not_before,
                                    ranked.c.zone).where(ranked.c.rank == 1)).all()
    return sorted((Waiting(str(k), int(n), nb, str(z)) for k, n, nb, z in found),
                  key=lambda w: order.index(w.kind))
