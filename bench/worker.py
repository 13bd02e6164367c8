"""Subprocess entry points, so each measured side runs in a fresh interpreter.

    python -m bench.worker pipeline CONFIG CAMPAIGN [--no-log] [--start-ahead N]
                                                                 plan + send, JSON on stdout
    python -m bench.worker raw PORT COUNT CONCURRENCY CONFIG     aiosmtplib blast of prebuilt mail

Each prints one JSON object with the measured seconds and the process's peak RSS.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def use_stdlib_mime() -> None:
    """Before/after for BENCHMARKS.md: build every email with the stdlib email package."""
    import channels.email
    import channels.email_fast
    from channels.email_mime import build_mime

    def stdlib(message: Any, from_address: str, reply_to: str | None = None
               ) -> tuple[bytes, bool]:
        data = bytes(build_mime(message, from_address, reply_to))
        return data, not data.isascii()

    channels.email.message_bytes = stdlib
    channels.email_fast.message_bytes = stdlib


class NoLogRecorder:
    """Ratio 2's "without send log" side: start marks as usual, outcomes not recorded
    (injected by the benchmark; production code has no such switch)."""

    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger

    def commit(self, records: Any, marks: Any = ()) -> Any:
        return self.ledger.commit([], marks)


def pipeline(config: str, campaign: str, log_sends: bool = True,
             start_ahead: int | None = None) -> dict[str, Any]:
    """What `dispatcher run-once CAMPAIGN` does, with plan and send timed apart."""
    from dispatcher.app import latest_fire_time, open_channels, open_store
    from dispatcher.clock import utcnow
    from dispatcher.config.load import load_config
    from dispatcher.plan.planner import plan_run
    from dispatcher.send.sender import Sender, SenderOptions
    from dispatcher.store.schema import outbox

    loaded = load_config(config)
    engine = open_store(loaded)
    now = utcnow()
    started = time.perf_counter()
    plan = plan_run(engine, loaded, campaign, latest_fire_time(loaded, campaign, now), now)
    planned = time.perf_counter()

    async def send() -> Any:
        async with open_channels(loaded, loaded.campaign_channels(campaign)) as channels:
            options = SenderOptions(start_ahead=start_ahead)
            sender = Sender(engine, loaded, channels, options)
            if not log_sends:  # the "send log off" side: marks stay, outcomes are dropped
                sender.recorder = NoLogRecorder(sender.ledger)
            return await sender.drain([campaign])

    stats = asyncio.run(send())
    finished = time.perf_counter()
    with engine.connect() as conn:  # what the send log holds afterwards (after the clock)
        rows = conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status))
        states = {status: count for status, count in rows}
    engine.dispose()
    return {"sent": stats.sent, "failed": stats.failed, "to_send": plan.funnel.to_send,
            "plan_seconds": planned - started, "send_seconds": finished - planned,
            "seconds": finished - started, "peak_rss_mb": peak_rss_mb(), "states": states}


def prebuilt_messages(config: str, count: int) -> list[tuple[str, bytes]]:
    """Real campaign messages (same templates, same bytes builder), built before the clock."""
    from channels.base import Recipient, RenderedMessage
    from channels.email_fast import message_bytes
    from dispatcher.config.load import load_config
    from dispatcher.render.compose import compose
    from dispatcher.render.context import SAMPLE_CUSTOMERS, build_context
    from dispatcher.render.templating import TemplateRenderer

    loaded = load_config(config)
    campaign = loaded.config.campaigns["win_back"]
    renderer = TemplateRenderer(loaded.templates)
    from_address = "Bench Shop <shop@bench.example>"
    samples: list[RenderedMessage] = []
    for customer, stats in SAMPLE_CUSTOMERS:
        context = build_context(customer, stats, "win_back", campaign, loaded.config.shop,
                                "email", "http://127.0.0.1:8080/u/" + "x" * 60,
                                "http://127.0.0.1:8080/preferences/" + "x" * 60,
                                {"unsubscribe_mailto": "unsubscribe@bench.example"})
        samples.append(compose("email", renderer, "win_back", "win_back",
                               Recipient(customer.id, "x@example.com", customer.name,
                                         customer.locale), context))
    out = []
    for n in range(count):
        sample = samples[n % len(samples)]
        to = f"raw-{n:07d}@example.com"
        message = RenderedMessage(**{**sample.__dict__, "to": to, "outbox_id": n})
        out.append((to, message_bytes(message, from_address)[0]))
    return out


def raw(port: int, count: int, concurrency: int, config: str) -> dict[str, Any]:
    """The reference: the same number of messages, prebuilt, over `concurrency` sessions."""
    import aiosmtplib

    messages = prebuilt_messages(config, count)

    async def blast() -> int:
        sent = 0

        async def session(share: list[tuple[str, bytes]]) -> None:
            nonlocal sent
            client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
            await client.connect()
            for to, body in share:
                await client.sendmail("shop@bench.example", [to], body)
                sent += 1
            await client.quit()

        await asyncio.gather(*(session(messages[i::concurrency]) for i in range(concurrency)))
        return sent

    started = time.perf_counter()
    sent = asyncio.run(blast())
    seconds = time.perf_counter() - started
    return {"sent": sent, "seconds": seconds, "peak_rss_mb": peak_rss_mb(),
            "avg_bytes": sum(len(b) for _, b in messages) // max(1, len(messages))}


def main(argv: list[str]) -> None:
    kind, args = argv[0], argv[1:]
    if "--stdlib-mime" in args:
        use_stdlib_mime()
    if kind == "pipeline":
        ahead = int(args[args.index("--start-ahead") + 1]) if "--start-ahead" in args else None
        result = pipeline(args[0], args[1], log_sends="--no-log" not in args, start_ahead=ahead)
    elif kind == "raw":
        result = raw(int(args[0]), int(args[1]), int(args[2]), args[3])
    else:
        raise SystemExit(f"unknown worker {kind!r}")
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main(sys.argv[1:])
