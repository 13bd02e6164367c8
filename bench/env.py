"""The machine and the reference peers: description, smtp-sink, a throwaway PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


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


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _pg_bin(name: str) -> str:
    return shutil.which(name) or f"/usr/local/bin/{name}"


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL cluster (initdb + pg_ctl) on 127.0.0.1; yields its URL."""
    root = Path(tempfile.mkdtemp(prefix="dispatcher-bench-pg-"))
    data = root / "data"
    port = free_port()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    subprocess.run(_as_postgres([_pg_bin("initdb"), "-D", str(data), "-U", "bench",
                                 "--auth=trust", "-E", "UTF8", "--no-sync"]),
                   check=True, stdout=subprocess.DEVNULL)
    options = (f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={root} "
               "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
               "-c shared_buffers=512MB -c work_mem=64MB -c max_wal_size=4GB")
    subprocess.run(_as_postgres([_pg_bin("pg_ctl"), "-D", str(data), "-o", options,
                                 "-l", str(root / "log"), "-w", "start"]),
                   check=True, stdout=subprocess.DEVNULL)
    try:
        yield f"postgresql+psycopg://bench@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres([_pg_bin("pg_ctl"), "-D", str(data), "-m", "fast",
                                     "stop"]), check=False, stdout=subprocess.DEVNULL)
        shutil.rmtree(root, ignore_errors=True)
