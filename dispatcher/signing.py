"""Signed tokens in one canonical encoding: ``base64url(payload) "." base64url(mac)``.

Every token the dispatcher hands out (unsubscribe and preference links, push-subscribe
tokens, and any later kind) is made by ``sign`` and read back by ``unsign``, so there is
one strict decoder. Strict means: unpadded base64url only, no characters outside the
alphabet (Python's decoder silently skips them), and the unused low bits of the last
character must be zero (otherwise several texts decode to the same bytes). A token is
accepted only if re-encoding its bytes gives back exactly the text received, so one
payload has exactly one valid token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re

# 16 bytes of HMAC-SHA256: forging needs 2**128 tries, and links stay short.
MAC_BYTES = 16
# Longer texts are refused before any decoding or HMAC work.
MAX_TOKEN = 1024

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64encode(data: bytes) -> str:
    """Unpadded base64url: the only encoding ``b64decode_strict`` accepts."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64decode_strict(text: str) -> bytes | None:
    """The bytes of canonical unpadded base64url ``text``, else None."""
    if not text or len(text) % 4 == 1 or not _BASE64URL.fullmatch(text):
        return None
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    # Non-zero unused bits in the last character decode to the same bytes: refuse them.
    return data if b64encode(data) == text else None


def mac(key: bytes, body: str) -> bytes:
    return hmac.new(key, body.encode(), hashlib.sha256).digest()[:MAC_BYTES]


def sign(key: bytes, payload: bytes) -> str:
    body = b64encode(payload)
    return f"{body}.{b64encode(mac(key, body))}"


def unsign(key: bytes, token: str, max_length: int = MAX_TOKEN) -> bytes | None:
    """The payload of a token ``sign(key, payload)`` made, or None for anything else
    (a forgery, a wrong key, or another spelling of a valid token)."""
    if not isinstance(token, str) or len(token) > max_length or token.count(".") != 1:
        return None
    body, _, signature = token.partition(".")
    given = b64decode_strict(signature)
    if given is None or not hmac.compare_digest(given, mac(key, body)):
        return None
    # The MAC covers the body's text; the body must still be canonical, so that two
    # texts never carry the same payload.
    return b64decode_strict(body) if body else b""
