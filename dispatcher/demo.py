"""``dispatcher demo``: a synthetic shop, every campaign run once, and who got what.

The shop is generated with a fixed seed into its own SQLite file next to the config
(customers with locales and time zones, a year of orders, carts, consents, phone
numbers and Telegram chats), with cohorts planted so that every mechanic has
someone to reach: first orders today, carts abandoned hours ago, birthdays today,
lapsed buyers, 5th orders, deliveries a week ago, big spenders. Every campaign is
then planned once (a sequence: its first step) and sent through the file
transports, so nothing leaves the machine.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, select

from channels.registry import validate_settings

from .app import latest_fire_time
from .config.load import LoadedConfig
from .importer.rows import CartRow, CustomerRow, OrderRow
from .importer.write import write_carts, write_customers, write_orders
from .mechanics.sequences import step_times
from .planner import plan_run
from .store.schema import outbox

FIRST = {"uk": ["Олена", "Андрій", "Марія", "Тарас", "Ірина", "Богдан", "Оксана", "Дмитро"],
         "en": ["Jane", "John", "Emma", "Liam", "Olivia", "Noah", "Ava", "Lucas"]}
LAST = {"uk": ["Коваленко", "Шевченко", "Бондар", "Ткаченко", "Мельник", "Кравчук"],
        "en": ["Smith", "Brown", "Taylor", "Wilson", "Clark", "Walker"]}
ZONES = ["Europe/Kyiv"] * 6 + ["Europe/Warsaw", "Europe/London", "America/New_York",
                               "Asia/Tokyo"]
FLOWERS = [("rose-red", "Троянди червоні", 450), ("tulip", "Тюльпани", 300),
           ("peony", "Півонії", 650), ("card", "Листівка", 50)]
COHORTS = ("newbie", "cart", "birthday", "lapsed", "fifth", "delivered", "vip", "regular")


@dataclass
class DemoShop:
    customers: list[CustomerRow] = field(default_factory=list)
    orders: list[OrderRow] = field(default_factory=list)
    carts: list[CartRow] = field(default_factory=list)


def generate(count: int, now: datetime, seed: int = 7) -> DemoShop:
    rng = random.Random(seed)
    shop = DemoShop()
    order_no = 0

    def order(cid: str, placed: datetime, delivered: datetime | None = None,
              total: float | None = None) -> None:
        nonlocal order_no
        order_no += 1
        amount = Decimal(str(total if total is not None else rng.randrange(300, 3000, 50)))
        shop.orders.append(OrderRow(id=f"o{order_no:06d}", customer_id=cid, placed_at=placed,
                                    total=amount, currency="UAH", delivered_at=delivered,
                                    status="delivered" if delivered else "placed"))

    for index in range(count):
        cid = f"c{index:05d}"
        cohort = COHORTS[index % len(COHORTS)]
        locale = "uk" if rng.random() < 0.7 else "en"
        zone = rng.choice(ZONES)
        consent = rng.choices(["yes", "no", ""], [80, 10, 10])[0]
        local_today = now.replace(tzinfo=_utc()).astimezone(_zone(zone)).date()
        birthday = _birthday(rng, local_today, cohort == "birthday")
        shop.customers.append(CustomerRow(
            id=cid, name=f"{rng.choice(FIRST[locale])} {rng.choice(LAST[locale])}",
            locale=locale, timezone=zone, birthday=birthday,
            email=f"{cid}@demo.example" if rng.random() < 0.9 else None,
            email_consent=consent or None,
            phone=f"+38050{index:07d}" if rng.random() < 0.5 else None,
            sms_consent="yes" if rng.random() < 0.6 else None,
            telegram_chat_id=str(100000 + index) if rng.random() < 0.25 else None,
            telegram_consent="yes",
            created_at=now - timedelta(days=400),
        ))
        if cohort == "newbie":
            order(cid, now - timedelta(hours=rng.randint(1, 20)))
        elif cohort == "lapsed":
            for _ in range(rng.randint(1, 4)):
                order(cid, now - timedelta(days=rng.randint(95, 360)))
        elif cohort == "fifth":
            for n in range(4):
                order(cid, now - timedelta(days=300 - 60 * n))
            order(cid, now - timedelta(hours=rng.randint(1, 30)))
        elif cohort == "delivered":
            order(cid, now - timedelta(days=10), now - timedelta(days=7, hours=rng.randint(1, 20)))
        elif cohort == "vip":
            for n in range(rng.randint(8, 18)):
                order(cid, now - timedelta(days=20 + 20 * n), total=rng.randrange(1200, 2500, 50))
        elif cohort in ("regular", "birthday", "cart"):
            for _ in range(rng.randint(0, 3)):
                order(cid, now - timedelta(days=rng.randint(10, 80)))
        if cohort == "cart":
            picked = rng.sample(FLOWERS, 2)
            quantities = [rng.randint(1, 3) for _ in picked]
            items = [{"sku": sku, "name": name, "qty": qty, "price": price}
                     for (sku, name, price), qty in zip(picked, quantities, strict=True)]
            total = sum(qty * price for (_, _, price), qty in zip(picked, quantities,
                                                                  strict=True))
            shop.carts.append(CartRow(id=f"k{index:05d}", customer_id=cid,
                                      updated_at=now - timedelta(hours=rng.randint(3, 40)),
                                      total=Decimal(total), currency="UAH", items=items))
    return shop


def _utc() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("UTC")


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def _birthday(rng: random.Random, today: date, is_today: bool) -> date | None:
    if is_today:
        return today.replace(year=rng.randint(1970, 2004)) if not (
            today.month == 2 and today.day == 29) else date(1992, 2, 29)
    if rng.random() < 0.3:
        return None
    return date(rng.randint(1970, 2004), rng.randint(1, 12), rng.randint(1, 28))


def load_shop(engine: Engine, shop: DemoShop, now: datetime) -> None:
    with engine.begin() as conn:
        write_customers(conn, shop.customers, now)
        write_orders(conn, shop.orders, now)
        write_carts(conn, shop.carts, now)


def use_file_transports(loaded: LoadedConfig, outbox_dir: str) -> None:
    """Every channel writes files: a demo never reaches a real person."""
    for name in list(loaded.channel_settings):
        loaded.channel_settings[name] = validate_settings(
            name, {"transport": "file", "outbox_dir": outbox_dir})


def plan_all(engine: Engine, loaded: LoadedConfig, now: datetime) -> list[str]:
    """Plan each enabled campaign once; a sequence plans its first step."""
    planned = []
    # Higher priority first, as run-once does: it gets the room under shared caps.
    ordered = sorted(loaded.config.campaigns.items(), key=lambda item: -item[1].priority)
    for name, campaign in ordered:
        if not campaign.enabled:
            continue
        times = step_times(campaign, loaded.config.timezone)
        if times:
            plan_run(engine, loaded, name, times[0].at, now, step=times[0].step.name)
        else:
            plan_run(engine, loaded, name, latest_fire_time(loaded, name, now), now)
        planned.append(name)
    return planned


def summary(engine: Engine) -> dict[str, dict[str, int]]:
    """Per campaign: 'sent via email' / 'skipped: no_consent' / ... -> count."""
    query = (select(outbox.c.campaign, outbox.c.status, outbox.c.channel, outbox.c.reason,
                    func.count())
             .group_by(outbox.c.campaign, outbox.c.status, outbox.c.channel, outbox.c.reason))
    out: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        for campaign, status, channel, reason, count in conn.execute(query):
            if status == "sent":
                label = f"sent via {channel}"
            elif status == "pending":
                label = "waiting for the customer's quiet hours to end"
            else:
                label = f"{status}: {reason or '-'}"
            bucket = out.setdefault(campaign, {})
            bucket[label] = bucket.get(label, 0) + int(count)
    return out
