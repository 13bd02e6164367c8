"""Run every benchmark ratio and write BENCHMARKS.md.

    bench/run            sizes that finish in minutes on 2 cores
    bench/run --full     the 1,000,000-customer sizes of issue 8
    bench/run --only 1,3 a subset (the report keeps only what ran)
    bench/run --smoke    tiny sizes: checks the benchmarks run, not a measurement

Every figure is a ratio of two sides measured in the same run on the same machine.
Ratios 1 and 2 are the median of interleaved pairs (product, raw, product, raw, ...)
with their spread; the other ratios alternate their sides and keep the best of each.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .env import free_port, machine, postgres, smtp_sink, wait_port
from .shop import ROOT, make_shop

PY = sys.executable
DISPATCHER = str(Path(PY).parent / "dispatcher")  # the console script of this environment
REACH = 0.70  # share of synthetic customers the "everyone" campaign reaches by email


@dataclass
class Sizes:
    pipeline: int  # recipients for ratios 1 and 2
    plan: int  # customers for ratio 3
    memory: tuple[int, int]  # recipients, small and large
    scaleout: int  # messages for ratio 5
    latency_ms: int
    rate_seconds: int
    repeat: int
    # Ratios 1 and 2: interleaved (product, raw) pairs; the median ratio and its spread.
    pairs: int
    scaleout_processes: int  # ratio 8: N processes vs one with N times the concurrency

    @classmethod
    def pick(cls, full: bool, smoke: bool = False) -> Sizes:
        if smoke:
            return cls(500, 3_000, (300, 1_000), 500, 50, 3, 1, 5, 2)
        if full:
            return cls(100_000, 1_000_000, (100_000, 1_000_000), 20_000, 50, 30, 2, 5, 2)
        return cls(10_000, 100_000, (5_000, 50_000), 6_000, 50, 10, 2, 5, 2)


@dataclass
class Result:
    number: int
    title: str
    target: str
    ratio: float | None
    passed: bool | None
    sides: list[str]
    notes: list[str] = field(default_factory=list)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def run_json(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = subprocess.run([PY, "-m", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def synth_sqlite(path: Path, customers: int, seed: int = 42) -> Path:
    from dispatcher.demo.synth import SynthSpec, generate
    from dispatcher.store.db import make_engine, migrate

    if path.exists():
        return path
    tmp = path.with_suffix(".tmp.db")
    engine = make_engine(f"sqlite:///{tmp}")
    migrate(engine)
    started = time.perf_counter()
    counts = generate(engine, SynthSpec(customers=customers, seed=seed))
    engine.dispose()
    log(f"  synthetic shop: {counts.customers} customers, {counts.orders} orders "
        f"({time.perf_counter() - started:.0f}s)")
    os.replace(tmp, path)
    return path


def fresh_copy(base: Path, folder: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(folder / f"shop.db{suffix}")
    shutil.copy(base, folder / "shop.db")


# -- ratios 1 and 2 -------------------------------------------------------------------


# glibc's allocator gives freed heap back to the kernel (trim) and asks again for each
# burst: a small raw-blast process then takes ~170k page faults and runs ~30% slower
# (issue 19). Both sides of ratios 1 and 2 run with the same settings, so neither is
# slowed by trimming: a 256 MiB trim threshold and 64 MiB of top padding.
ALLOCATOR_ENV = {"MALLOC_TRIM_THRESHOLD_": str(256 * 1024 * 1024),
                 "MALLOC_TOP_PAD_": str(64 * 1024 * 1024)}


def spread(values: list[float]) -> str:
    """median (min-max) of ``values``, two decimals."""
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def pipeline_ratios(work: Path, sizes: Sizes) -> list[Result]:
    customers = math.ceil(sizes.pipeline / REACH)
    log(f"ratios 1-2: pipeline of ~{sizes.pipeline} recipients ({customers} customers), "
        f"{sizes.pairs} interleaved pairs")
    base = synth_sqlite(work / f"shop-{customers}.db", customers)
    folder = work / "pipeline"
    runs: dict[str, list[dict[str, Any]]] = {}
    loads: list[float] = []
    with smtp_sink() as port:
        config = make_shop(folder, "sqlite:///shop.db", smtp_port=port)

        def side(name: str, args: list[str] | None, count: int = 0) -> dict[str, Any]:
            loads.append(os.getloadavg()[0])
            if args is None:
                out = run_json(["bench.worker", "raw", str(port), str(count), "16",
                                str(config)], env=ALLOCATOR_ENV)
                out["rate"] = out["sent"] / out["seconds"]
            else:
                fresh_copy(base, folder)
                out = run_json(["bench.worker", "pipeline", str(config), "everyone", *args],
                               env=ALLOCATOR_ENV)
                out["rate"] = out["sent"] / out["send_seconds"]  # the send phase
            log(f"  {name} #{len(runs.get(name, [])) + 1}: {out['sent']} in "
                f"{out.get('send_seconds', out['seconds']):.1f}s = {out['rate']:.0f}/s "
                f"(load {loads[-1]:.1f})")
            runs.setdefault(name, []).append(out)
            return out

        # Interleaved pairs: product, raw, product, raw, ... (and the send-log-off side
        # after each pair for ratio 2), so a neighbour's burst lands on both sides.
        for _ in range(sizes.pairs):
            product = side("pipeline", [])
            side("raw", None, product["sent"])
            side("nolog", ["--no-log"])
        # Before/after of two earlier fixes, measured once: the stdlib email builder, and
        # every worker waiting for its own start mark (start_ahead 0).
        side("wait-for-mark", ["--start-ahead", "0"])
        side("stdlib-mime", ["--stdlib-mime"])
        profile = profile_pipeline(base, folder, config)
    pipes, raws, nologs = runs["pipeline"], runs["raw"], runs["nolog"]
    ratio1 = [p["rate"] / r["rate"] for p, r in zip(pipes, raws, strict=True)]
    ratio2 = [p["rate"] / n["rate"] for p, n in zip(pipes, nologs, strict=True)]
    r1, r2 = statistics.median(ratio1), statistics.median(ratio2)
    p_rate = statistics.median(p["rate"] for p in pipes)
    r_rate = statistics.median(r["rate"] for r in raws)
    n_rate = statistics.median(n["rate"] for n in nologs)
    before, waiting = runs["stdlib-mime"][0], runs["wait-for-mark"][0]
    last_p, last_n = pipes[-1], nologs[-1]
    allocator = ", ".join(f"{k}={v}" for k, v in ALLOCATOR_ENV.items())
    load = f"load average {min(loads):.1f}-{max(loads):.1f} during the runs"
    return [
        Result(1, "Email send phase vs raw aiosmtplib blast", ">= 0.80", r1, r1 >= 0.80, [
            f"ratio per pair, median (min-max) of {len(ratio1)} interleaved pairs: "
            f"{spread(ratio1)}",
            f"send phase (claim, render, send, record; plan "
            f"{statistics.median(p['plan_seconds'] for p in pipes):.1f}s before it): "
            f"{pipes[0]['sent']} messages, median {p_rate:.0f} msg/s "
            f"({min(p['rate'] for p in pipes):.0f}-{max(p['rate'] for p in pipes):.0f})",
            f"raw aiosmtplib, {raws[0]['sent']} prebuilt messages (~{raws[0]['avg_bytes']} "
            f"B), 16 sessions: median {r_rate:.0f} msg/s "
            f"({min(r['rate'] for r in raws):.0f}-{max(r['rate'] for r in raws):.0f})",
        ], ["SQLite store; Postfix smtp-sink on 127.0.0.1; concurrency 16 both sides; "
            f"both sides run with {allocator}; {load}.",
            f"Before the profile's fix (stdlib email package builds each message): "
            f"{before['rate']:.0f} msg/s = {before['rate'] / r_rate:.2f} of raw; "
            f"after (channels/email_fast.py): {p_rate:.0f} msg/s.",
            f"Each worker waiting for the commit of its own start mark (daemon.start_ahead: "
            f"0, the design before marks went ahead): {waiting['rate']:.0f} msg/s = "
            f"{waiting['rate'] / r_rate:.2f} of raw; with the default start_ahead: "
            f"{p_rate:.0f} msg/s.",
            *profile]),
        Result(2, "Send log on vs off (a no-op outcome recorder)", ">= 0.90", r2,
               r2 >= 0.90, [
                   f"ratio per pair, median (min-max) of {len(ratio2)}: {spread(ratio2)}",
                   f"with send log: median {p_rate:.0f} msg/s",
                   f"without send log: median {n_rate:.0f} msg/s",
               ], [f"The switch skips the batched outcome UPDATEs; the start marks stay. "
                   f"Checked after the last runs: with the log, "
                   f"{last_p['states'].get('sent', 0)} rows 'sent' for {last_p['sent']} "
                   f"messages; without, {last_n['states'].get('sending', 0)} rows left "
                   f"'sending' for {last_n['sent']} messages, "
                   f"{last_n['states'].get('sent', 0)} rows 'sent'."]),
    ]


def profile_pipeline(base: Path, folder: Path, config: Path) -> list[str]:
    """py-spy over one pipeline run (all threads): where the samples land."""
    from .flame import stages, top

    spy = shutil.which("py-spy") or str(Path(PY).parent / "py-spy")
    if not Path(spy).exists():
        return ["Profile skipped: py-spy is not installed (pip install py-spy)."]
    fresh_copy(base, folder)
    out = folder / "profile.txt"
    # --gil: only the thread holding the interpreter lock is sampled, i.e. where the one
    # core a Python process can use for Python code goes.
    proc = subprocess.run([spy, "record", "--gil", "-r", "100", "-f", "raw", "-o", str(out),
                           "--",
                           PY, "-m", "bench.worker", "pipeline", str(config), "everyone"],
                          cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0 or not out.exists():
        return [f"Profile failed: {proc.stderr.strip()[-300:]}"]
    by_stage = stages(str(out))
    rows = top(str(out), 12)
    total = rows[-1][1] or 1
    lines = ["Profile of one pipeline run (py-spy --gil at 100 Hz: samples of the thread "
             "holding the interpreter lock; share of those samples, self / inclusive):",
             "```"]
    lines += [f"{share:6.1%}  {label}" for label, share in by_stage]
    lines += ["", "top functions by self time (self, inclusive):"]
    lines += [f"{n / total:6.1%} {inc / total:6.1%}  {name}" for name, n, inc in rows[:-1]]
    return [*lines, "```"]


# -- ratio 3 ---------------------------------------------------------------------------


def plan_ratio(work: Path, sizes: Sizes, pg_url: str | None) -> list[Result]:
    from sqlalchemy import text

    from dispatcher.demo.synth import SynthSpec, generate
    from dispatcher.store.db import make_engine, migrate

    from .plan_ratio import measure

    results = []
    log(f"ratio 3: plan vs hand-written SQL over {sizes.plan} customers")
    stores: list[tuple[str, str]] = []
    base = synth_sqlite(work / f"shop-{sizes.plan}.db", sizes.plan)
    folder = work / "plan-sqlite"
    folder.mkdir(exist_ok=True)
    fresh_copy(base, folder)
    stores.append(("SQLite", f"sqlite:///{folder / 'shop.db'}"))
    if pg_url:
        admin = make_engine(pg_url)
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("DROP DATABASE IF EXISTS plan"))
            conn.execute(text("CREATE DATABASE plan"))
        admin.dispose()
        url = pg_url.rsplit("/", 1)[0] + "/plan"
        engine = make_engine(url)
        migrate(engine)
        started = time.perf_counter()
        generate(engine, SynthSpec(customers=sizes.plan, seed=42))
        engine.dispose()
        log(f"  PostgreSQL shop generated ({time.perf_counter() - started:.0f}s)")
        stores.append(("PostgreSQL", url))
    for name, url in stores:
        config = make_shop(work / f"plan-{name.lower()}", url)
        engine = make_engine(url)
        out = measure(engine, config, sizes.repeat)
        engine.dispose()
        ratio = out["plan_seconds"] / out["hand_seconds"]
        log(f"  {name}: plan {out['plan_seconds']:.2f}s, hand {out['hand_seconds']:.2f}s, "
            f"{out['rows']} rows, {out['mismatched_rows']} mismatched")
        results.append(Result(3, f"Planning vs hand-written INSERT...SELECT ({name})",
                              "<= 1.5, audiences equal", ratio,
                              ratio <= 1.5 and out["mismatched_rows"] == 0, [
            f"`plan_run` (run row, INSERT...SELECT, funnel count): {out['plan_seconds']:.2f}s",
            f"hand-written INSERT...SELECT: {out['hand_seconds']:.2f}s",
            f"rows: {out['rows']}; rows that differ: {out['mismatched_rows']}; by outcome: "
            + ", ".join(f"{k} {v}" for k, v in sorted(out["reasons"].items())),
        ], ["Win-back: last order 90+ days ago, email consent granted, not suppressed, "
            "topic not switched off, global cap 2 marketing messages per 7 days (10% of "
            "customers got 2 newsletters 2 days earlier, 10% got 1), once per 30 days. "
            "Both sides write into a table with the outbox's indexes and foreign key; the "
            "planner also writes its run row and counts the funnel."]))
    return results


def plan_import_ratio(work: Path, sizes: Sizes, pg_url: str) -> list[Result]:
    log(f"ratio 7: plan right after `dispatcher import` of {sizes.plan} customers "
        "(PostgreSQL)")
    out = run_json(["bench.plan_import", pg_url, str(sizes.plan), str(work / "plan-import")])
    ratio = out["first_plan_seconds"] / out["first_hand_seconds"]
    log(f"  first plan {out['first_plan_seconds']:.2f}s, hand {out['first_hand_seconds']:.2f}s")
    imported = out["import_seconds"]
    return [Result(7, "Plan right after `dispatcher import` vs hand-written (PostgreSQL)",
                   "<= 2.0, audiences equal", ratio,
                   ratio <= 2.0 and out["mismatched_rows"] == 0, [
        f"first `plan_run` after the import: {out['first_plan_seconds']:.2f}s; "
        f"hand-written INSERT...SELECT on the same data: {out['first_hand_seconds']:.2f}s",
        f"later runs, best of 3: plan {out['plan_seconds']:.2f}s, hand "
        f"{out['hand_seconds']:.2f}s; {out['rows']} rows, {out['mismatched_rows']} differ",
        f"`dispatcher import customers` {imported['customers']:.0f}s, "
        f"`dispatcher import orders` {imported['orders']:.0f}s ({out['customers']} customers)",
    ], ["The synthetic shop exported as customers.csv (email + consent) and orders.csv, "
        "imported into a fresh database with the CLI, planned at once (the import "
        "refreshes the statistics of the tables it wrote; autovacuum is on but has no "
        "time to matter). Before that refresh the same plan was a nested loop over "
        "customers x orders: 644 s for 40,000 customers (issue 19)."])]


# -- ratio 4 ---------------------------------------------------------------------------


def memory_ratio(work: Path, sizes: Sizes) -> list[Result]:
    small, large = sizes.memory
    log(f"ratio 4: peak RSS of {large} vs {small} recipients (file transport)")
    runs = {}
    for recipients in (small, large):
        customers = math.ceil(recipients / REACH)
        base = synth_sqlite(work / f"shop-{customers}.db", customers)
        folder = work / f"memory-{recipients}"
        config = make_shop(folder, "sqlite:///shop.db")
        fresh_copy(base, folder)
        shutil.rmtree(folder / "outbox", ignore_errors=True)
        runs[recipients] = run_json(["bench.worker", "pipeline", str(config), "everyone"])
        shutil.rmtree(folder / "outbox", ignore_errors=True)
        out = runs[recipients]
        log(f"  {out['sent']} recipients: peak RSS {out['peak_rss_mb']:.0f} MB "
            f"({out['seconds']:.0f}s)")
    s, big = runs[small], runs[large]
    ratio = big["peak_rss_mb"] / s["peak_rss_mb"]
    return [Result(4, "Memory: peak RSS, large run vs small run", "<= 1.3 and < 250 MB",
                   ratio, ratio <= 1.3 and big["peak_rss_mb"] < 250, [
        f"{big['sent']} recipients: {big['peak_rss_mb']:.0f} MB peak RSS",
        f"{s['sent']} recipients: {s['peak_rss_mb']:.0f} MB peak RSS",
    ], ["Measured in a fresh subprocess each (resource.getrusage ru_maxrss): plan + render "
        "+ write .eml files."])]


# -- ratio 5 ---------------------------------------------------------------------------


@contextlib.contextmanager
def slow_sink(latency_ms: int, logfile: Path, rate: float | None = None) -> Iterator[int]:
    port = free_port()
    args = [PY, "-m", "bench.slowsink", str(port), str(latency_ms), str(logfile)]
    if rate:
        args.append(str(rate))
    proc = subprocess.Popen(args, cwd=ROOT, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield port
    finally:
        proc.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        if proc.poll() is None:
            proc.kill()


def sink_log(logfile: Path) -> tuple[list[float], Counter[str], int]:
    times: list[float] = []
    ids: Counter[str] = Counter()
    refused = 0
    for line in logfile.read_text().splitlines():
        stamp, _, mid = line.partition(" ")
        if mid == "REFUSED":
            refused += 1
            continue
        times.append(float(stamp))
        ids[mid] += 1
    return times, ids, refused


def scaleout_ratio(work: Path, sizes: Sizes, pg_url: str) -> list[Result]:
    from sqlalchemy import text

    from dispatcher.app import latest_fire_time
    from dispatcher.clock import utcnow
    from dispatcher.config.load import load_config
    from dispatcher.demo.synth import SynthSpec, generate
    from dispatcher.plan.planner import plan_run
    from dispatcher.store.db import make_engine, migrate

    customers = math.ceil(sizes.scaleout / REACH)
    log(f"ratio 5: 2 processes vs 1 on PostgreSQL, ~{sizes.scaleout} messages, "
        f"sink latency {sizes.latency_ms} ms")
    measured = {}
    for processes in (1, 2):
        db = f"scale{processes}"
        admin = make_engine(pg_url)
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {db}"))
            conn.execute(text(f"CREATE DATABASE {db}"))
        admin.dispose()
        url = pg_url.rsplit("/", 1)[0] + f"/{db}"
        engine = make_engine(url)
        migrate(engine)
        generate(engine, SynthSpec(customers=customers, seed=42))
        logfile = work / f"sink-{processes}.log"
        logfile.unlink(missing_ok=True)
        with slow_sink(sizes.latency_ms, logfile) as port:
            config = make_shop(work / f"scale-{processes}", url, smtp_port=port)
            loaded = load_config(config)
            now = utcnow()
            # the slot `run-once` will find, so the processes only send
            plan = plan_run(engine, loaded, "everyone",
                            latest_fire_time(loaded, "everyone", now), now)
            engine.dispose()
            started = time.perf_counter()
            procs = [subprocess.Popen([DISPATCHER, "run-once", "everyone",
                                       "--config", str(config), "--wait-retries", "0"],
                                      cwd=ROOT, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE)
                     for _ in range(processes)]
            for proc in procs:
                _, err = proc.communicate()
                if proc.returncode:
                    raise RuntimeError(f"run-once failed: {err.decode()[-2000:]}")
            wall = time.perf_counter() - started
            time.sleep(0.5)
        times, ids, _ = sink_log(logfile)
        duplicates = sum(n - 1 for n in ids.values() if n > 1)
        span = max(times) - min(times) if len(times) > 1 else float("nan")
        rate = (len(times) - 1) / span
        measured[processes] = (plan.funnel.to_send, len(times), duplicates, rate, wall)
        log(f"  {processes} process(es): {len(times)} received of {plan.funnel.to_send}, "
            f"{duplicates} duplicates, {rate:.0f} msg/s at the sink, wall {wall:.1f}s")
    one, two = measured[1], measured[2]
    ratio = two[3] / one[3]
    dupes = one[2] + two[2]
    return [Result(5, "Scale-out: 2 dispatcher processes vs 1 on one PostgreSQL",
                   ">= 1.7, zero duplicates", ratio,
                   ratio >= 1.7 and dupes == 0 and two[1] == two[0], [
        f"2 processes: {two[1]}/{two[0]} delivered, {two[3]:.0f} msg/s at the sink "
        f"(wall {two[4]:.1f}s incl. start-up), duplicates {two[2]}",
        f"1 process: {one[1]}/{one[0]} delivered, {one[3]:.0f} msg/s at the sink "
        f"(wall {one[4]:.1f}s), duplicates {one[2]}",
    ], [f"`dispatcher run-once` processes (claim: FOR UPDATE SKIP LOCKED); aiosmtpd sink "
        f"answering DATA after {sizes.latency_ms} ms; concurrency 16 per process; "
        "throughput between the first and last message received; duplicates by Message-ID."])]


def scaleout_cpu_ratio(work: Path, sizes: Sizes, pg_url: str) -> list[Result]:
    """N `run-once` processes vs one with N times the concurrency, on smtp-sink (no delay:
    the senders' CPU is the limit), PostgreSQL; throughput per CPU-second of the senders."""
    from sqlalchemy import text

    from dispatcher.app import latest_fire_time
    from dispatcher.clock import utcnow
    from dispatcher.config.load import load_config
    from dispatcher.demo.synth import SynthSpec, generate
    from dispatcher.plan.planner import plan_run
    from dispatcher.store.db import make_engine, migrate

    n = sizes.scaleout_processes
    customers = math.ceil(sizes.pipeline / REACH)
    log(f"ratio 8: {n} processes x 16 vs 1 process x {16 * n} on smtp-sink, PostgreSQL, "
        f"~{sizes.pipeline} messages")
    root = pg_url.rsplit("/", 1)[0]

    def admin(statement: str) -> None:
        engine = make_engine(pg_url)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(statement))
        engine.dispose()

    admin("DROP DATABASE IF EXISTS cpu_base")
    admin("CREATE DATABASE cpu_base")
    engine = make_engine(f"{root}/cpu_base")
    migrate(engine)
    generate(engine, SynthSpec(customers=customers, seed=42))
    engine.dispose()
    measured: dict[int, list[dict[str, float]]] = {1: [], n: []}
    with smtp_sink() as port:
        for _round in range(2):
            for processes in (1, n):  # interleaved: one, N, one, N
                db = f"cpu{processes}"
                admin(f"DROP DATABASE IF EXISTS {db}")
                admin(f"CREATE DATABASE {db} TEMPLATE cpu_base")
                url = f"{root}/{db}"
                config = make_shop(work / f"cpu-{processes}", url, smtp_port=port,
                                   concurrency=16 * n // processes)
                loaded = load_config(config)
                engine = make_engine(url)
                now = utcnow()
                plan = plan_run(engine, loaded, "everyone",
                                latest_fire_time(loaded, "everyone", now), now)
                load = os.getloadavg()[0]
                procs = [subprocess.Popen([DISPATCHER, "run-once", "everyone", "--config",
                                           str(config), "--wait-retries", "0"], cwd=ROOT,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                          env={**os.environ, **ALLOCATOR_ENV})
                         for _ in range(processes)]
                cpu = 0.0
                for proc in procs:
                    assert proc.stderr is not None
                    err = proc.stderr.read()
                    _, status, usage = os.wait4(proc.pid, 0)
                    proc.returncode = os.waitstatus_to_exitcode(status)
                    if proc.returncode:
                        raise RuntimeError(f"run-once failed: {err.decode()[-2000:]}")
                    cpu += usage.ru_utime + usage.ru_stime
                with engine.connect() as conn:
                    sent, first, last = conn.execute(text(
                        "SELECT count(*), min(sent_at), max(sent_at) FROM outbox "
                        "WHERE status = 'sent'")).one()
                engine.dispose()
                span = (last - first).total_seconds() if sent > 1 else float("nan")
                out = {"planned": plan.funnel.to_send, "sent": sent, "rate": (sent - 1) / span,
                       "cpu": cpu, "per_cpu_second": sent / cpu, "load": load}
                measured[processes].append(out)
                log(f"  {processes} process(es): {sent}/{out['planned']} sent, "
                    f"{out['rate']:.0f} msg/s, {cpu:.1f} CPU-s of the senders = "
                    f"{out['per_cpu_second']:.0f} msg per CPU-second (load {load:.1f})")
    one, many = measured[1], measured[n]

    def median(runs: list[dict[str, float]], key: str) -> float:
        return statistics.median(run[key] for run in runs)

    ratio = median(many, "rate") / median(one, "rate")
    complete = all(run["sent"] == run["planned"] for run in one + many)
    return [Result(8, f"Scale-out on a CPU-bound sink: {n} processes vs 1 with the same "
                      "total concurrency (PostgreSQL)", "report (no target)", ratio,
                   None if complete else False, [
        f"{n} processes x concurrency 16: median {median(many, 'rate'):.0f} msg/s, "
        f"{median(many, 'per_cpu_second'):.0f} messages per CPU-second of the senders",
        f"1 process x concurrency {16 * n}: median {median(one, 'rate'):.0f} msg/s, "
        f"{median(one, 'per_cpu_second'):.0f} messages per CPU-second",
        f"every planned message sent on every side: {'yes' if complete else 'NO'} "
        f"({one[0]['planned']} per side)",
    ], ["`dispatcher run-once` processes (claim: FOR UPDATE SKIP LOCKED) against Postfix "
        "smtp-sink answering at once, so the senders' CPU, not the sink's latency, is the "
        "limit; sides interleaved (1, N, 1, N), medians; throughput between the first and "
        "last sent_at in the ledger; CPU-seconds are user + system time of the sender "
        "processes (PostgreSQL's own CPU is not counted); senders run with "
        + ", ".join(f"{k}={v}" for k, v in ALLOCATOR_ENV.items()) + ". On a machine with "
        "fewer free cores than processes the N-process side can only match, not beat, "
        "one process: read the per-CPU-second figure."])]


# -- ratio 6 ---------------------------------------------------------------------------


def rate_ratio(work: Path, sizes: Sizes) -> list[Result]:
    from .rate import rate_fidelity

    log("ratio 6: rate fidelity (Telegram 30/s, Twilio 10/s)")
    return rate_fidelity(work, sizes.rate_seconds, run_json, log, Result)


# -- report ----------------------------------------------------------------------------


def write_report(path: Path, results: list[Result], command: str, seconds: float,
                 extra: str) -> None:
    lines = [
        "# Benchmarks",
        "",
        "Every figure is a ratio of two sides measured in the same run on the same machine "
        "(issue 8). Benchmarks are not tests: CI does not run them and no test asserts a "
        "time. Ratios 1 and 2 are the median (and spread) of interleaved pairs; the other "
        "ratios alternate their sides and keep the best of each. The machine is shared, so "
        "absolute numbers drift between runs while ratios drift less.",
        "",
        f"- Command: `{command}` ({seconds / 60:.1f} min)",
        f"- Machine: {machine()}",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        "| # | ratio | target | measured | met |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        met = "yes" if r.passed else ("no" if r.passed is not None else "n/a")
        value = f"{r.ratio:.2f}" if r.ratio is not None else "n/a"
        lines.append(f"| {r.number} | {r.title} | {r.target} | {value} | {met} |")
    lines.append("")
    for r in results:
        lines.append(f"## {r.number}. {r.title}")
        lines.append("")
        lines.extend(f"- {side}" for side in r.sides)
        fenced = False
        for note in r.notes:
            if note == "```":
                fenced = not fenced
                lines.append(note if fenced else "```\n")
                if fenced:
                    lines.insert(len(lines) - 1, "")
            else:
                lines.append(note if fenced else f"- {note}")
        lines.append("")
    if extra:
        lines.append(extra)
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="the 1,000,000 sizes")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes (a check that it runs; not for BENCHMARKS.md)")
    parser.add_argument("--only", default="1,2,3,4,5,6,7,8", help="comma-separated ratio numbers")
    parser.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    parser.add_argument("--work", default=None, help="keep generated shops here (reused)")
    parser.add_argument("--notes", default=str(ROOT / "bench" / "NOTES.md"),
                        help="appended to the report (profile, what closes the gaps)")
    args = parser.parse_args(argv)
    only = {int(x) for x in args.only.split(",") if x}
    sizes = Sizes.pick(args.full, args.smoke)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="dispatcher-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    command = "bench/run" + (" --full" if args.full else "") + \
        (f" --only {args.only}" if only != {1, 2, 3, 4, 5, 6, 7, 8} else "")
    started = time.perf_counter()
    results: list[Result] = []
    try:
        with contextlib.ExitStack() as stack:
            pg_url = stack.enter_context(postgres()) if only & {3, 5, 7, 8} else None
            steps: list[tuple[int, Callable[[], list[Result]]]] = [
                (1, lambda: pipeline_ratios(work, sizes)),
                (3, lambda: plan_ratio(work, sizes, pg_url)),
                (4, lambda: memory_ratio(work, sizes)),
                (5, lambda: scaleout_ratio(work, sizes, pg_url or "")),
                (6, lambda: rate_ratio(work, sizes)),
                (7, lambda: plan_import_ratio(work, sizes, pg_url or "")),
                (8, lambda: scaleout_cpu_ratio(work, sizes, pg_url or "")),
            ]
            for number, step in steps:
                if number in only or (number == 1 and 2 in only):
                    results.extend(r for r in step() if r.number in only)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    notes = Path(args.notes)
    extra = notes.read_text(encoding="utf-8") if notes.is_file() else ""
    write_report(Path(args.out), sorted(results, key=lambda r: r.number), command,
                 time.perf_counter() - started, extra)
    for r in results:
        value = f"{r.ratio:.2f}" if r.ratio is not None else "n/a"
        print(f"{r.number}. {r.title}: {value} (target {r.target})")
        for side in r.sides:
            print(f"     {side}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
