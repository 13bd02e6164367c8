"""Email bytes without the stdlib ``email`` package's object model, for the common case.

Profiling the pipeline showed building and flattening an ``EmailMessage`` cost more
than everything else per message (about 1 ms of CPU each: header objects, policy
lookups, the generator). This module writes the same message directly as bytes:
header encoding is cached per campaign (From, Subject per text), bodies are encoded
once, and the structure is the one ``build_mime`` produces (multipart/alternative of
text/plain and text/html, or a single text/plain part).

Anything unusual falls back to ``build_mime``: non-ASCII addresses, non-ASCII or
over-long extra headers, line breaks in header values (the stdlib rejects those as
header injection). tests/test_email_fast.py checks that both outputs parse to the
same headers and bodies.
"""

from __future__ import annotations

import base64
import email.utils
import os
import time
from functools import lru_cache

from channels.base import RenderedMessage
from channels.email_headers import MAX_LINE as _MAX_LINE
from channels.email_headers import (
    PLAIN_ADDRESS,
    HeaderTooLong,
    fold_ascii,
    mailbox,
    parse_mailbox,
    unstructured,
)
from channels.email_headers import UNSAFE as _UNSAFE
from channels.email_mime import build_mime, message_id, sender_domain


class Unsupported(Exception):
    """The fast path does not handle this message; use the stdlib builder."""


def message_bytes(message: RenderedMessage, from_address: str,
                  reply_to: str | None = None) -> tuple[bytes, bool]:
    """The message as SMTP-ready bytes (CRLF) and whether a body part is 8bit."""
    try:
        return _fast(message, from_address, reply_to)
    except Unsupported:
        mime = build_mime(message, from_address, reply_to)
        data = bytes(mime)
        return data, _has_8bit(data)


def _has_8bit(data: bytes) -> bool:
    return not data.isascii()


def _fast(message: RenderedMessage, from_address: str,
          reply_to: str | None) -> tuple[bytes, bool]:
    if message.outbox_id is None:
        raise Unsupported("Message-ID")  # a random id; the caller reads it from the object
    lines = [_configured_mailbox("From", from_address)]
    lines.append(_to_header(message.to, message.to_name))
    if reply_to:
        lines.append(_configured_mailbox("Reply-To", reply_to))
    subject = message.subject or ""
    lines.append(_header("Subject", subject))
    lines.append(b"Date: " + _date())
    lines.append(b"Message-ID: " + message_id(message, _domain(from_address)).encode())
    lines.append(_header("X-Dispatcher-Campaign", message.campaign))
    if message.is_test:
        lines.append(b"X-Dispatcher-Test: yes")
    for name, value in message.headers.items():
        if not value.isascii() or _UNSAFE.search(value) or not name.isascii():
            raise Unsupported(name)
        lines.append(_fold_ascii(f"{name}: {value}"))
    lines.append(b"MIME-Version: 1.0")
    text_cte, text_body = _encode_body(message.text)
    eight_bit = text_cte == "8bit"
    if not message.html:
        lines.append(b'Content-Type: text/plain; charset="utf-8"')
        lines.append(b"Content-Transfer-Encoding: " + text_cte.encode())
        return b"\r\n".join(lines) + b"\r\n\r\n" + text_body, eight_bit
    html_cte, html_body = _encode_body(message.html)
    eight_bit = eight_bit or html_cte == "8bit"
    boundary = _boundary(text_body, html_body)
    lines.append(b'Content-Type: multipart/alternative; boundary="' + boundary + b'"')
    delimiter = b"--" + boundary
    parts = [
        b"\r\n".join(lines), b"",
        delimiter,
        b'Content-Type: text/plain; charset="utf-8"',
        b"Content-Transfer-Encoding: " + text_cte.encode(), b"",
        # The CRLF before a delimiter belongs to the delimiter (RFC 2046), so each body
        # keeps its own final line break, as the stdlib writes it.
        text_body + b"\r\n" + delimiter,
        b'Content-Type: text/html; charset="utf-8"',
        b"Content-Transfer-Encoding: " + html_cte.encode(), b"",
        html_body + b"\r\n" + delimiter + b"--", b"",
    ]
    return b"\r\n".join(parts), eight_bit


def _encode_body(text: str) -> tuple[str, bytes]:
    """7bit or 8bit with CRLF lines when lines fit, else base64 (what the stdlib picks
    for the same text, up to its choice of quoted-printable vs base64)."""
    raw = text.encode("utf-8")
    lines = raw.splitlines()
    if all(len(line) <= _MAX_LINE for line in lines):
        body = b"\r\n".join(lines) + b"\r\n"
        return ("7bit" if raw.isascii() else "8bit"), body
    normal = b"\r\n".join(lines) + b"\r\n"
    encoded = base64.encodebytes(normal).replace(b"\n", b"\r\n")
    return "base64", encoded


def _boundary(*bodies: bytes) -> bytes:
    while True:
        boundary = b"=_dispatcher_" + base64.b32encode(os.urandom(15)).rstrip(b"=")
        if not any(boundary in body for body in bodies):
            return boundary


@lru_cache(maxsize=64)
def _configured_mailbox(name: str, address: str) -> bytes:
    parsed = parse_mailbox(address)
    if parsed is None:
        raise Unsupported(name)
    return _mailbox(name, *parsed)


@lru_cache(maxsize=64)
def _domain(from_address: str) -> str:
    return sender_domain(from_address)


def _to_header(to: str, name: str | None) -> bytes:
    if not PLAIN_ADDRESS.fullmatch(to):
        raise Unsupported("To")  # the stdlib quotes an unusual local part
    return _mailbox("To", name, to)


def _mailbox(name: str, display_name: str | None, addr: str) -> bytes:
    try:
        return mailbox(name, display_name, addr)
    except ValueError:
        raise Unsupported(name) from None  # a line break: the stdlib refuses it too


_date_cache: tuple[int, bytes] = (0, b"")


def _date() -> bytes:
    """RFC 5322 date in UTC, formatted once per second."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, email.utils.formatdate(now, localtime=False).encode())
    return _date_cache[1]


@lru_cache(maxsize=4096)
def _header(name: str, value: str) -> bytes:
    """One unstructured header, encoded and folded (channels/email_headers.py); cached
    (subjects repeat)."""
    try:
        return unstructured(name, value)
    except ValueError:
        raise Unsupported(name) from None  # a line break: the stdlib refuses it too


def _fold_ascii(line: str) -> bytes:
    try:
        return fold_ascii(line)
    except HeaderTooLong:
        raise Unsupported(line.split(":", 1)[0]) from None
