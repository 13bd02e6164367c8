"""Signed links for unsubscribe and preferences.

A token names customer, channel, address hash and campaign, signed with HMAC-SHA256
using ``DISPATCHER_SECRET`` from the environment (format and strict decoding in
dispatcher/signing.py: one payload has exactly one valid token). Tokens do not expire
(an old email's unsubscribe link must keep working); a tampered token fails verification.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dispatcher.signing import sign, unsign

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
                  if c in loaded.channel_settings and not loaded.channel_settings[c].uses_file())


@dataclass(frozen=True)
class LinkClaims:
    customer_id: str
    channel: str
    address_hash: str
    campaign: str


def make_token(claims: LinkClaims) -> str:
    payload = json.dumps([claims.customer_id, claims.channel, claims.address_hash[:32],
                          claims.campaign], separators=(",", ":")).encode()
    return sign(_secret(), payload)


def verify_token(token: str) -> LinkClaims | None:
    """The claims, or None when the token is malformed, not in its one canonical
    encoding (dispatcher/signing.py), or its signature is wrong."""
    payload = unsign(_secret(), token)
    if payload is None:
        return None
    try:
        customer_id, channel, address_hash, campaign = json.loads(payload)
    except (ValueError, TypeError):
        return None
    return LinkClaims(str(customer_id), str(channel), str(address_hash), str(campaign))


def link_urls(public_url: str, claims: LinkClaims) -> tuple[str, str]:
    """The unsubscribe and preferences URLs of one message (one signed token for both)."""
    base, token = public_url.rstrip("/"), make_token(claims)
    return f"{base}/u/{token}", f"{base}/preferences/{token}"
