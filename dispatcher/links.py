"""Signed links for unsubscribe and preferences.

A token names customer, channel, address hash and campaign, signed with HMAC-SHA256
using ``DISPATCHER_SECRET`` from the environment. Tokens do not expire (an old
email's unsubscribe link must keep working); a tampered token fails verification.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_DEV_SECRET = "dispatcher-development-secret-set-DISPATCHER_SECRET"


def _secret() -> bytes:
    return os.environ.get("DISPATCHER_SECRET", _DEV_SECRET).encode()


def secret_is_default() -> bool:
    return "DISPATCHER_SECRET" not in os.environ


def real_channels(loaded: Any, campaigns: Iterable[str]) -> list[str]:
    """The channels of ``campaigns`` that reach real recipients (not a file transport):
    the messages whose links must be signed with a real secret."""
    used = {c for name in campaigns for c in loaded.config.campaigns[name].channels}
    return sorted(c for c in used
                  if not getattr(loaded.channel_settings.get(c), "uses_file", lambda: True)())


@dataclass(frozen=True)
class LinkClaims:
    customer_id: str
    channel: str
    address_hash: str
    campaign: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_token(claims: LinkClaims) -> str:
    payload = json.dumps([claims.customer_id, claims.channel, claims.address_hash[:32],
                          claims.campaign], separators=(",", ":")).encode()
    body = _b64(payload)
    signature = hmac.new(_secret(), body.encode(), hashlib.sha256).digest()[:16]
    return f"{body}.{_b64(signature)}"


def verify_token(token: str) -> LinkClaims | None:
    """The claims, or None when the token is malformed or its signature is wrong."""
    body, _, signature = token.partition(".")
    if not body or not signature:
        return None
    expected = hmac.new(_secret(), body.encode(), hashlib.sha256).digest()[:16]
    try:
        if not hmac.compare_digest(expected, _unb64(signature)):
            return None
        customer_id, channel, address_hash, campaign = json.loads(_unb64(body))
    except (ValueError, TypeError):
        return None
    return LinkClaims(str(customer_id), str(channel), str(address_hash), str(campaign))


def link_urls(public_url: str, claims: LinkClaims) -> tuple[str, str]:
    """The unsubscribe and preferences URLs of one message (one signed token for both)."""
    base, token = public_url.rstrip("/"), make_token(claims)
    return f"{base}/u/{token}", f"{base}/preferences/{token}"
