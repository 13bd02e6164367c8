"""Wall and CPU time of one CLI command, run again and again (a small `hyperfine`).

    python -m bench.startup [--runs 10] [--cwd DIR] -- dispatcher plan win_back

Prints the median, min and max wall time, the median CPU time (user + system of the
child) and the load average before and after, as one JSON line. CPU time moves less
than wall time when neighbours load the machine; both are reported. Each run's output
is discarded; a failing run stops the measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import time


def measure(command: list[str], runs: int, cwd: str | None = None,
            env: dict[str, str] | None = None) -> dict[str, object]:
    walls: list[float] = []
    cpus: list[float] = []
    load_before = os.getloadavg()[0]
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)  # warm caches
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return {"command": " ".join(command), "runs": runs,
            "wall_median": statistics.median(walls), "wall_min": min(walls),
            "wall_max": max(walls), "cpu_median": statistics.median(cpus),
            "load_before": load_before, "load_after": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--cwd", default=None)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    print(json.dumps(measure(command, args.runs, args.cwd)))


if __name__ == "__main__":
    main()
