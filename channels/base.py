"""The channel contract.

An adapter turns a ``RenderedMessage`` into one provider call. It never touches
the database, caps or opt-outs (the sender does), validates its own settings,
and never prints a secret.

When ``send`` raises, the adapter's pure ``classify`` says what the sender must *do*;
one retry policy (``dispatcher.send.retry``) obeys it, the same way for every channel::

    Outcome
    ├── Retry(reason, after)    nothing was delivered: try again (after ``after`` seconds
    │                           when the provider said so), up to the channel's max_attempts
    ├── Fail(reason)            this message cannot be delivered; never retried
    ├── Unknown(reason)         the request may have reached the provider (a timeout or a
    │                           dropped connection after it went out): 'uncertain', never
    │                           sent again unless the channel is declared idempotent
    └── Gone(action, reason)    the recipient is gone: the message fails and the address is
                                SUPPRESS-ed (opted out, blocked), INVALIDATE-d (does not
                                exist) and/or DELETE-d (a dead push subscription)

``systemic`` on any outcome means "our side, not the recipient's" (credentials, account,
an outage): it only feeds the error-rate guard, which pauses the campaign. Anything a
classifier does not recognise is ``Fail``: only declared errors are retried.
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, Field

from channels.durations import Duration, Rate


@dataclass(frozen=True)
class Retry:
    """Nothing reached the recipient: sending again cannot duplicate it."""

    reason: str
    after: float | None = None  # seconds the provider asked for; None: our backoff
    code: str | None = None
    systemic: bool = False
    name: ClassVar[str] = "retry"


@dataclass(frozen=True)
class Fail:
    """The provider refused this message for good (or we cannot build it)."""

    reason: str
    code: str | None = None
    systemic: bool = False
    name: ClassVar[str] = "fail"


@dataclass(frozen=True)
class Unknown:
    """The request went out and no answer came back: it may have been delivered."""

    reason: str
    code: str | None = None
    systemic: bool = False
    name: ClassVar[str] = "unknown"


class GoneAction(enum.Flag):
    SUPPRESS = enum.auto()  # never message this address again (opted out, blocked the bot)
    INVALIDATE = enum.auto()  # the address does not exist or cannot receive: mark it
    DELETE = enum.auto()  # dead for good (an expired push subscription): delete the row


@dataclass(frozen=True)
class Gone:
    """The recipient is gone: this message fails and the address is acted on."""

    action: GoneAction
    reason: str
    code: str | None = None
    systemic: ClassVar[bool] = False
    name: ClassVar[str] = "gone"


Outcome = Retry | Fail | Unknown | Gone


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

    def uses_file(self) -> bool:
        """True when messages go to files (``transport: file``, or no provider settings
        given); channels with provider settings override it."""
        return self.transport == "file"

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
    def classify(self, error: BaseException) -> Outcome:
        """Pure: what must the sender do about this error, and why?"""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections and sessions."""


@dataclass(frozen=True)
class Recipient:
    """Who a message is composed for."""

    customer_id: str
    address: str
    name: str | None
    locale: str | None
    data: dict[str, Any] | None = None


@dataclass(frozen=True)
class TemplateProblem(Exception):
    """A template failed to compile or render, or its result is not a valid message for
    the channel; names the file and line."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class Templates(Protocol):
    """What a channel's composer reads its template parts through (the dispatcher's
    sandboxed renderer): a part is rendered for a folder and locale, or is None when the
    folder has no such part."""

    @property
    def root(self) -> Path: ...

    def render(self, folder: str, part: str, locale: str | None,
               context: dict[str, Any]) -> str | None: ...

    def find(self, folder: str, part: str, locale: str | None) -> str | None: ...
