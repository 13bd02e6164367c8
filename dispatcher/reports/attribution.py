"""Attribution, set-based: per outbox row, did the customer come back, and for how much?

A row converts when the customer orders within the campaign's attribution window
after the message was sent (for holdout rows: after the time it would have been
sent, the row's ``not_before``), or when anyone redeems the personal promo code the
row carried (``outbox.data['promo_code']``) after it and before the code expired.
Rows are grouped by arm in the database; only one line per arm (and per arm and day
for the timeline) leaves it. Revenue is summed per currency, never across currencies.

Every non-skipped row of the campaign counts as a recipient of its arm: failed
sends stay in their arm (intention to treat), so a flaky channel cannot flatter a
variant by dropping the customers it failed to reach.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Float,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
)

from dispatcher.reports.sqltime import day_of, not_after, within_after
from dispatcher.store.schema import addresses, metadata, orders, outbox, runs, suppressions

NO_ARM = "all"  # the arm name when a campaign runs no experiment


@dataclass
class ArmCounts:
    arm: str
    recipients: int = 0
    delivered: int = 0
    failed: int = 0
    pending: int = 0
    opted_out: int = 0
    converted: int = 0
    # Per currency (amounts in different currencies are never added): the sum of each
    # recipient's attributed revenue, and of its square (for the variance).
    revenue: dict[str, float] = field(default_factory=dict)
    revenue_squares: dict[str, float] = field(default_factory=dict)
    window_open: int = 0  # recipients whose attribution window has not closed yet
    last_window_end: datetime | None = None


# Provider receipts that mean the message never arrived (SMS status callbacks and the
# like write them to outbox.delivery_status where a channel has receipts).
UNDELIVERED = ("undelivered", "failed")


def _outcome() -> Any:
    """The row's status, with a provider's 'undelivered' receipt turning 'sent' into
    'failed' (when the store records receipts)."""
    receipt = outbox.c.get("delivery_status")
    if receipt is None:
        return outbox.c.status
    return case((and_(outbox.c.status == "sent", receipt.in_(UNDELIVERED)), literal("failed")),
                else_=outbox.c.status)


def _personal_code() -> Any:
    """The personal promo code a row carried: ``outbox.data['promo_code']``, or the code
    issued for the row in ``promo_codes`` where the store has that table."""
    in_data = outbox.c.data["promo_code"].as_string()
    issued = metadata.tables.get("promo_codes")
    if issued is None:
        return in_data
    code = (select(issued.c.code).where(issued.c.outbox_id == outbox.c.id)
            .limit(1).scalar_subquery())
    return func.coalesce(in_data, code)


def _code_still_valid() -> Any:
    """The order carrying a code was placed before that code's ``expires_at`` (a code
    with no issue record, written into the row by hand, has no known expiry)."""
    issued = metadata.tables.get("promo_codes")
    if issued is None:
        return literal(True)
    expires = (select(issued.c.expires_at).where(issued.c.code == orders.c.promo_code)
               .limit(1).scalar_subquery())
    return or_(expires.is_(None), not_after(orders.c.placed_at, expires))


def per_row(campaign: str, window: timedelta, salt: str | None = None,
            until: datetime | None = None, by_currency: bool = False) -> Any:
    """One row per recipient: arm, status, anchor, converted, revenue, first order.

    ``salt``: only rows planned under this experiment (a new salt starts a new one, and
    the old arms must not mix into it); None: every row of the campaign.
    ``until``: count orders placed up to this moment only (the report "as of" a time).
    ``by_currency``: one row per recipient and order currency (``currency`` column,
    NULL without orders), so revenue is summed within one currency only.
    """
    anchor = func.coalesce(outbox.c.sent_at, outbox.c.not_before)
    promo = _personal_code()
    attributed: Any = or_(
        and_(orders.c.customer_id == outbox.c.customer_id,
             within_after(orders.c.placed_at, anchor, literal(int(window.total_seconds())))),
        and_(promo.is_not(None), orders.c.promo_code == promo,
             within_after(orders.c.placed_at, anchor, literal(10 * 365 * 86400)),
             _code_still_valid()),
    )
    if until is not None:
        attributed = and_(orders.c.placed_at <= until, attributed)
    opted_out = or_(
        exists(select(literal(1)).where(
            suppressions.c.channel == addresses.c.channel,
            suppressions.c.address_hash == addresses.c.address_hash,
            # A provider's "recipient gone" is the person leaving on chat, SMS and push
            # (blocked the bot, STOP, unsubscribed); on email it is a hard bounce.
            or_(suppressions.c.reason == "opted_out",
                and_(suppressions.c.reason == "provider_gone",
                     suppressions.c.channel != "email")),
            suppressions.c.created_at >= anchor)),
        and_(addresses.c.consent == "withdrawn", addresses.c.consent_at >= anchor),
    )
    arm = func.coalesce(outbox.c.variant, NO_ARM)
    currency = [orders.c.currency] if by_currency else []
    return (
        select(
            *[c.label("currency") for c in currency],
            outbox.c.id.label("row_id"),
            arm.label("arm"),
            _outcome().label("status"),
            anchor.label("anchor"),
            case((opted_out, 1), else_=0).label("opted_out"),
            func.count(orders.c.id).label("orders"),
            func.coalesce(func.sum(cast(orders.c.total, Float)), 0.0).label("revenue"),
            func.min(orders.c.placed_at).label("first_order_at"),
        )
        .select_from(outbox.outerjoin(orders, attributed)
                     .outerjoin(addresses, addresses.c.id == outbox.c.address_id))
        .where(outbox.c.campaign == campaign, outbox.c.status != "skipped",
               *([] if salt is None else [outbox.c.run_id.in_(
                   select(runs.c.id).where(runs.c.campaign == campaign,
                                           runs.c.experiment["salt"].as_string() == salt))]))
        .group_by(outbox.c.id, arm, *currency, _outcome(), anchor, addresses.c.channel,
                  addresses.c.address_hash, addresses.c.consent, addresses.c.consent_at)
        .subquery("recipient_rows")
    )


def arm_counts(conn: Connection, campaign: str, window: timedelta, now: datetime,
               salt: str | None = None) -> dict[str, ArmCounts]:
    rows = per_row(campaign, window, salt, now)
    converted = case((rows.c.orders > 0, 1), else_=0)
    query = (
        select(
            rows.c.arm,
            func.count(),
            func.sum(case((rows.c.status == "sent", 1), else_=0)),
            func.sum(case((rows.c.status == "failed", 1), else_=0)),
            func.sum(case((rows.c.status.in_(("pending", "sending")), 1), else_=0)),
            func.sum(rows.c.opted_out),
            func.sum(converted),
            func.sum(case((rows.c.anchor > now - window, 1), else_=0)),
            func.max(rows.c.anchor),
        )
        .group_by(rows.c.arm)
    )
    out: dict[str, ArmCounts] = {}
    for (arm, n, sent, failed, pending, opted, conv, open_, last) in conn.execute(query):
        last_anchor = _dt(last)
        out[arm] = ArmCounts(arm, int(n), int(sent or 0), int(failed or 0), int(pending or 0),
                             int(opted or 0), int(conv or 0), window_open=int(open_ or 0),
                             last_window_end=last_anchor + window if last_anchor else None)
    _add_revenue(conn, out, campaign, window, now, salt)
    return out


def _add_revenue(conn: Connection, counts: dict[str, ArmCounts], campaign: str,
                 window: timedelta, now: datetime, salt: str | None) -> None:
    """Each arm's revenue sums per currency; every currency seen in any arm is given to
    every arm (as 0), so the arms can be compared in it."""
    rows = per_row(campaign, window, salt, now, by_currency=True)
    query = (select(rows.c.arm, rows.c.currency, func.sum(rows.c.revenue),
                    func.sum(rows.c.revenue * rows.c.revenue))
             .where(rows.c.currency.is_not(None))
             .group_by(rows.c.arm, rows.c.currency))
    sums = conn.execute(query).all()
    for arm in counts.values():
        for currency in sorted({c for _, c, _, _ in sums}):
            arm.revenue[currency] = arm.revenue_squares[currency] = 0.0
    for arm_name, currency, total, squares in sums:
        if arm_name in counts:
            counts[arm_name].revenue[currency] = float(total or 0)
            counts[arm_name].revenue_squares[currency] = float(squares or 0)


def conversions_by_day(conn: Connection, campaign: str, window: timedelta,
                       salt: str | None = None,
                       until: datetime | None = None) -> dict[str, list[tuple[date, int]]]:
    """Per arm: (day, recipients whose first attributed order fell on that day)."""
    rows = per_row(campaign, window, salt, until)
    day = day_of(rows.c.first_order_at)
    query = (select(rows.c.arm, day, func.count())
             .where(rows.c.orders > 0)
             .group_by(rows.c.arm, day)
             .order_by(rows.c.arm, day))
    out: dict[str, list[tuple[date, int]]] = {}
    for arm, when, count in conn.execute(query):
        out.setdefault(arm, []).append((_day(when), int(count)))
    return out


def _dt(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _day(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
