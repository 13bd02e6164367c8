"""Which orders the loyalty tiers leave out: a warning for ``validate`` and ``plan``.

Tier spend counts only orders in ``loyalty.currency`` (there is no exchange-rate
table), so a shop that also sells in another currency should hear how many orders
and customers that leaves out; without ``loyalty.currency`` the tiers add amounts in
different currencies up as one, which deserves a warning too. One grouped query over
the orders; only when some tier has a ``spent`` threshold.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import Connection, distinct, func, select
from sqlalchemy.exc import SQLAlchemyError

from ..config.errors import ConfigIssue
from ..config.load import LoadedConfig
from ..config.mechanics import LoyaltyConfig
from ..store.existing import existing_engine
from ..store.schema import orders

if TYPE_CHECKING:
    from ..plan_render import PlanRun

log = logging.getLogger("dispatcher.mechanics")


def _orders_by_currency(conn: Connection) -> dict[str, tuple[int, int]]:
    """Currency -> (orders, customers)."""
    query = select(orders.c.currency, func.count(), func.count(distinct(orders.c.customer_id))
                   ).group_by(orders.c.currency)
    return {currency: (int(n), int(people)) for currency, n, people in conn.execute(query)}


def _counted(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def currency_warning(loyalty: LoyaltyConfig, by_currency: dict[str, tuple[int, int]]
                     ) -> str | None:
    """The warning for these order counts, or None when every order counts as it should."""
    if not any(tier.spent is not None for tier in loyalty.tiers):
        return None  # tiers by order count only: the currency does not matter
    if loyalty.currency is None:
        if len(by_currency) < 2:
            return None
        listed = ", ".join(f"{c}: {n}" for c, (n, _) in sorted(by_currency.items()))
        return (f"orders are in {len(by_currency)} currencies ({listed}) and loyalty tiers "
                f"add them up as one; set loyalty.currency to the tiers' currency to count "
                f"only its orders")
    left_out = [f"{_counted(n, 'order')} in {c} ({_counted(people, 'customer')})"
                for c, (n, people) in sorted(by_currency.items()) if c != loyalty.currency]
    if not left_out:
        return None
    return (f"{', '.join(left_out)} do not count toward loyalty tiers, which are in "
            f"{loyalty.currency} (no exchange rates are applied)")


def _issue(loaded: LoadedConfig, message: str) -> ConfigIssue:
    path = ("loyalty", "currency") if loaded.config.loyalty.currency else ("loyalty",)
    return ConfigIssue(loaded.doc.locate(path), ".".join(path), message, severity="warning")


def validate_warnings(loaded: LoadedConfig) -> list[ConfigIssue]:
    """For ``validate``: reads the store if there is one; never creates it."""
    if not any(tier.spent is not None for tier in loaded.config.loyalty.tiers):
        return []
    engine = existing_engine(loaded.database_url())
    if engine is None:
        return []
    try:
        with engine.connect() as conn:
            message = currency_warning(loaded.config.loyalty, _orders_by_currency(conn))
    except SQLAlchemyError as exc:  # validate must work without a reachable database
        log.warning("could not read the orders' currencies: %s", type(exc).__name__)
        return []
    finally:
        engine.dispose()
    return [] if message is None else [_issue(loaded, message)]


def plan_report(run: PlanRun) -> list[str]:
    """The ``plan`` hook: for a campaign that keys on tiers, which orders they leave out."""
    engine, loaded = run.engine, run.loaded
    config = loaded.config.campaigns[run.campaign]
    keyed_on_tiers = config.once_per == "tier" or (
        config.trigger is not None and config.trigger.kind == "tier_reached")
    if not keyed_on_tiers or not any(t.spent is not None for t in loaded.config.loyalty.tiers):
        return []
    with engine.connect() as conn:
        message = currency_warning(loaded.config.loyalty, _orders_by_currency(conn))
    return [] if message is None else [str(_issue(loaded, message))]
