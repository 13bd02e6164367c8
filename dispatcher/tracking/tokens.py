"""Signed click and open tokens: ``/c/<token>``, ``/o/<token>``.

A token is 15 bytes in URL-safe base64, exactly 20 characters (short: SMS bills by the
character): the outbox row id (5 bytes, big-endian), the link's index in that message
(1 byte) and an HMAC-SHA256 (first 9 bytes) under a key derived from
``DISPATCHER_SECRET`` for this purpose only. An unsubscribe or push-subscribe token
cannot be replayed here, nor a click token as an open token.

Decoding is strict: the text must be the one canonical encoding of its bytes (decode,
re-encode, compare), so no two strings name the same click. A token that fails any check
is refused (the endpoint answers 400 and never redirects).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Literal

from dispatcher.links import _secret

Purpose = Literal["click", "open"]

_PURPOSES: dict[str, bytes] = {"click": b"dispatcher/click/v1", "open": b"dispatcher/open/v1"}
_ID_BYTES = 5
_MAC_BYTES = 9
_RAW = _ID_BYTES + 1 + _MAC_BYTES
TOKEN_LENGTH = _RAW * 4 // 3  # 15 bytes: 20 characters, no padding
MAX_OUTBOX_ID = 256 ** _ID_BYTES - 1
MAX_LINKS = 256


def _key(purpose: Purpose) -> bytes:
    return hmac.new(_secret(), _PURPOSES[purpose], hashlib.sha256).digest()


def _mac(purpose: Purpose, body: bytes) -> bytes:
    return hmac.new(_key(purpose), body, hashlib.sha256).digest()[:_MAC_BYTES]


def make_token(purpose: Purpose, outbox_id: int, link: int = 0) -> str:
    if not 0 <= outbox_id <= MAX_OUTBOX_ID or not 0 <= link < MAX_LINKS:
        raise ValueError(f"cannot sign outbox row {outbox_id}, link {link}")
    body = outbox_id.to_bytes(_ID_BYTES, "big") + bytes([link])
    return base64.urlsafe_b64encode(body + _mac(purpose, body)).decode("ascii")


def verify_token(purpose: Purpose, token: str) -> tuple[int, int] | None:
    """(outbox id, link index), or None when the token is malformed, non-canonical,
    signed for another purpose or with another secret."""
    if len(token) != TOKEN_LENGTH or not token.isascii():
        return None
    try:
        raw = base64.b64decode(token, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != _RAW or base64.urlsafe_b64encode(raw).decode("ascii") != token:
        return None
    body, mac = raw[:_ID_BYTES + 1], raw[_ID_BYTES + 1:]
    if not hmac.compare_digest(mac, _mac(purpose, body)):
        return None
    return int.from_bytes(body[:_ID_BYTES], "big"), body[_ID_BYTES]
