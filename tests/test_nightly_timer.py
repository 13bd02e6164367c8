"""The shipped one-shot deployment delivers: deploy/dispatcher-nightly.timer's fire
times, run against the shipped quiet hours on a simulated clock over several days,
with customers in many time zones, deliver every planned message exactly once, inside
each customer's allowed hours.

The timer's OnCalendar= lines and RandomizedDelaySec=, the service's run-once
arguments, the shipped quiet_hours and timezone are all read from the shipped files:
change one and this test judges the change.
"""

from __future__ import annotations

import itertools
import random
import shlex
import subprocess
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from channels.durations import parse_duration
from dispatcher.clock import clock_at
from dispatcher.config.load import load_config
from dispatcher.config.policy_models import SendWindow
from dispatcher.store.schema import outbox

from .policy_peers import engine_of
from .shop import ROOT, Shop
from .smtp_server import SMTPServer, email_channel
from .systemd_calendar import fire_times
from .test_deploy_units import directives

UTC = ZoneInfo("UTC")
SHIPPED = load_config(ROOT / "config.yaml").config
SHOP_ZONE = SHIPPED.timezone
TIMER = directives("dispatcher-nightly.timer")

# Customers around the world; "" is the shop's own zone (no timezone on file).
ZONES = ["Europe/Kyiv", "", "Europe/Warsaw", "America/New_York", "America/Los_Angeles",
         "Asia/Tokyo", "Asia/Kolkata", "Pacific/Auckland"]
CAMPAIGNS = """
daily:
  segment: everyone
  template: win_back
  channels: [email]
  schedule: "0 11 * * *"
  once_per: run
cart_reminder:
  segment: everyone
  template: win_back
  channels: [email]
  trigger: {cart_abandoned: {idle: [2h, 48h]}}
  schedule: "*/20 * * * *"
  once_per: cart
"""
# Three days across the night Europe switches to summer time (2026-03-29).
START = datetime(2026, 3, 28, tzinfo=ZoneInfo(SHOP_ZONE)).astimezone(UTC)
DAYS = 3


def service_arguments() -> list[str]:
    """The arguments the shipped one-shot service gives `dispatcher`."""
    [line] = directives("dispatcher-nightly.service")["ExecStart"]
    argv = shlex.split(line)
    assert argv[0].endswith("/dispatcher") and argv[1] == "run-once", line
    return argv[1:]


def window_text(window: SendWindow) -> str:
    return f'"{window.start:%H:%M}-{window.end:%H:%M}"'


def shipped_quiet_hours() -> str:
    quiet = SHIPPED.quiet_hours
    lines = ["quiet_hours:"]
    if quiet.allowed is not None:
        lines.append(f"  allowed: {window_text(quiet.allowed)}")
    if quiet.channels:
        lines.append("  channels:")
        lines += [f"    {name}: {window_text(w)}" for name, w in quiet.channels.items()]
    return "\n".join(lines) + "\n"


def build_shop(shop: Shop, smtp: SMTPServer) -> None:
    policy = shipped_quiet_hours()
    shop.write_config(email_channel(smtp.port), "everyone:\n  id: {starts_with: c}\n",
                      CAMPAIGNS)
    text = shop.config_path.read_text(encoding="utf-8").replace(
        "timezone: Europe/Kyiv", f"timezone: {SHOP_ZONE}")
    shop.config_path.write_text(text + policy, encoding="utf-8")
    shop.copy_templates("win_back")
    people = [{"id": f"c{i}", "name": f"Customer {i}", "locale": "en",
               "timezone": zone, "email": f"c{i}@example.com", "email_consent": "yes",
               "consent_at": "2025-01-01T00:00:00Z"} for i, zone in enumerate(ZONES)]
    shop.cli("import", "customers", str(shop.csv("customers.csv", people)))
    # A cart each, left at all hours of the day (UTC) over the first two days
    carts = [{"id": f"cart-{i}", "customer_id": f"c{i}",
              "updated_at": (START + timedelta(days=i % 2, hours=(7 * i + 3) % 24))
              .strftime("%Y-%m-%dT%H:%M:%SZ"),
              "total": "100.00", "currency": "UAH", "items": "[]"}
             for i in range(len(ZONES))]
    shop.cli("import", "carts", str(shop.csv("carts.csv", carts)))


def zone_of(customer_id: str) -> ZoneInfo:
    return ZoneInfo(ZONES[int(customer_id[1:])] or SHOP_ZONE)


def test_shipped_timer_delivers_every_message_once_inside_quiet_hours(
        shop: Shop, smtp: SMTPServer) -> None:
    build_shop(shop, smtp)
    window = SHIPPED.quiet_hours.window_for("email")
    assert window is not None, "the shipped config has quiet hours"
    delay = parse_duration(TIMER.get("RandomizedDelaySec", ["0s"])[0]).total_seconds()
    # The machine runs in the shop's zone; systemd reads OnCalendar= in that zone.
    fires = fire_times(TIMER["OnCalendar"], START, START + timedelta(days=DAYS), SHOP_ZONE)
    assert fires, TIMER["OnCalendar"]
    jitter = random.Random(13)
    arguments = service_arguments()
    delivered_at: dict[int, datetime] = {}
    copies: Counter[int] = Counter()

    # When each timer elapse runs the shipped service's command at that moment
    for fire in fires:
        at = (fire + timedelta(seconds=jitter.uniform(0, delay))).replace(tzinfo=None)
        seen = len(smtp.handler.received)
        shop.cli(*arguments, clock=clock_at(at))
        for item in smtp.handler.received[seen:]:
            outbox_id = int(str(item.message["Message-ID"]).split(".")[1])
            copies[outbox_id] += 1
            delivered_at.setdefault(outbox_id, at)

    engine = engine_of(shop)
    with engine.connect() as conn:
        rows = conn.execute(select(outbox.c.id, outbox.c.campaign, outbox.c.customer_id,
                                   outbox.c.status, outbox.c.not_before)).all()
    engine.dispose()
    planned = [row for row in rows if row.status not in ("skipped", "held_out")]
    print(f"\nnightly simulation: {DAYS} days, {len(fires)} passes "
          f"({', '.join(TIMER['OnCalendar'])}, machine in {SHOP_ZONE}), "
          f"{len(ZONES)} customer zones; planned {len(planned)} "
          f"({dict(Counter(r.campaign for r in planned))}), delivered {len(copies)}, "
          f"copies {sum(copies.values())}")
    # Then every planned message was delivered, exactly once, and each customer had
    # every day's message and a cart reminder planned
    assert {row.status for row in planned} == {"sent"}, Counter(r.status for r in planned)
    assert set(copies) == {row.id for row in planned}
    assert set(copies.values()) == {1}
    per_customer = Counter((row.customer_id, row.campaign) for row in planned)
    for i in range(len(ZONES)):
        assert per_customer[(f"c{i}", "daily")] >= DAYS, per_customer
        assert per_customer[(f"c{i}", "cart_reminder")] == 1, per_customer
    # inside the customer's allowed hours on their own clock
    for row in planned:
        local = delivered_at[row.id].replace(tzinfo=UTC).astimezone(zone_of(row.customer_id))
        assert window.allows(local.time()), (row.customer_id, local.isoformat())
    # and no later than the longest gap between passes after it was allowed to go
    gaps = [b - a for a, b in itertools.pairwise(fires)]
    allowed_lag = max(gaps) + timedelta(seconds=delay)
    for row in planned:
        assert delivered_at[row.id] - row.not_before <= allowed_lag, row


def test_calendar_reading_matches_systemd() -> None:
    """The simulation reads OnCalendar= as systemd does (where systemd-analyze exists)."""
    base = datetime(2026, 3, 28, 20, 0, tzinfo=UTC)  # the night of the spring change
    expected: list[str] = []
    for expression in TIMER["OnCalendar"]:
        try:
            out = subprocess.run(
                ["systemd-analyze", "calendar", "--iterations=30",
                 f"--base-time={base:%Y-%m-%d %H:%M:%S} UTC", expression],
                env={"TZ": SHOP_ZONE, "PATH": "/usr/bin:/bin"}, capture_output=True,
                text=True, timeout=30, check=True).stdout
        except (OSError, subprocess.CalledProcessError) as exc:
            pytest.skip(f"systemd-analyze calendar unavailable: {exc}")
        expected += [line.split(":", 1)[1].strip() for line in out.splitlines()
                     if line.strip().startswith("(in UTC)")]
    ours = fire_times(TIMER["OnCalendar"], base, base + timedelta(days=60), SHOP_ZONE)
    wanted = sorted({datetime.strptime(text, "%a %Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC)
                     for text in expected})
    assert len(wanted) >= 30 and ours[:30] == wanted[:30]
