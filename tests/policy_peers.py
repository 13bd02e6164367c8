"""Shared setup for the policy tests: a shop with email over real SMTP, the web app
served by uvicorn on loopback, and small readers of the store."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import uvicorn
from sqlalchemy import Engine, create_engine, select

from dispatcher.app import load
from dispatcher.links import LinkClaims, make_token
from dispatcher.store.db import address_hash
from dispatcher.store.schema import addresses, outbox, suppressions
from dispatcher.web.app import WebState, create_app

from .shop import Shop
from .smtp_server import email_channel
from .support.ports import free_port

NOW = datetime.now(UTC).replace(tzinfo=None, microsecond=0)

SEGMENTS = """
everyone:
  id: {starts_with: c}
"""


def campaign(name: str, **extra: str) -> str:
    """A campaign's YAML; the win_back templates, everyone, email, 11:00 unless told."""
    settings = {"segment": "everyone", "channels": "[email]", "template": "win_back",
                "schedule": '"0 11 * * *"', **extra}
    lines = [f"{name}:"] + [f"  {key}: {value}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def setup_shop(shop: Shop, smtp_port: int, campaigns: str, policy: str = "",
               customers: list[dict[str, Any]] | None = None) -> None:
    shop.write_config(email_channel(smtp_port), SEGMENTS, campaigns)
    if policy:
        with open(shop.config_path, "a", encoding="utf-8") as fh:
            fh.write(policy.strip("\n") + "\n")
    shop.copy_templates("win_back")
    rows = customers if customers is not None else [
        {"id": "c1", "name": "Олена Коваленко", "locale": "uk", "email": "olena@example.com",
         "email_consent": "yes"},
        {"id": "c2", "name": "Jane Doe", "locale": "en", "email": "jane@example.com",
         "email_consent": "yes"},
    ]
    shop.cli("import", "customers", str(shop.csv("customers.csv", rows)))


def engine_of(shop: Shop) -> Engine:
    return create_engine(shop.db_url())


def outbox_rows(shop: Shop) -> list[Any]:
    engine = engine_of(shop)
    with engine.connect() as conn:
        rows = list(conn.execute(select(outbox).order_by(outbox.c.id)))
    engine.dispose()
    return rows


def suppressed_hashes(shop: Shop) -> dict[str, str]:
    engine = engine_of(shop)
    with engine.connect() as conn:
        found = {h: reason for h, reason in conn.execute(
            select(suppressions.c.address_hash, suppressions.c.reason))}
    engine.dispose()
    return found


def consent_of(shop: Shop, customer_id: str) -> str | None:
    engine = engine_of(shop)
    with engine.connect() as conn:
        value = conn.execute(select(addresses.c.consent).where(
            addresses.c.customer_id == customer_id)).scalar()
    engine.dispose()
    return value


def token_for(customer_id: str, email: str, campaign_name: str = "win_back") -> str:
    return make_token(LinkClaims(customer_id, "email", address_hash("email", email),
                                 campaign_name))


def web_state(shop: Shop) -> WebState:
    from dispatcher.app import open_store

    loaded = load(str(shop.config_path))
    return WebState(loaded, open_store(loaded), {})


@contextmanager
def serve(state: WebState) -> Iterator[str]:
    """The dispatcher's web app under uvicorn on a free loopback port."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(state), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def iso(moment: datetime) -> str:
    return moment.isoformat()


def days_ago(days: float) -> str:
    return iso(NOW - timedelta(days=days))
