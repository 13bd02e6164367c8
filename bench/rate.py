"""Ratio 6: rate fidelity (achieved / configured send rate, no 429s).

Through the email channel: the sender's RateLimiter against an aiosmtpd peer that
enforces the configured rate with a provider-style token bucket (one second's worth)
and refuses what is over it. The Telegram / Twilio peers of issue 8 land with the
SMS and Telegram channels; until then this is the partial measurement.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

from .shop import make_shop

REACH = 0.70


def email_rate_fidelity(work: Path, seconds: int, slow_sink: Any, sink_log: Any, log: Any,
                        result: Any) -> list[Any]:
    from dispatcher.store.db import make_engine, migrate
    from dispatcher.synth import SynthSpec, generate

    from .suite import run_json

    sides = []
    worst = math.inf
    refused_total = 0
    for rate in (30, 10):
        messages = rate * seconds
        folder = work / f"rate-{rate}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        engine = make_engine(f"sqlite:///{folder / 'shop.db'}")
        migrate(engine)
        generate(engine, SynthSpec(customers=math.ceil(messages / REACH), seed=42))
        engine.dispose()
        logfile = folder / "sink.log"
        with slow_sink(0, logfile, rate) as port:
            config = make_shop(folder, "sqlite:///shop.db", smtp_port=port, concurrency=8,
                               rate=f"{rate}/s")
            run_json(["bench.worker", "pipeline", str(config), "everyone"])
        times, _ids, refused = sink_log(logfile)
        achieved = (len(times) - 1) / (max(times) - min(times))
        fidelity = achieved / rate
        worst = min(worst, fidelity)
        refused_total += refused
        log(f"  {rate}/s configured: {len(times)} delivered, {achieved:.2f}/s achieved, "
            f"{refused} refused")
        sides.append(f"email at {rate}/s: {len(times)} messages, achieved {achieved:.2f}/s "
                     f"= {fidelity:.3f} of configured; {refused} refused by the peer")
    return [result(6, "Rate fidelity: achieved / configured rate (email, partial)",
                   ">= 0.95, zero 429s, recovery <= retry_after + 1 s", worst,
                   worst >= 0.95 and refused_total == 0, sides, [
        "Partial: measured through the email channel and the sender's RateLimiter against "
        "an aiosmtpd peer enforcing the rate (token bucket of one second); refusals play "
        "the part of 429s. Recovery after an injected 429 needs a provider that sends "
        "retry_after (Telegram/Twilio), not measured here."])]
