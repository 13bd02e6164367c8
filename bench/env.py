"""The machine and the reference peers: description, smtp-sink, a throwaway PostgreSQL
(tests/support, shared with the test suite)."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.support.ports import free_port, wait_port
from tests.support.postgres import PostgresServer, find_bindir

__all__ = ["free_port", "machine", "postgres", "smtp_sink", "wait_port"]


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.1f} GiB RAM"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"{cpu}, {cores} cores available{mem}; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}")


def smtp_sink_binary() -> str:
    """Postfix's smtp-sink; installs the Debian package when it is missing."""
    found = shutil.which("smtp-sink") or shutil.which("smtp-sink", path="/usr/sbin")
    if found:
        return found
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run("echo 'postfix postfix/main_mailer_type select No configuration' | "
                   "debconf-set-selections", shell=True, check=False)
    subprocess.run(["apt-get", "install", "-y", "-q", "postfix"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    found = shutil.which("smtp-sink", path="/usr/sbin:/usr/bin")
    if not found:
        raise RuntimeError("smtp-sink not found after installing postfix")
    return found


@contextlib.contextmanager
def smtp_sink() -> Iterator[int]:
    """smtp-sink on 127.0.0.1: accepts everything, keeps nothing (backlog 1024)."""
    port = free_port()
    proc = subprocess.Popen([smtp_sink_binary(), "-u", _sink_user(), f"127.0.0.1:{port}",
                             "1024"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def _sink_user() -> str:
    # smtp-sink drops privileges when started as root; any unprivileged user will do.
    return "nobody" if os.geteuid() == 0 else (os.environ.get("USER") or "nobody")


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (the suite's own, tuned for bulk
    loads); yields its URL."""
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError("no PostgreSQL server binaries (initdb) found")
    server = PostgresServer(bindir, {"synchronous_commit": "off", "full_page_writes": "off",
                                     "shared_buffers": "512MB", "work_mem": "64MB",
                                     "max_wal_size": "4GB"})
    server.start()
    try:
        yield server.url()
    finally:
        server.stop()
