"""The ``plan`` report for campaigns keyed on loyalty tiers: which orders the tiers leave
out because they are in another currency (mechanics/loyalty_currency.py)."""

from __future__ import annotations

from dispatcher.mechanics.loyalty_currency import (
    currency_warning,
    located_issue,
    orders_by_currency,
)
from dispatcher.plan.render_sample import PlanRun


def plan_report(run: PlanRun) -> list[str]:
    """The ``plan`` hook: for a campaign that keys on tiers, which orders they leave out."""
    engine, loaded = run.engine, run.loaded
    config = loaded.config.campaigns[run.campaign]
    keyed_on_tiers = config.once_per == "tier" or (
        config.trigger is not None and config.trigger.kind == "tier_reached")
    if not keyed_on_tiers or not any(t.spent is not None for t in loaded.config.loyalty.tiers):
        return []
    with engine.connect() as conn:
        message = currency_warning(loaded.config.loyalty, orders_by_currency(conn))
    return [] if message is None else [str(located_issue(loaded, message))]
