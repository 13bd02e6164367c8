"""Signed subscribe tokens: proof that a page was rendered for a given customer.

The shop's backend mints a token for the logged-in customer and puts it in the page
that includes ``subscribe.js``; the subscribe endpoint stores a browser's push
subscription for the customer the token names, so nobody can subscribe their browser
as someone else (and receive that person's personal offers).

Format: ``base64url(json([customer_id, issued_at])) "." base64url(hmac)[:16 bytes]``,
HMAC-SHA256 under a key derived from ``DISPATCHER_SECRET`` for this purpose only, so an
unsubscribe link's token can never be replayed here. Mint one from Python with
``make_subscribe_token(customer_id)`` or from a shell with ``dispatcher push-token ID``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import timedelta

from dispatcher.links import _secret
from dispatcher.signing import sign, unsign

_PURPOSE = b"dispatcher/push-subscribe/v1"


def _key() -> bytes:
    return hmac.new(_secret(), _PURPOSE, hashlib.sha256).digest()


def make_subscribe_token(customer_id: str, now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    return sign(_key(), json.dumps([customer_id, issued], separators=(",", ":")).encode())


def verify_subscribe_token(token: str, max_age: timedelta,
                           now: float | None = None) -> str | None:
    """The customer id, or None when the token is forged, malformed, not in its one
    canonical encoding, or too old."""
    payload = unsign(_key(), token)
    if payload is None:
        return None
    try:
        customer_id, issued = json.loads(payload)
    except (ValueError, TypeError):
        return None
    now = time.time() if now is None else now
    if not isinstance(issued, int) or not 0 <= now - issued <= max_age.total_seconds():
        return None
    return str(customer_id)
