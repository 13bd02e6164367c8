"""Helpers for the mechanics tests: a shop on a real SMTP server, ticks at given times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, select

from dispatcher.store.schema import outbox

from .shop import Shop
from .smtp_server import SMTPServer
from .smtp_server import email_channel as smtp_email_channel

# Every tick happens at or before the real now: the sender sends rows whose
# not_before (the tick time) has passed on the real clock.
NOW = datetime.now(UTC).replace(tzinfo=None, second=0, microsecond=0)


def at(**kw: float) -> datetime:
    return NOW - timedelta(**kw)


def iso(moment: datetime) -> str:
    return moment.isoformat()


def email_channel(port: int) -> str:
    return smtp_email_channel(port, concurrency=None)  # the channel's default concurrency


def simple_templates(shop: Shop, folder: str, subject: str, body: str = "") -> None:
    shop.template(f"{folder}/email.subject", subject)
    shop.template(f"{folder}/email.txt", body or subject)


def customers(shop: Shop, ids: list[str], **extra: Any) -> None:
    rows = [{"id": cid, "name": cid.title(), "locale": "en", "email": f"{cid}@example.com",
             "email_consent": "yes", **extra} for cid in ids]
    shop.cli("import", "customers", str(shop.csv("customers.csv", rows)))


def orders(shop: Shop, rows: list[dict[str, Any]], name: str = "orders.csv") -> None:
    full = [{"currency": "UAH", "total": "100", **r} for r in rows]
    for r in full:
        for key in ("placed_at", "delivered_at"):
            if isinstance(r.get(key), datetime):
                r[key] = iso(r[key])
    shop.cli("import", "orders", str(shop.csv(name, full)))


def carts(shop: Shop, rows: list[dict[str, Any]], name: str = "carts.csv") -> None:
    full = [{**r, "updated_at": iso(r["updated_at"])} for r in rows]
    shop.cli("import", "carts", str(shop.jsonl(name.replace(".csv", ".jsonl"), full)))


def tick(shop: Shop, campaign: str, when: datetime) -> Any:
    return shop.cli("run-once", campaign, "--at", iso(when), "--wait-retries", "0")


def received(smtp: SMTPServer) -> list[tuple[str, str]]:
    """(recipient, subject) of every message the SMTP server got, in order."""
    return [(r.rcpt_tos[0], str(r.message["Subject"])) for r in smtp.handler.received]


def outbox_rows(shop: Shop) -> list[Any]:
    engine = create_engine(shop.db_url())
    with engine.connect() as conn:
        rows = conn.execute(select(outbox).order_by(outbox.c.id)).all()
    engine.dispose()
    return list(rows)
