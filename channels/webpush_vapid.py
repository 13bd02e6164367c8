"""VAPID (RFC 8292) keys and Authorization headers, through py_vapid.

The JWT for a push service origin is valid for up to 24 h; we sign one per origin and
reuse it until it is close to expiry instead of signing for every message.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid, VapidException

# Signed tokens live 12 h (pywebpush's choice); re-sign when less than 1 h is left.
TOKEN_LIFETIME = 12 * 3600
RESIGN_MARGIN = 3600


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def load_vapid(private_key: str) -> Vapid:
    """Parse a raw (32-byte base64url) or DER private key; ValueError when it is neither."""
    try:
        vapid = Vapid.from_string(private_key.strip())
    except (VapidException, ValueError, TypeError, IndexError) as exc:
        raise ValueError("invalid VAPID private key") from exc
    if not isinstance(vapid.private_key.curve, ec.SECP256R1):
        raise ValueError("a VAPID key must be on the P-256 curve")
    return vapid


def application_server_key(vapid: Vapid) -> str:
    """The public key as the browser's ``applicationServerKey`` wants it (base64url)."""
    raw = vapid.public_key.public_bytes(serialization.Encoding.X962,
                                        serialization.PublicFormat.UncompressedPoint)
    return b64url(raw)


@dataclass(frozen=True)
class KeyPair:
    private_key: str  # base64url of the 32-byte private scalar
    public_key: str  # base64url of the uncompressed point: the applicationServerKey


def generate_key_pair() -> KeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_numbers().private_value.to_bytes(32, "big")
    public = key.public_key().public_bytes(serialization.Encoding.X962,
                                           serialization.PublicFormat.UncompressedPoint)
    return KeyPair(b64url(private), b64url(public))


def audience(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


class VapidSigner:
    """Authorization headers per push service origin, cached until near expiry."""

    def __init__(self, private_key: str, subject: str) -> None:
        self._vapid = load_vapid(private_key)
        self._subject = subject
        self._cache: dict[str, tuple[float, dict[str, str]]] = {}

    def headers(self, endpoint: str, now: float | None = None) -> dict[str, str]:
        now = time.time() if now is None else now
        aud = audience(endpoint)
        cached = self._cache.get(aud)
        if cached is not None and cached[0] - now > RESIGN_MARGIN:
            return cached[1]
        expires = int(now) + TOKEN_LIFETIME
        signed = self._vapid.sign({"aud": aud, "exp": expires, "sub": self._subject})
        headers = {str(k): str(v) for k, v in signed.items()}
        self._cache[aud] = (expires, headers)
        return headers

    def __repr__(self) -> str:  # the key is a secret
        return f"VapidSigner(subject={self._subject!r})"
