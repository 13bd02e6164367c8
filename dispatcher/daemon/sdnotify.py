"""systemd's sd_notify protocol: one datagram to $NOTIFY_SOCKET (no dependency needed)."""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger("dispatcher.daemon")


def notify(state: str) -> bool:
    """Send ``state`` (e.g. ``READY=1``); False when not run by systemd with Type=notify."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # abstract namespace socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as exc:
        log.warning("sd_notify failed: %s", exc)
        return False
    return True
