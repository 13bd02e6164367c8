"""A loopback web push service that checks what a real one checks, and decrypts.

It verifies the VAPID JWT (ES256 signature against the key in ``Authorization: vapid
t=...,k=...``, audience, expiry, subject), requires TTL and aes128gcm, refuses bodies
over 4096 bytes with 413, decrypts the body with the subscriber's private key
(http_ece), and answers 201 with a Location. Tests can queue other answers per
subscription (410, 429 + Retry-After, ...) and count TCP connections.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Subscriber:
    """A browser's side of a subscription: the keys the push message is encrypted to."""

    name: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    @property
    def p256dh(self) -> str:
        return b64e(self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))

    def subscription(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "expirationTime": None,
                "keys": {"p256dh": self.p256dh, "auth": b64e(self.auth)}}


@dataclass
class Delivery:
    subscriber: str
    payload: dict[str, Any]
    headers: dict[str, str]
    at: float


@dataclass
class PushService:
    expected_vapid_key: str | None = None  # base64url public key the JWT must be signed with
    subscribers: dict[str, Subscriber] = field(default_factory=dict)
    delivered: list[Delivery] = field(default_factory=list)
    attempts: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    problems: list[str] = field(default_factory=list)  # requests a real service would refuse
    replies: dict[str, deque[tuple[int, dict[str, str]]]] = \
        field(default_factory=lambda: defaultdict(deque))
    connections: int = 0
    # Seconds to wait after delivering before answering 201 (the browser has it).
    answer_delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> PushService:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def subscriber(self, name: str) -> Subscriber:
        sub = Subscriber(name, f"{self.origin}/sub/{name}-{os.urandom(6).hex()}",
                         ec.generate_private_key(ec.SECP256R1()), os.urandom(16))
        self.subscribers[sub.endpoint.rsplit("/", 1)[1]] = sub
        return sub

    def reply(self, sub: Subscriber, status: int, headers: dict[str, str] | None = None) -> None:
        """Answer the next request for ``sub`` with ``status`` instead of delivering."""
        self.replies[sub.endpoint.rsplit("/", 1)[1]].append((status, headers or {}))

    def titles(self, sub: Subscriber | None = None) -> list[str]:
        return [d.payload.get("title", "") for d in self.delivered
                if sub is None or d.subscriber == sub.name]

    # -- checks a real push service makes ------------------------------------------------

    def check_vapid(self, authorization: str) -> str | None:
        """None when the VAPID header is valid; otherwise what is wrong."""
        scheme, _, params = authorization.partition(" ")
        if scheme.lower() != "vapid":
            return f"scheme {scheme!r}"
        parts = dict(p.strip().split("=", 1) for p in params.split(",") if "=" in p)
        token, key = parts.get("t", ""), parts.get("k", "")
        if self.expected_vapid_key and key != self.expected_vapid_key:
            return "unexpected VAPID public key"
        try:
            head_b64, claims_b64, sig_b64 = token.split(".")
            header, claims = json.loads(b64d(head_b64)), json.loads(b64d(claims_b64))
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64d(key))
            raw = b64d(sig_b64)
            signature = encode_dss_signature(int.from_bytes(raw[:32], "big"),
                                             int.from_bytes(raw[32:], "big"))
            public.verify(signature, f"{head_b64}.{claims_b64}".encode(),
                          ec.ECDSA(hashes.SHA256()))
        except (ValueError, InvalidSignature) as exc:
            return f"bad JWT: {type(exc).__name__}"
        if header.get("alg") != "ES256":
            return "alg"
        if claims.get("aud") != self.origin:
            return f"aud {claims.get('aud')!r}"
        if not time.time() < int(claims.get("exp", 0)) <= time.time() + 86400:
            return "exp"
        if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
            return "sub"
        return None


def _handler(service: PushService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real push services

        def setup(self) -> None:
            super().setup()
            with service.lock:
                service.connections += 1

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, status: int, headers: dict[str, str] | None = None,
                    body: bytes = b"") -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            sub_id = self.path.rsplit("/", 1)[-1]
            subscriber = service.subscribers.get(sub_id)
            if subscriber is None:
                return self._answer(404)
            with service.lock:
                service.attempts[subscriber.name].append(time.monotonic())
                queued = service.replies[sub_id].popleft() if service.replies[sub_id] else None
            problem = service.check_vapid(self.headers.get("Authorization", ""))
            if problem:
                service.problems.append(problem)
                return self._answer(401, body=problem.encode())
            if self.headers.get("TTL") is None or self.headers.get("Content-Encoding") \
                    != "aes128gcm":
                service.problems.append("missing TTL or not aes128gcm")
                return self._answer(400)
            if len(body) > 4096:
                return self._answer(413)
            if queued is not None:
                return self._answer(queued[0], queued[1])
            try:
                plain = http_ece.decrypt(body, private_key=subscriber.private_key,
                                         auth_secret=subscriber.auth, version="aes128gcm")
                payload = json.loads(plain)
            except Exception as exc:  # a real service cannot decrypt; the browser would drop it
                service.problems.append(f"undecryptable: {exc!r}")
                return self._answer(400)
            with service.lock:
                service.delivered.append(Delivery(subscriber.name, payload,
                                                  {k.lower(): v for k, v in self.headers.items()},
                                                  time.monotonic()))
                number = len(service.delivered)
            if service.answer_delay:
                time.sleep(service.answer_delay)
            # the client may have given up waiting (and closed the connection)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._answer(201, {"Location": f"{service.origin}/m/{number}"})

    return Handler
