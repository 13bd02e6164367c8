"""Shared setup for the link-tracking tests: a shop whose messages carry several kinds of
links, the dispatcher's web app on loopback, a shop site that records where browsers
land, and readers of the click tables."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine, create_engine, select

from dispatcher.store.schema import clicks, opens, outbox, tracked_links
from dispatcher.web.state import WebState

from .http_peer import HttpPeer, Reply, Request
from .policy_peers import serve as serve_state
from .policy_peers import web_state
from .shop import Shop
from .smtp_server import email_channel

SEGMENTS = """
everyone:
  id: {starts_with: c}
"""

# A shop link with a query and a fragment (and an escaped & in the HTML), another host,
# a mailto, and the unsubscribe and preference links that must never be rewritten.
EMAIL_HTML = """<html><body><p>Hi {{ customer.first_name }},</p>
<p><a href="{{ shop.url }}/new?sort=price&amp;page=2#top">New arrivals</a></p>
<p><a class="button" href='https://partner.example/offer?id=7'>Partner offer</a></p>
<p><a href="mailto:help@shop.test">Write to us</a></p>
<p><a href="{{ unsubscribe_url }}">Unsubscribe</a> |
<a href="{{ preferences_url }}">Preferences</a></p></body></html>
"""
EMAIL_TEXT = """Hi {{ customer.first_name }},
New arrivals: {{ shop.url }}/new?sort=price&page=2#top.
Partner offer (https://partner.example/offer?id=7)
Unsubscribe: {{ unsubscribe_url }}
"""
SMS_TEXT = "{{ shop.name }}: new arrivals {{ shop.url }}/new Reply STOP to opt out"
TELEGRAM_HTML = '<b>Hi!</b> <a href="{{ shop.url }}/new">New arrivals</a>'
TELEGRAM_BUTTON = "Open the shop | {{ shop.url }}/?from=tg"
PUSH_JSON = """{"title": "New arrivals", "body": "Have a look",
 "url": "{{ shop.url }}/new?utm_source=push_own", "icon": "{{ shop.url }}/icon.png"}"""

CUSTOMERS = [
    {"id": "c1", "name": "Олена Коваленко", "locale": "uk", "email": "olena@example.com",
     "email_consent": "yes"},
    {"id": "c2", "name": "Jane Doe", "locale": "en", "email": "jane@example.com",
     "email_consent": "yes"},
]


def campaign(name: str = "news", **extra: str) -> str:
    settings = {"segment": "everyone", "channels": "[email]", "schedule": '"0 11 * * *"',
                **extra}
    return "\n".join([f"{name}:"] + [f"  {k}: {v}" for k, v in settings.items()]) + "\n"


def templates(shop: Shop, folder: str = "news") -> None:
    shop.template(f"{folder}/email.subject", "News for {{ customer.first_name }}")
    shop.template(f"{folder}/email.html", EMAIL_HTML)
    shop.template(f"{folder}/email.txt", EMAIL_TEXT)
    shop.template(f"{folder}/sms.txt", SMS_TEXT)
    shop.template(f"{folder}/telegram.html", TELEGRAM_HTML)
    shop.template(f"{folder}/telegram.button", TELEGRAM_BUTTON)
    shop.template(f"{folder}/push.json", PUSH_JSON)


def setup(shop: Shop, channels: str, campaigns: str, *, shop_url: str = "https://shop.test",
          public_url: str = "http://127.0.0.1:8080", extra: str = "",
          customers: list[dict[str, Any]] | None = None) -> None:
    shop.write_config(channels, SEGMENTS, campaigns)
    text = shop.config_path.read_text(encoding="utf-8")
    text = text.replace("url: https://shop.test", f"url: {shop_url}")
    text = text.replace("public_url: http://127.0.0.1:8080", f"public_url: {public_url}")
    shop.config_path.write_text(text + extra, encoding="utf-8")
    templates(shop)
    shop.cli("import", "customers", str(shop.csv("customers.csv", customers or CUSTOMERS)))


def email_setup(shop: Shop, smtp_port: int, campaigns: str, **kwargs: Any) -> None:
    setup(shop, email_channel(smtp_port), campaigns, **kwargs)


def engine_of(shop: Shop) -> Engine:
    return create_engine(shop.db_url())


def rows(shop: Shop, table: Any) -> list[Any]:
    engine = engine_of(shop)
    with engine.connect() as conn:
        found = list(conn.execute(select(table)))
    engine.dispose()
    return found


def outbox_of(shop: Shop) -> dict[str, Any]:
    """Outbox rows by customer id."""
    return {row.customer_id: row for row in rows(shop, outbox)}


def click_rows(shop: Shop) -> list[Any]:
    return rows(shop, clicks)


def open_rows(shop: Shop) -> list[Any]:
    return rows(shop, opens)


def destinations(shop: Shop) -> dict[tuple[int, int], str]:
    return {(r.outbox_id, r.link): r.url for r in rows(shop, tracked_links)}


TRACKED = re.compile(r"https?://[^\s\"'<>]+/c/[A-Za-z0-9_-]{20}")


def tracked_links_in(text: str) -> list[str]:
    return TRACKED.findall(text)


def path_of(url: str) -> str:
    return urlsplit(url).path


@contextmanager
def serve(shop: Shop) -> Iterator[tuple[str, WebState]]:
    """The dispatcher's web app under uvicorn on loopback; on exit the server stops and
    the state closes (queued clicks are written), as the daemon does at shutdown."""
    state = web_state(shop)
    try:
        with serve_state(state) as base:
            yield base, state
    finally:
        state.close()
        state.engine.dispose()


@contextmanager
def shop_site() -> Iterator[tuple[str, list[str]]]:
    """The shop's own web site on loopback: (origin, paths requested so far)."""
    seen: list[str] = []

    def page(request: Request) -> Reply:
        seen.append(request.path)
        return 200, {"page": "Welcome to the shop"}, {}

    with HttpPeer(page) as peer:
        yield peer.url, seen
