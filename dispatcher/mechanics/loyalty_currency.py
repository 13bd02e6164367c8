"""Which orders the loyalty tiers leave out: a warning for ``validate`` and
``plan`` (plan_loyalty.py).

Tier spend counts only orders in ``loyalty.currency`` (there is no exchange-rate
table), so a shop that also sells in another currency should hear how many orders
and customers that leaves out; without ``loyalty.currency`` the tiers add amounts in
different currencies up as one, which deserves a warning too. One grouped query over
the orders; only when some tier has a ``spent`` threshold.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, distinct, func, select
from sqlalchemy.exc import SQLAlchemyError

from dispatcher.config.errors import ConfigIssue
from dispatcher.config.load import LoadedConfig
from dispatcher.config.mechanics import LoyaltyConfig
from dispatcher.store.existing import existing_engine
from dispatcher.store.schema import orders

log = logging.getLogger("dispatcher.mechanics")


def orders_by_currency(conn: Connection) -> dict[str, tuple[int, int]]:
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


def located_issue(loaded: LoadedConfig, message: str) -> ConfigIssue:
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
            message = currency_warning(loaded.config.loyalty, orders_by_currency(conn))
    except SQLAlchemyError as exc:  # validate must work without a reachable database
        log.warning("could not read the orders' currencies: %s", type(exc).__name__)
        return []
    finally:
        engine.dispose()
    return [] if message is None else [located_issue(loaded, message)]
