"""Summarise py-spy's raw (collapsed) output: the functions where samples land."""

from __future__ import annotations

import re
import sys
from collections import Counter


def top(path: str, limit: int = 15) -> list[tuple[str, int, int]]:
    """(function, self samples, inclusive samples), by self samples."""
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
            if frames:
                own[frames[-1]] += n
            for frame in set(frames):
                inclusive[frame] += n
    return [(name, n, inclusive[name]) for name, n in own.most_common(limit)] + \
        [("(total samples)", total, total)]


if __name__ == "__main__":
    for name, n, inc in top(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 25):
        print(f"{n:6d} {inc:6d}  {name}")
