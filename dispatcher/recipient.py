"""Who a message is composed for, and the shape of a channel's composer.

Its own module so that the per-channel composers (compose_sms, compose_telegram,
push_payload) and the table that picks them (compose) import it without importing
each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from channels.base import RenderedMessage

from .templating import TemplateRenderer


@dataclass(frozen=True)
class Recipient:
    customer_id: str
    address: str
    name: str | None
    locale: str | None
    data: dict[str, Any] | None = None


Composer = Callable[[TemplateRenderer, str, str, Recipient, dict[str, Any]], RenderedMessage]
