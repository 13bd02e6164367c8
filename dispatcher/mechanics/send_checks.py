"""Send-time hooks of the mechanics: drop what expired, issue promo codes in the
claiming transaction (so a code exists exactly when its row is being sent)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select

from dispatcher.config.load import LoadedConfig
from dispatcher.config.mechanics import PromoConfig
from dispatcher.config.models import CampaignConfig
from dispatcher.mechanics.promo import Promo, PromoRequest, ensure_codes
from dispatcher.mechanics.sequences import find_step
from dispatcher.store.schema import carts


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
        config = promo_config(campaign, row.step or "") if campaign is not None else None
        if config is None:
            continue
        requests.append(PromoRequest(int(row.id), row.campaign, row.step or "",
                                     row.customer_id, config))
    if not requests:
        return {}
    with engine.begin() as conn:
        return ensure_codes(conn, requests, now)


def promo_config(campaign: CampaignConfig, step: str) -> PromoConfig | None:
    """The code a message of this campaign (step) carries, if any."""
    found = find_step(campaign, step) if step else None
    if campaign.promo is None or (found is not None and not found.promo):
        return None
    return campaign.promo


def sample_promo(loaded: LoadedConfig, campaign: str, now: datetime,
                 step: str = "") -> Promo | None:
    """For previews, test sends, validate and plan: obviously not a real code, never
    stored, of the real code's length (``X`` is one GSM-7 character, like every letter
    and digit of a code's alphabet, so an SMS is measured in its real length); issued
    ``now`` (the moment the message would be sent)."""
    config = promo_config(loaded.config.campaigns[campaign], step)
    if config is None:
        return None
    return Promo(config.prefix + "X" * config.length, now + config.valid_for, config.discount)


def describe_stand_in(config: PromoConfig) -> str:
    """How a stand-in code is described to the person reading a preview or a plan."""
    prefix = f"{config.prefix} + " if config.prefix else ""
    return (f"promo codes are stand-ins of the real length ({prefix}{config.length} "
            f"characters); the real ones are issued when the messages are sent")


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
