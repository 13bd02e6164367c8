"""Settings of the web push channel (VAPID, TTL, urgency)."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from channels.base import ChannelSettings, RenderedMessage
from channels.durations import Duration, Timeout
from channels.webpush_hosts import UNSAFE_DEV_ENV, PushHostPolicy, dev_origin, valid_service_pattern

# Push services keep an undelivered message at most four weeks (FCM's limit).
MAX_TTL = timedelta(days=28)
# RFC 8030 push services must accept 4096 bytes of encrypted payload; most refuse more.
MAX_ENCRYPTED_BYTES = 4096


class WebPushSettings(ChannelSettings):
    transport: Literal["webpush", "file"] | None = None  # default: webpush when a key is set
    # Raw base64url P-256 private key (what `dispatcher vapid-keys` prints) or base64 DER;
    # write `${VAPID_PRIVATE_KEY}` in the YAML, never the key itself.
    vapid_private_key: SecretStr | None = None
    # Who the push service can contact about our traffic (RFC 8292): mailto: or https:.
    vapid_subject: str | None = None
    # How long the push service keeps a message for an offline browser (TTL header).
    ttl: Duration = timedelta(days=1)
    urgency: Literal["very-low", "low", "normal", "high"] = "normal"
    timeout: Timeout = 30.0
    # Browser origins allowed to call the subscribe endpoints (CORS); the shop's own
    # origin (shop.url) is always allowed.
    allowed_origins: list[str] = Field(default_factory=list)
    # Push services besides the browsers' own (channels/webpush_hosts.py): host names,
    # or "*.example.com" for any subdomain. Endpoints elsewhere are refused.
    push_services: list[str] = Field(default_factory=list)
    # UNSAFE, development only: loopback origins ("http://127.0.0.1:8123", or ":*" for
    # any port) accepted as push services; refused unless the environment also has
    # DISPATCHER_UNSAFE_DEV_PUSH_SERVICES=1, so a copied development config cannot enable it.
    unsafe_dev_push_services: list[str] = Field(default_factory=list)
    # How long a subscribe token minted for a page stays valid.
    subscribe_token_max_age: Duration = timedelta(days=7)

    @field_validator("vapid_private_key", mode="before")
    @classmethod
    def _blank_key(cls, value: object) -> object:
        # `${VAPID_PRIVATE_KEY:-}` with the variable unset means "no key": file transport.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("vapid_private_key")
    @classmethod
    def _parse_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            from channels.webpush_vapid import load_vapid

            try:
                load_vapid(value.get_secret_value())
            except ValueError:
                # Never echo the value: it is a secret.
                raise ValueError("not a VAPID private key (expected the base64url key "
                                 "printed by `dispatcher vapid-keys`)") from None
        return value

    @field_validator("vapid_subject")
    @classmethod
    def _subject(cls, value: str | None) -> str | None:
        if value is not None and not ((value.startswith("mailto:") and "@" in value)
                                      or value.startswith("https://")):
            raise ValueError(f"must be a mailto: address or an https: URL, got {value!r}")
        return value

    @field_validator("push_services")
    @classmethod
    def _services(cls, value: list[str]) -> list[str]:
        bad = [entry for entry in value if not valid_service_pattern(entry.lower())]
        if bad:
            raise ValueError(f"not a host name (or *.domain): {', '.join(map(repr, bad))}; "
                             "IP addresses and local names cannot be push services")
        return [entry.lower() for entry in value]

    @field_validator("unsafe_dev_push_services")
    @classmethod
    def _dev_services(cls, value: list[str]) -> list[str]:
        if not value:
            return value
        if os.environ.get(UNSAFE_DEV_ENV) != "1":
            raise ValueError(f"for development only: set {UNSAFE_DEV_ENV}=1 in the "
                             "environment as well to allow pushing to a loopback service")
        bad = [entry for entry in value if dev_origin(entry) is None]
        if bad:
            raise ValueError(f"only loopback origins with a port, such as "
                             f"http://127.0.0.1:8123 or http://[::1]:*; got "
                             f"{', '.join(map(repr, bad))}")
        return value

    @field_validator("ttl")
    @classmethod
    def _ttl(cls, value: timedelta) -> timedelta:
        if value < timedelta(0) or value > MAX_TTL:
            raise ValueError("must be between 0s and 28d")
        return value

    @model_validator(mode="after")
    def _subject_with_key(self) -> WebPushSettings:
        if self.transport == "webpush" and self.vapid_private_key is None:
            raise ValueError("transport webpush needs vapid_private_key "
                             "(e.g. ${VAPID_PRIVATE_KEY})")
        if self.vapid_private_key is not None and not self.vapid_subject:
            raise ValueError("vapid_subject is required with a VAPID key "
                             "(e.g. mailto:ops@shop.example)")
        return self

    def host_policy(self) -> PushHostPolicy:
        """Which push endpoints may be stored and sent to."""
        return PushHostPolicy.build(self.push_services, self.unsafe_dev_push_services)

    def send_time_skip(self, message: RenderedMessage) -> str | None:
        # Sent anyway, the push service would answer 413; a recorded skip says why.
        size = message.data.get("encrypted_size", 0)
        return "payload_too_large" if size > MAX_ENCRYPTED_BYTES else None

    def uses_file(self) -> bool:
        return self.transport == "file" or (self.transport is None
                                            and self.vapid_private_key is None)
