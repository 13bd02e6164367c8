"""A shop with the web push channel pointed at a loopback push service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine

from channels.webpush_hosts import UNSAFE_DEV_ENV as DEV_PUSH_ENV
from channels.webpush_hosts import PushHostPolicy
from channels.webpush_vapid import KeyPair, generate_key_pair
from dispatcher.push.subscriptions import parse_subscription, save_subscription

from .push_service import PushService, Subscriber
from .shop import Shop

NOW = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
# What the push channel of these shops allows: the push services, and the loopback one.
LOOPBACK_POLICY = PushHostPolicy.build(unsafe_dev_origins=["http://127.0.0.1:*"])

PUSH_JSON = """\
{
  "title": "{{ customer.first_name or 'Hi' }}, we miss you",
  "body": "Your {{ orders_count }} orders mean a lot. Come back for -15%.",
  "url": "{{ shop.url }}/back?c={{ campaign.name }}",
  "icon": "{{ shop.url }}/icon.png"
}
"""

SEGMENTS = """
buyers:
  orders_count: {gte: 1}
"""


def push_channel(extra: str = "") -> str:
    return f"""
push:
  vapid_private_key: ${{VAPID_PRIVATE_KEY}}
  vapid_subject: mailto:ops@shop.test
  ttl: 2h
  urgency: high
  concurrency: 2
  retry_base: 1s
  # the loopback push service of tests/push_service.py (needs the environment variable
  # DEV_PUSH_ENV too: see setup_shop)
  unsafe_dev_push_services: ["http://127.0.0.1:*"]
{extra}"""


def campaigns(*names: str) -> str:
    # The links arrive as written (link tracking has its own tests: test_tracking_*).
    return "\n".join(f"""
{name}:
  segment: buyers
  channels: [push]
  once_per: customer
  track_clicks: false
  utm: false
""" for name in names)


def setup_shop(shop: Shop, monkeypatch: pytest.MonkeyPatch, customers: list[dict[str, str]],
               names: tuple[str, ...] = ("comeback",), push_json: str = PUSH_JSON,
               channel_extra: str = "") -> KeyPair:
    """Config, templates, customers with one order each; returns the VAPID pair in use."""
    pair = generate_key_pair()
    monkeypatch.setenv("VAPID_PRIVATE_KEY", pair.private_key)
    monkeypatch.setenv(DEV_PUSH_ENV, "1")
    shop.write_config(push_channel(channel_extra), SEGMENTS, campaigns(*names))
    for name in names:
        shop.template(f"{name}/push.json", push_json)
    shop.cli("import", "customers", str(shop.csv("customers.csv", customers)))
    orders = [{"id": f"o-{c['id']}", "customer_id": c["id"],
               "placed_at": (NOW - timedelta(days=10)).isoformat(), "total": "10",
               "currency": "EUR"} for c in customers]
    shop.cli("import", "orders", str(shop.csv("orders.csv", orders)))
    return pair


def subscribe(shop: Shop, customer_id: str, subscriber: Subscriber,
              at: datetime | None = None) -> None:
    """Store a subscription the way the subscribe endpoint does."""
    engine = create_engine(shop.db_url())
    save_subscription(engine, customer_id,
                      parse_subscription(subscriber.subscription(), LOOPBACK_POLICY),
                      at or NOW, "Get offers as notifications")
    engine.dispose()


__all__ = ["NOW", "PushService", "setup_shop", "subscribe"]
