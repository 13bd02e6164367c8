"""Preview and test-send: the real rendered message for one customer, outside the ledger.

``preview`` shows what ``run-once`` would do: the planner's verdict on the customer
(dispatcher/plan/one_customer.py) and the message on the channel it picks (or ``--channel``),
rendered through the sender's one render path with the sender's inputs: the customer's
A/B arm, the step, their newest cart, a stand-in promo code of the real length.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Engine, select

from channels.base import RenderedMessage
from channels.registry import build_channel
from dispatcher.clock import utcnow
from dispatcher.config.load import LoadedConfig
from dispatcher.experiments.assign import assign
from dispatcher.mechanics.send_checks import newest_carts, promo_config, sample_promo
from dispatcher.mechanics.sequences import preview_step
from dispatcher.message.builder import MessageBuilder
from dispatcher.plan.one_customer import Verdict, address_for, describe, plan_for
from dispatcher.render.context import OrderStats
from dispatcher.render.recipients import load_customers, load_stats
from dispatcher.store.db import address_hash, normalize_address
from dispatcher.store.schema import addresses, test_sends


@dataclass
class Preview:
    verdict: Verdict
    message: RenderedMessage
    notes: list[str] = field(default_factory=list)  # what run-once would do; stand-ins


def preview_for(engine: Engine, loaded: LoadedConfig, campaign: str, customer_id: str,
                channel: str | None, now: datetime) -> Preview:
    """The message ``run-once`` would send ``customer_id`` now, and what it would do."""
    with engine.connect() as conn:
        customer = load_customers(conn, [customer_id]).get(customer_id)
        if customer is None:
            raise LookupError(f"unknown customer {customer_id!r}")
    verdict = plan_for(engine, loaded, campaign, customer_id, now)
    shown = channel or verdict.channel or verdict.order[0]
    with engine.connect() as conn:
        stats = load_stats(conn, [customer_id]).get(customer_id, OrderStats())
        cart = newest_carts(conn, [customer_id]).get(customer_id)
        address = address_for(conn, customer_id, shown) \
            if shown != verdict.channel or verdict.address_id is None else \
            conn.execute(select(addresses).where(addresses.c.id == verdict.address_id)).first()
    if address is None:
        address = SimpleNamespace(channel=shown, address=f"<no {shown} address on file>",
                                  address_hash="", data=None)
    # Sent at the planned time: a code issued then, valid from then.
    sent_at = max(now, verdict.not_before or now)
    promo = sample_promo(loaded, campaign, sent_at, verdict.step)
    builder = MessageBuilder(loaded)

    def build(sample: bool) -> RenderedMessage:
        return builder.build(campaign, shown, customer, stats, address, None, promo=promo,
                             cart=cart, step=verdict.step, variant=verdict.variant,
                             sample=sample)

    message = build(sample=False)  # links untracked: a preview's clicks count nowhere
    notes = describe(verdict, loaded, channel, customer.timezone)
    notes += _as_sent(loaded, campaign, message, lambda: build(sample=True))
    config = promo_config(loaded.config.campaigns[campaign], verdict.step)
    if promo is not None and config is not None:
        notes.append(f"promo code {promo.code} is a stand-in of the real code's length "
                     f"({config.length} characters after the prefix); the real one is "
                     "issued when the message is sent")
    if verdict.variant is not None:
        notes.append(f"A/B arm: {verdict.variant}")
    return Preview(verdict, message, notes)


def _as_sent(loaded: LoadedConfig, campaign: str, message: RenderedMessage,
             tracked: Any) -> list[str]:
    """An SMS or a push is measured as it goes out, with its links tracked (the billed
    length, the payload size), and checked against the channel's send-time limit."""
    if message.channel not in ("sms", "push"):
        return []
    sent = tracked() if loaded.config.campaigns[campaign].tracks_clicks else message
    lines = []
    if sent.data.get("preview_lines") != message.data.get("preview_lines"):
        lines.append("as sent, with its links tracked: "
                     + " ".join(str(x) for x in sent.data.get("preview_lines", [])[:1]))
    skip = loaded.channel_settings[message.channel].send_time_skip(sent)
    if skip:
        lines.append(f"run-once would skip it at send time: {skip}")
    return lines


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
