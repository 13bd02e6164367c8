"""What a template sees: the customer, their order stats, the campaign, the shop, links."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from dispatcher.config.models import CampaignConfig, ShopConfig


@dataclass
class CustomerView:
    id: str
    name: str | None
    locale: str | None
    timezone: str | None
    birthday: date | None
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def first_name(self) -> str:
        return (self.name or "").split(" ")[0]


@dataclass
class OrderStats:
    orders_count: int = 0
    total_spent: float = 0.0
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None
    # Spend per ISO currency; empty for stats made without it (the validate samples),
    # which then count as spent in whatever currency is asked for.
    spent_by_currency: dict[str, float] = field(default_factory=dict)

    @property
    def avg_order_value(self) -> float:
        return round(self.total_spent / self.orders_count, 2) if self.orders_count else 0.0

    def spent_in(self, currency: str | None) -> float:
        """Spend in ``currency`` only (no exchange rates); all of it when None."""
        if currency is None or not self.spent_by_currency:
            return self.total_spent
        return self.spent_by_currency.get(currency, 0.0)


def build_context(customer: CustomerView, stats: OrderStats, campaign_name: str,
                  campaign: CampaignConfig, shop: ShopConfig, channel: str,
                  unsubscribe_url: str, preferences_url: str,
                  extra: dict[str, Any] | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {
        "customer": customer,
        "stats": stats,
        "orders_count": stats.orders_count,
        "campaign": {"name": campaign_name, "description": campaign.description,
                     "topic": campaign.topic},
        "shop": shop,
        "channel": channel,
        "unsubscribe_url": unsubscribe_url,
        "preferences_url": preferences_url,
    }
    if extra:
        context.update(extra)
    return context


SAMPLE_CUSTOMERS = [
    (CustomerView("sample-uk", "Олена Коваленко", "uk", "Europe/Kyiv", date(1990, 5, 17),
                  {"tier": "gold"}),
     OrderStats(7, 4250.50, datetime(2024, 1, 5), datetime(2026, 6, 1))),
    (CustomerView("sample-en", "Jane <b>O'Brien</b> & Co", "en", "America/New_York",
                  date(1985, 2, 28), {}),
     OrderStats(1, 49.90, datetime(2026, 10, 1), datetime(2026, 10, 1))),
    (CustomerView("sample-new", None, None, None, None, {}), OrderStats()),
]
