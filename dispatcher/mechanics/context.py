"""Template variables the mechanics add: loyalty progress, the offer's deadline and
the personal promo code, each in the customer's locale and time zone."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from dispatcher.config.load import LoadedConfig
from dispatcher.mechanics.loyalty import progress
from dispatcher.mechanics.offers import format_local
from dispatcher.mechanics.promo import Promo
from dispatcher.money import Money
from dispatcher.render.context import CustomerView, OrderStats


def mechanics_context(loaded: LoadedConfig, campaign_name: str, customer: CustomerView,
                      stats: OrderStats, promo: Promo | None,
                      cart: dict[str, Any] | None = None) -> dict[str, Any]:
    config = loaded.config
    campaign = config.campaigns[campaign_name]

    def local(moment: datetime | None) -> str:
        return format_local(moment, customer.locale, customer.timezone, config.timezone)

    standing = progress(config.loyalty, stats.orders_count,
                        stats.spent_in(config.loyalty.currency))
    deadline = campaign.expiry_utc(config.timezone)
    context: dict[str, Any] = standing.as_context()
    context["loyalty"] = standing
    if config.loyalty.currency and standing.spent_to_next_tier is not None:
        # an amount, so each language writes it its own way ("UAH 3,800", "3 800 ₴")
        context["spent_to_next_tier"] = Money(Decimal(str(standing.spent_to_next_tier)),
                                              config.loyalty.currency)
    # "" rather than undefined, so a shared footer can say {% if expires_at %}.
    context["expires_at"] = local(deadline) if deadline else ""
    context["expires_on"] = format_local(deadline, customer.locale, customer.timezone,
                                         config.timezone, short=True) if deadline else ""
    context["promo"] = None if promo is None else {
        "code": promo.code, "expires_at": local(promo.expires_at),
        "expires_on": format_local(promo.expires_at, customer.locale, customer.timezone,
                                   config.timezone, short=True),
        "discount": promo.discount,
    }
    # The newest cart: id, items (as the shop sent them), total, currency; None if none.
    context["cart"] = cart
    return context
