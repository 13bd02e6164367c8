"""Send-time hooks of the mechanics: drop what expired, issue promo codes in the
claiming transaction (so a code exists exactly when its row is being sent)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select

from ..config.load import LoadedConfig
from ..store.schema import carts
from .promo import Promo, PromoRequest, ensure_codes
from .sequences import find_step


def expired_campaigns(loaded: LoadedConfig, names: set[str], now: datetime) -> set[str]:
    config = loaded.config
    return {name for name in names if name in config.campaigns
            and config.campaigns[name].expired_at(now, config.timezone)}


def issue_promos(engine: Engine, loaded: LoadedConfig, sendable: Sequence[Any],
                 now: datetime) -> dict[int, Promo]:
    campaigns = loaded.config.campaigns
    requests = []
    for row in sendable:
        campaign = campaigns.get(row.campaign)
        if campaign is None or campaign.promo is None:
            continue
        step = find_step(campaign, row.step) if row.step else None
        if step is not None and not step.promo:
            continue
        requests.append(PromoRequest(int(row.id), row.campaign, row.step or "",
                                     row.customer_id, campaign.promo))
    if not requests:
        return {}
    with engine.begin() as conn:
        return ensure_codes(conn, requests, now)


def sample_promo(loaded: LoadedConfig, campaign: str, now: datetime) -> Promo | None:
    """For previews, test sends and validate: obviously not a real code, never stored."""
    config = loaded.config.campaigns[campaign].promo
    if config is None:
        return None
    return Promo(config.prefix + "X" * config.length, now + config.valid_for, config.discount)


def newest_carts(conn: Connection, customer_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Each customer's newest cart (the one the abandoned-cart trigger is about)."""
    if not customer_ids:
        return {}
    out: dict[str, dict[str, Any]] = {}
    query = (select(carts.c.id, carts.c.customer_id, carts.c["items"], carts.c.total,
                    carts.c.currency, carts.c.updated_at)
             .where(carts.c.customer_id.in_(sorted(set(customer_ids))))
             .order_by(carts.c.updated_at, carts.c.id))
    for row in conn.execute(query):
        out[row.customer_id] = {"id": row.id, "items": list(row.items or []),
                                "total": row.total, "currency": row.currency or "",
                                "updated_at": row.updated_at}
    return out


SAMPLE_CART = {"id": "sample-cart", "total": 1350, "currency": "UAH", "updated_at": None,
               "items": [{"sku": "rose-red", "name": "Троянди червоні", "qty": 3, "price": 450},
                         {"sku": "card", "name": "Листівка", "qty": 1, "price": 0}]}
