"""Servers for the browser test: the dispatcher's ASGI app and a shop page on loopback."""

from __future__ import annotations

import os
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import uvicorn

from .support.ports import free_port


def chromium_path() -> str | None:
    """Debian's chromium; the browser tests skip without it unless it is required."""
    path = os.environ.get("DISPATCHER_CHROMIUM") or shutil.which("chromium") \
        or shutil.which("chromium-browser")
    if path is None and os.environ.get("DISPATCHER_REQUIRE_BROWSER") == "1":
        pytest.fail("DISPATCHER_REQUIRE_BROWSER=1 but no chromium found (apt-get install chromium)")
    return path


class AppServer:
    """Run an ASGI app with uvicorn in a thread on a free loopback port."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> AppServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)


class ShopSite:
    """The shop's own origin: a page with the snippet and the one-line /sw.js it hosts."""

    def __init__(self, dispatcher_origin: str, token: str, port: int | None = None) -> None:
        self.port = port or free_port()
        pages = {
            "/sw.js": (f'importScripts("{dispatcher_origin}/push/sw.js");\n',
                       "text/javascript"),
            "/account": (f"""<!doctype html><html><head><meta charset="utf-8">
<script src="{dispatcher_origin}/push/subscribe.js"></script></head><body>
<button id="notify" onclick="DispatcherPush.subscribe({{token: '{token}',
  serviceWorker: '/sw.js', consentText: 'Offers as notifications'}})
  .then(r => {{ window.subscribeResult = r; }},
        e => {{ window.subscribeResult = {{ok: false, reason: String(e)}}; }})">
Notify me</button></body></html>""", "text/html; charset=utf-8"),
        }

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                body, kind = pages.get(self.path, ("not found", "text/plain"))
                data = body.encode()
                self.send_response(200 if self.path in pages else 404)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ShopSite:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
