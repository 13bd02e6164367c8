"""Settings of the email channel."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator

from channels.base import ChannelSettings
from channels.durations import Timeout


class EmailSettings(ChannelSettings):
    transport: Literal["smtp", "file"] | None = None  # default: smtp when host is set
    host: str | None = None
    port: int | None = None
    username: str | None = None
    password: SecretStr | None = None
    security: Literal["starttls", "tls", "none"] = "starttls"
    validate_certs: bool = True
    from_address: str = Field(default="Shop <shop@example.com>", alias="from")
    reply_to: str | None = None
    pool_size: int = Field(default=4, ge=1, le=100)
    timeout: Timeout = 30.0
    # mailto: address for the List-Unsubscribe header (RFC 2369/8058)
    unsubscribe_mailto: str | None = None

    @field_validator("host", "port", "username", "password", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        """``${SMTP_USERNAME:-}`` with the variable unset gives "": no AUTH at all (a
        relay without AUTH refuses a login), not a login with an empty name."""
        if isinstance(value, str) and not value.strip():
            return None
        return value

    def uses_file(self) -> bool:
        return self.transport == "file" or (self.transport is None and not self.host)
