"""Settings of the web push channel (VAPID, TTL, urgency)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from dispatcher.durations import Duration, Timeout

from .base import ChannelSettings, RenderedMessage

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
    # A subscription may name an http:// endpoint only when this is set (loopback
    # testing); real push services are https and anything else is refused.
    allow_http_endpoints: bool = False
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
            from .webpush_vapid import load_vapid

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

    def send_time_skip(self, message: RenderedMessage) -> str | None:
        # Sent anyway, the push service would answer 413; a recorded skip says why.
        size = message.data.get("encrypted_size", 0)
        return "payload_too_large" if size > MAX_ENCRYPTED_BYTES else None

    def uses_file(self) -> bool:
        return self.transport == "file" or (self.transport is None
                                            and self.vapid_private_key is None)
