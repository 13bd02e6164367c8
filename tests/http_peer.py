"""A tiny threaded HTTP server on 127.0.0.1 for provider peers (Twilio, Telegram)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


class Request:
    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.path = urlsplit(path).path
        self.headers = headers
        self.body = body

    def form(self) -> dict[str, str]:
        content_type = self.headers.get("content-type", "")
        if content_type.startswith("application/json"):
            return {k: v if isinstance(v, str) else json.dumps(v)
                    for k, v in json.loads(self.body or b"{}").items()}
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


Reply = tuple[int, dict[str, Any], dict[str, str]]  # status, JSON body, headers


class HttpPeer:
    def __init__(self, handle: Callable[[Request], Reply]) -> None:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(self.command, self.path,
                                  {k.lower(): v for k, v in self.headers.items()},
                                  self.rfile.read(length))
                status, body, headers = peer.handle(request)
                payload = json.dumps(body, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                # the client may have given up (a long poll cancelled at shutdown)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(payload)

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.handle = handle
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> HttpPeer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
