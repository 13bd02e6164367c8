"""The HTTP app served by uvicorn inside the daemon's event loop."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


def make_server(app: Any, host: str, port: int) -> Any:
    """A uvicorn server that leaves signal handling to the daemon."""
    import uvicorn

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # The daemon owns SIGTERM/SIGHUP: it drains the sender before the server stops.
            yield

        def install_signal_handlers(self) -> None:  # uvicorn < 0.29
            return None

    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off",
                            access_log=False)
    return _Server(config)
