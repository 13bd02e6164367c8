"""What a channel is, declared in one place: ``ChannelSpec``.

Each channel module (``email_spec``, ``sms_spec``, ``telegram_spec``, ``webpush_spec``)
declares one spec; ``channels.registry`` lists the specs it imports. A spec holds
everything the dispatcher asks of a channel:

- ``settings``: the pydantic model of ``channels.<name>`` in config.yaml;
- ``build``: the provider-backed adapter (its library is imported only then, so the core
  runs without the optional extras); with no provider settings the file fallback is used;
- ``parts`` and ``compose``: which template parts it reads and how they become one
  ``RenderedMessage``;
- ``check``: what ``validate`` refuses in a rendered sample (too long, too large);
- ``file_body``/``file_suffix``: how the file transport writes a message;
- ``test_mark``: where a test-send's ``[TEST]`` goes (the first thing the recipient reads);
- ``newest_address_first``: which of a customer's addresses a message goes to.

A new channel is one module with one spec, added to the registry's list (or, in a test,
``register``-ed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from channels.base import (
    Channel,
    ChannelSettings,
    Recipient,
    RenderedMessage,
    TemplateProblem,
    Templates,
)

Composer = Callable[[Templates, str, str, Recipient, dict[str, Any]], RenderedMessage]
Builder = Callable[[ChannelSettings, Path], Channel]
Check = Callable[[ChannelSettings, RenderedMessage], str | None]
FileBody = Callable[[ChannelSettings], Callable[[RenderedMessage], bytes]]

TEST_MARK = "[TEST] "


def required_part(templates: Templates, folder: str, part: str, locale: str | None,
                  context: dict[str, Any]) -> str:
    """A template part the channel cannot do without, rendered; a located error when the
    folder has none."""
    text = templates.render(folder, part, locale, context)
    if text is None:
        raise TemplateProblem(f"{templates.root / folder}/{part}", None,
                              f"missing template {part}")
    return text


def no_check(settings: ChannelSettings, message: RenderedMessage) -> str | None:
    return None


@dataclass(frozen=True)
class ChannelSpec:
    name: str
    settings: type[ChannelSettings]
    build: Builder
    parts: tuple[str, ...]
    compose: Composer
    test_mark: Literal["subject", "text", "title"]
    check: Check = no_check
    file_body: FileBody | None = None  # None: the file transport's JSON
    file_suffix: str = ".json"
    # Which of a customer's several addresses on this channel a message goes to: the
    # oldest (email, sms: the first one on file) or the newest (push: the browser that
    # subscribed last is the one most likely still in use; see channels/webpush.py).
    newest_address_first: bool = False


def mark_test(spec: ChannelSpec, message: RenderedMessage) -> RenderedMessage:
    """A test-send's copy of ``message``: ``[TEST]`` before what the recipient reads
    first (the subject, the text, the push title), ``is_test`` set."""
    if spec.test_mark == "subject":
        return dataclasses.replace(message, is_test=True,
                                   subject=TEST_MARK + (message.subject or ""))
    if spec.test_mark == "text":
        return dataclasses.replace(message, is_test=True, text=TEST_MARK + message.text)
    payload = dict(message.data.get("payload") or {"title": message.subject or "",
                                                  "body": message.text})
    payload["title"] = TEST_MARK + str(payload.get("title", ""))
    return dataclasses.replace(message, is_test=True, subject=payload["title"],
                               data={**message.data, "payload": payload})
