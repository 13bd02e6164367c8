"""Ratio 6: rate fidelity of the SMS (Twilio) and Telegram channels.

The sender's RateLimiter against loopback provider peers (tests/telegram_peer.py,
tests/twilio_peer.py) that enforce 30/s and 10/s and answer 429 when exceeded.
Two runs per channel: a steady one (achieved / configured rate, 429s) and one with
a 429 injected mid-run (time until sending resumes, against retry_after + 1 s).
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.telegram_peer import TOKEN
from tests.twilio_peer import ACCOUNT_SID, AUTH_TOKEN

from .rate_peers import Meter, peer
from .shop import ROOT

# Share of synthetic customers reachable on the channel (address x consent x buyer).
REACH = {"telegram": 0.16, "sms": 0.28}
RATES = {"telegram": 30, "sms": 10}

CONFIG = """\
shop: {{name: Bench Shop, url: "https://shop.example", public_url: "http://127.0.0.1:8080"}}
database: sqlite:///shop.db
timezone: Europe/Kyiv
channels:
  telegram:
    token: ${{TELEGRAM_BOT_TOKEN}}
    base_url: {base_url}
    rate: 30/s
    concurrency: 10
    retry_base: 1s
  sms:
    account_sid: {sid}
    auth_token: ${{TWILIO_AUTH_TOKEN}}
    from: "+15005550006"
    base_url: {base_url}
    rate: 10/s
    concurrency: 10
    retry_base: 1s
    max_segments: 6
segments:
  buyers:
    orders_count: {{gte: 1}}
campaigns:
  everyone:
    segment: buyers
    template: win_back
    channels: [{channel}]
    once_per: run
"""


def _run(work: Path, channel: str, messages: int, meter: Meter,
         run_json: Callable[..., dict[str, Any]]) -> None:
    from dispatcher.demo.synth import SynthSpec, generate
    from dispatcher.store.db import make_engine, migrate

    folder = work / f"rate-{channel}-{meter.inject_after or 0}"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "templates").mkdir(parents=True)
    shutil.copytree(ROOT / "templates" / "win_back", folder / "templates" / "win_back")
    engine = make_engine(f"sqlite:///{folder / 'shop.db'}")
    migrate(engine)
    generate(engine, SynthSpec(customers=math.ceil(messages / REACH[channel]), seed=42))
    engine.dispose()
    with peer(channel, meter) as server:
        base_url = server.base_url if channel == "telegram" else server.url
        (folder / "config.yaml").write_text(CONFIG.format(
            base_url=base_url, sid=ACCOUNT_SID, channel=channel), encoding="utf-8")
        run_json(["bench.worker", "pipeline", str(folder / "config.yaml"), "everyone"],
                 env={"TELEGRAM_BOT_TOKEN": TOKEN, "TWILIO_AUTH_TOKEN": AUTH_TOKEN})


def rate_fidelity(work: Path, seconds: int, run_json: Callable[..., dict[str, Any]],
                  log: Callable[[str], None], result: Any) -> list[Any]:
    sides: list[str] = []
    worst = math.inf
    over_total = 0
    recovered = True
    for channel, rate in RATES.items():
        steady = Meter(rate)
        _run(work, channel, rate * seconds, steady, run_json)
        times = steady.accepted
        achieved = (len(times) - 1) / (times[-1] - times[0])
        fidelity = achieved / rate
        worst = min(worst, fidelity)
        over_total += steady.over_rate
        log(f"  {channel} {rate}/s: {len(times)} sent, {achieved:.2f}/s, "
            f"{steady.over_rate} 429s")
        sides.append(f"{channel} at {rate}/s configured: {len(times)} messages, achieved "
                     f"{achieved:.2f}/s = {fidelity:.3f}; 429s from the peer: "
                     f"{steady.over_rate}")
        injected = Meter(rate, inject_after=rate * 2, retry_after=2)
        _run(work, channel, rate * 5, injected, run_json)
        assert injected.injected_at is not None
        start = injected.injected_at
        during = [t for t in injected.accepted if start < t < start + injected.retry_after]
        after = [t for t in injected.accepted if t >= start + injected.retry_after]
        resumed = (after[0] - start) if after else math.inf
        ok = resumed <= injected.retry_after + 1
        recovered = recovered and ok
        over_total += injected.over_rate
        log(f"  {channel}: injected 429 (retry_after {injected.retry_after}s): "
            f"{len(during)} in-flight during the pause, resumed after {resumed:.2f}s")
        sides.append(f"{channel}, one 429 injected with retry_after={injected.retry_after}s: "
                     f"sending resumed {resumed:.2f}s later (target <= "
                     f"{injected.retry_after + 1}s); {len(during)} messages already in "
                     f"flight arrived during the pause; 429s besides the injected one: "
                     f"{injected.over_rate}")
    return [result(6, "Rate fidelity: achieved / configured rate (Telegram, Twilio)",
                   ">= 0.95, zero 429s, resume <= retry_after + 1 s", worst,
                   worst >= 0.95 and over_total == 0 and recovered, sides, [
        "Loopback Telegram Bot API and Twilio Messages API peers (the test suite's), each "
        "enforcing its rate with a token bucket of one second's worth and answering 429 "
        "when exceeded; the ratio shown is the lower of the two channels."])]
