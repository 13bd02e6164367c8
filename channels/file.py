"""The file transport: writes each message to an outbox folder instead of a provider.

It is the embedded default when no provider is configured (like a web framework's
file email backend): a person can read exactly what would have been sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import uuid
from collections.abc import Callable
from pathlib import Path

from channels.base import Channel, Fail, Outcome, RenderedMessage, Retry


def _json_body(message: RenderedMessage) -> bytes:
    payload = {
        "campaign": message.campaign,
        "channel": message.channel,
        "customer_id": message.customer_id,
        "to": message.to,
        "subject": message.subject,
        "text": message.text,
        "html": message.html,
        "data": {k: v for k, v in message.data.items() if k != "subscription"},
        "test": message.is_test,
    }
    return json.dumps(payload, ensure_ascii=False, indent=2, default=str).encode()


class FileChannel(Channel):
    name = "file"

    def __init__(self, directory: str | Path, channel: str = "file",
                 serialize: Callable[[RenderedMessage], bytes] | None = None,
                 suffix: str = ".json") -> None:
        self.directory = Path(directory)
        self.channel = channel
        self._serialize = serialize or _json_body
        self._suffix = suffix

    async def send(self, message: RenderedMessage) -> str:
        body = self._serialize(message)
        ident = f"{message.outbox_id}" if message.outbox_id is not None else uuid.uuid4().hex
        if message.is_test:
            ident = f"test-{uuid.uuid4().hex[:12]}"
        folder = self.directory / self.channel / _folder_name(message.campaign)
        target = folder / f"{ident}{self._suffix}"
        await asyncio.to_thread(_write_atomically, folder, target, body)
        return f"file:{target}"

    def classify(self, error: BaseException) -> Outcome:
        # The file is written atomically (rename): a failure means nothing was written.
        if isinstance(error, OSError) and error.errno in (28, 122):  # ENOSPC, EDQUOT
            return Retry(f"disk full: {error.strerror}", systemic=True)
        if isinstance(error, OSError):
            return Fail(f"cannot write: {error.strerror}", systemic=True)
        return Fail(type(error).__name__)


_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}")


def _folder_name(campaign: str) -> str:
    """The campaign's name as one path segment. The config refuses other names; should
    one get here anyway, it is never used raw (``../../x`` would leave the folder)."""
    if _PLAIN_NAME.fullmatch(campaign):
        return campaign
    return "campaign-" + hashlib.sha256(campaign.encode()).hexdigest()[:16]


def _write_atomically(folder: Path, target: Path, body: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(body)
    os.replace(tmp, target)
