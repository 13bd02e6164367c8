"""Settings of the email channel."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from dispatcher.durations import Timeout

from .base import ChannelSettings


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

    def uses_file(self) -> bool:
        return self.transport == "file" or (self.transport is None and not self.host)
