"""Settings of the SMS channel (Twilio)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from channels.base import ChannelSettings, RenderedMessage
from channels.durations import Timeout
from channels.sms_segments import count_segments

TWILIO_API = "https://api.twilio.com"


class SmsSettings(ChannelSettings):
    transport: Literal["twilio", "file"] | None = None  # default: twilio when account_sid set
    account_sid: str | None = None  # ${TWILIO_ACCOUNT_SID}
    auth_token: SecretStr | None = None  # ${TWILIO_AUTH_TOKEN}; also signs Twilio's webhooks
    from_number: str | None = Field(default=None, alias="from")
    messaging_service_sid: str | None = None
    # Where Twilio posts delivery statuses (this daemon's /twilio/status endpoint).
    status_callback: str | None = None
    # Another API host (a regional proxy, or a loopback server in tests).
    base_url: str = TWILIO_API
    timeout: Timeout = 15.0
    # A message longer than this many segments is not sent (validate: error; send: skip).
    max_segments: int = Field(default=4, ge=1, le=10)
    price_per_segment: Decimal | None = Field(default=None, ge=0)
    currency: str = "USD"

    @field_validator("account_sid", "auth_token", "from_number", "messaging_service_sid",
                     "status_callback", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        # ``${TWILIO_ACCOUNT_SID:-}`` in the YAML yields "" when the variable is unset.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("account_sid")
    @classmethod
    def _sid(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("AC"):
            raise ValueError("a Twilio account SID starts with AC")
        return value

    @field_validator("messaging_service_sid")
    @classmethod
    def _service_sid(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("MG"):
            raise ValueError("a Messaging Service SID starts with MG")
        return value

    @model_validator(mode="after")
    def _complete(self) -> SmsSettings:
        if self.uses_file():
            return self
        missing = [name for name, value in (("account_sid", self.account_sid),
                                            ("auth_token", self.auth_token)) if value is None]
        if missing:
            raise ValueError(f"twilio needs {' and '.join(missing)} (from the environment, "
                             f"e.g. ${{TWILIO_ACCOUNT_SID}} / ${{TWILIO_AUTH_TOKEN}})")
        if self.from_number is None and self.messaging_service_sid is None:
            raise ValueError("twilio needs 'from' (a number or sender id) or "
                             "'messaging_service_sid'")
        return self

    def uses_file(self) -> bool:
        return self.transport == "file" or (self.transport is None and not self.account_sid)

    def over_limit(self, message: RenderedMessage) -> str | None:
        """Why ``message`` must not be sent (too many segments), else None."""
        count = count_segments(message.text)
        if count.segments > self.max_segments:
            return (f"{count.describe()} is over the limit of {self.max_segments} "
                    f"(channels.sms.max_segments)")
        return None

    def send_time_skip(self, message: RenderedMessage) -> str | None:
        return "too_long" if self.over_limit(message) else None

    def cost(self, segments: int) -> Decimal | None:
        if self.price_per_segment is None:
            return None
        return self.price_per_segment * segments
