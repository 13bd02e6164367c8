"""Summarise py-spy's raw (collapsed) output: the functions where samples land."""

from __future__ import annotations

import re
import sys
from collections import Counter

# Leaves where a thread waits rather than works (py-spy's idle detection misses these
# when the wait is a lock or a queue in C).
IDLE = ("_worker (concurrent/futures/thread.py", "select (selectors.py",
        "wait (threading.py")


def top(path: str, limit: int = 15) -> list[tuple[str, int, int]]:
    """(function, self samples, inclusive samples) of busy samples, by self samples."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            total += n
            frames = [re.sub(r" \(/.*?([^/]+/[^/]+\.py):\d+\)", r" (\1)", f)
                      for f in stack.split(";")]
            frames = [f for f in frames if not f.startswith("thread ")
                      and not f.startswith("process ")]
            leaf = frames[-1] if frames else ""
            if not leaf.strip() or any(idle in leaf for idle in IDLE):
                total -= n
                continue
            own[frames[-1]] += n
            for frame in set(frames):
                inclusive[frame] += n
    return [(name, n, inclusive[name]) for name, n in own.most_common(limit)] + \
        [("(total samples)", total, total)]


# A stage is every sample whose stack holds one of its frames.
STAGES: dict[str, tuple[str, ...]] = {
    "send on the event loop (EmailChannel.send)": ("send (channels/email.py",),
    "  of which aiosmtplib sendmail": ("sendmail (aiosmtplib/smtp.py",),
    "  of which building the bytes (email_fast)": ("message_bytes (channels/email_fast.py",),
    "claim + prepare + render a batch (worker thread)": (
        "claim (dispatcher/outbox/ledger.py", "prepare (dispatcher/send/prepare.py"),
    "  of which send-time checks (policy, promos, carts)": (
        "check_at_send (", "issue_promos (", "newest_carts (", "expired_campaigns ("),
    "  of which customers + order stats": ("load_customers (", "load_stats ("),
    "  of which rendering (context, links, Jinja)": ("build (dispatcher/message/builder.py",),
    "  of which Jinja Template.render": ("render (jinja2/environment.py",),
    "record outcomes + start marks (one commit per group)": (
        "commit (dispatcher/outbox/ledger.py",),
    "plan (INSERT ... SELECT)": ("plan_run (dispatcher/plan/planner.py",),
    "start-up (imports; outside the timed part)": ("_call_with_frames_removed (<frozen",),
}


def stages(path: str) -> list[tuple[str, float]]:
    """Inclusive share of busy samples per pipeline stage."""
    hits: Counter[str] = Counter()
    total = 0
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not count.isdigit():
                continue
            leaf = stack.rsplit(";", 1)[-1]
            if not leaf.strip() or any(idle in leaf for idle in IDLE):
                continue
            total += int(count)
            for label, needles in STAGES.items():
                if any(needle in stack for needle in needles):
                    hits[label] += int(count)
    return [(label, hits[label] / (total or 1)) for label in STAGES]


if __name__ == "__main__":
    for name, n, inc in top(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 25):
        print(f"{n:6d} {inc:6d}  {name}")
