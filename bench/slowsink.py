"""A slow SMTP peer (aiosmtpd): answers DATA after a fixed latency, logs what arrives.

    python -m bench.slowsink PORT LATENCY_MS LOGFILE [RATE_PER_S]

Each accepted message appends "<monotonic time> <Message-ID>" to LOGFILE, so the
benchmark can count duplicates and measure throughput at the receiving end. With
RATE_PER_S the peer enforces a provider-style token bucket (capacity one second's
worth) and refuses messages over it with "421 4.7.0 rate limit" (counted as 429s).
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from typing import Any

from aiosmtpd.controller import Controller

_MID = re.compile(rb"^Message-ID:\s*(\S+)", re.I | re.M)


class Handler:
    def __init__(self, latency: float, log: Any, rate: float | None) -> None:
        self.latency = latency
        self.log = log
        self.rate = rate
        self.tokens = rate or 0.0
        self.updated = time.monotonic()

    def _allow(self) -> bool:
        if self.rate is None:
            return True
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.latency:
            await asyncio.sleep(self.latency)
        if not self._allow():
            self.log.write(f"{time.monotonic():.6f} REFUSED\n")
            self.log.flush()
            return "421 4.7.0 rate limit exceeded, slow down"
        match = _MID.search(envelope.original_content or envelope.content)
        mid = match.group(1).decode() if match else "?"
        self.log.write(f"{time.monotonic():.6f} {mid}\n")
        self.log.flush()
        return "250 OK"


def main() -> None:
    port, latency_ms, path = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    rate = float(sys.argv[4]) if len(sys.argv) > 4 else None
    with open(path, "a", encoding="utf-8") as log:
        controller = Controller(Handler(latency_ms / 1000, log, rate), hostname="127.0.0.1",
                                port=port, decode_data=False)
        controller.start()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            controller.stop()


if __name__ == "__main__":
    main()
