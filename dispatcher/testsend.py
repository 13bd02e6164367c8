"""Preview and test-send: the real rendered message for one customer, outside the ledger."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy import Engine, select

from channels.base import RenderedMessage
from channels.registry import build_channel

from .config.load import LoadedConfig
from .context import OrderStats
from .experiments.assign import assign
from .mechanics.send_checks import newest_carts, sample_promo
from .mechanics.sequences import preview_step
from .messages import MessageBuilder
from .recipients import load_customers, load_stats
from .store.db import address_hash, normalize_address, utcnow
from .store.schema import addresses, test_sends


def _pick_address(conn: Any, loaded: LoadedConfig, campaign: str, customer_id: str,
                  channel: str | None) -> Any:
    order = [channel] if channel else loaded.campaign_channels(campaign)
    rows = conn.execute(select(addresses).where(addresses.c.customer_id == customer_id,
                                                addresses.c.channel.in_(order))).all()
    for name in order:
        for row in rows:
            if row.channel == name:
                return row
    return None


def render_for(engine: Engine, loaded: LoadedConfig, campaign: str, customer_id: str,
               channel: str | None = None, to: str | None = None) -> RenderedMessage:
    with engine.connect() as conn:
        customer = load_customers(conn, [customer_id]).get(customer_id)
        if customer is None:
            raise LookupError(f"unknown customer {customer_id!r}")
        stats = load_stats(conn, [customer_id]).get(customer_id, OrderStats())
        address = _pick_address(conn, loaded, campaign, customer_id, channel)
        cart = newest_carts(conn, [customer_id]).get(customer_id)
    chosen = channel or (address.channel if address is not None
                         else loaded.campaign_channels(campaign)[0])
    if to is not None and chosen == "push":
        address = _push_test_target(engine, to)
    elif to is not None:
        address = SimpleNamespace(channel=chosen, address=normalize_address(chosen, to),
                                  address_hash=address_hash(chosen, to),
                                  data=address.data if address is not None else None)
    elif address is None:
        address = SimpleNamespace(channel=chosen, address=f"<no {chosen} address on file>",
                                  address_hash="", data=None)
    now = utcnow()
    step, _ = preview_step(loaded, campaign, now, now)  # a sequence: its current step
    # The customer's own A/B arm, so a preview shows what they would get (a holdout
    # customer gets nothing; they are previewed with the campaign's own message).
    variant = assign(campaign, loaded.config.campaigns[campaign], customer_id)
    return MessageBuilder(loaded).build(
        campaign, chosen, customer, stats, address, None, is_test=to is not None,
        promo=sample_promo(loaded, campaign, now), cart=cart, step=step, variant=variant)


def _push_test_target(engine: Engine, endpoint: str) -> Any:
    """A push test goes to a subscription on file (e.g. the marketer's own browser,
    subscribed as a test customer): only its keys can encrypt a message it can read."""
    with engine.connect() as conn:
        row = conn.execute(select(addresses).where(
            addresses.c.channel == "push",
            addresses.c.address_hash == address_hash("push", endpoint))).first()
    if row is None:
        raise LookupError("no push subscription on file with that endpoint: subscribe the "
                          "test browser first (the endpoint alone cannot be encrypted to)")
    return row


async def send_test(engine: Engine, loaded: LoadedConfig, campaign: str, customer_id: str,
                    to: str, channel: str | None = None) -> str:
    """Send to ``to``, marked as a test; recorded in test_sends, never in the outbox."""
    message = render_for(engine, loaded, campaign, customer_id, channel, to)
    adapter = build_channel(message.channel, loaded.channel_settings[message.channel],
                            loaded.base_dir)
    try:
        provider_id = await adapter.send(message)
    finally:
        await adapter.aclose()
    with engine.begin() as conn:
        conn.execute(test_sends.insert().values(campaign=campaign, customer_id=customer_id,
                                                channel=message.channel, provider_id=provider_id,
                                                created_at=utcnow()))
    return provider_id
