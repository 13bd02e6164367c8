"""The channel contract.

An adapter turns a ``RenderedMessage`` into one provider call. It never touches
the database, caps or opt-outs (the sender does), validates its own settings,
and never prints a secret.

Failures are classified, never collapsed::

    Failure(kind, reason, code, retry_after)
    ├── RETRYABLE       try again later (after ``retry_after`` seconds when the provider says)
    ├── PERMANENT       this message cannot be delivered; do not retry
    └── RECIPIENT_GONE  the recipient opted out or no longer exists; suppress the address
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from dispatcher.durations import Duration, Rate


class FailureKind(enum.Enum):
    RETRYABLE = "retryable"
    PERMANENT = "permanent"
    RECIPIENT_GONE = "recipient_gone"


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    reason: str
    code: str | None = None
    retry_after: float | None = None
    # True when the failure is about our side (bad credentials, misconfiguration),
    # so it counts toward pausing the campaign rather than toward the recipient.
    systemic: bool = False
    # True when the address itself is invalid (mark it, don't just fail the message).
    address_invalid: bool = False
    # True when the address no longer exists anywhere (a web push subscription the push
    # service answered 404/410 for): delete it instead of keeping a dead row around.
    delete_address: bool = False


@dataclass
class RenderedMessage:
    """Everything an adapter needs to deliver one message; already rendered."""

    campaign: str
    channel: str
    customer_id: str
    to: str
    text: str
    outbox_id: int | None = None
    to_name: str | None = None
    subject: str | None = None
    html: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Channel-specific extras: push subscription keys and payload, Telegram button, ...
    data: dict[str, Any] = field(default_factory=dict)
    is_test: bool = False

    def __repr__(self) -> str:  # addresses are personal data: keep them out of reprs and logs
        return (f"RenderedMessage(campaign={self.campaign!r}, channel={self.channel!r}, "
                f"customer_id={self.customer_id!r}, outbox_id={self.outbox_id!r})")


class ChannelSettings(BaseModel):
    """Settings every channel has; each channel extends it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    transport: str | None = None
    rate: Rate | None = None  # messages per second, enforced by the sender
    concurrency: int = Field(default=10, ge=1, le=1000)
    max_attempts: int = Field(default=5, ge=1, le=50)
    # Only a channel whose provider deduplicates by our message id may be re-sent after
    # a crash left the outcome unknown; everything else becomes 'uncertain'.
    idempotent: bool = False
    outbox_dir: str = "outbox"
    # Exponential backoff with full jitter between retries; a provider's retry_after wins.
    retry_base: Duration = timedelta(seconds=30)
    retry_cap: Duration = timedelta(minutes=30)

    def send_time_skip(self, message: RenderedMessage) -> str | None:
        """A reason not to send this rendered message (recorded as a skip), else None.

        Channels with per-message limits (SMS segments) override it; the sender asks
        before handing the message to the adapter.
        """
        return None


class Channel(abc.ABC):
    name: ClassVar[str]

    @abc.abstractmethod
    async def send(self, message: RenderedMessage) -> str:
        """Deliver ``message``; return the provider's message id; raise on failure."""

    @abc.abstractmethod
    def classify(self, error: BaseException) -> Failure:
        """Pure: what does this error mean for the message and the recipient?"""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections and sessions."""


class ChannelConfigError(Exception):
    """A channel cannot be built from its settings (message never contains secrets)."""
