"""Unstructured header fields (Subject) encoded and folded by one rule, for both builders.

The stdlib's folder (``email.policy.SMTP``) drops the space between an encoded word
and the plain text after it when it refolds a long mixed line: ``Hello — world``
arrived as ``Hello— world``. Here a value that is not plain ASCII (or that contains
``=?``, which a reader would take for an encoded word) is written entirely as
RFC 2047 ``=?utf-8?b?...?=`` words of at most 75 characters, each holding whole
characters, spaces included: a decoder drops only the folding whitespace *between*
words, so every space of the text survives. Plain ASCII is folded at spaces.
tests/test_email_subjects.py holds both builders to the stdlib parser.
"""

from __future__ import annotations

import base64
import re
from typing import Any

MAX_LINE = 998  # RFC 5322 line limit (without CRLF)
FOLD = 78  # recommended header line length
_WORD_BYTES = 39  # 39 bytes -> 52 base64 characters -> a 64-character encoded word
UNSAFE = re.compile(r"[\r\n\x00]")


class HeaderTooLong(ValueError):
    """An ASCII word longer than a header line may be; the caller decides."""


def unstructured(name: str, value: str) -> bytes:
    """``Name: value`` as header bytes (CRLF folding, no final line break)."""
    if UNSAFE.search(value):
        raise ValueError(f"line break in the {name} header")  # header injection
    if value.isascii() and "=?" not in value:
        try:
            return fold_ascii(f"{name}: {value}")
        except HeaderTooLong:
            pass  # a word longer than a line: encoded words may split it
    return f"{name}: ".encode() + encoded_words(value)


def fold_ascii(line: str) -> bytes:
    if len(line) <= FOLD:
        return line.encode()
    out: list[str] = []
    name, _, value = line.partition(": ")
    words = value.split(" ")
    current = f"{name}: {words[0]}"  # the first word stays on the header's line
    for word in words[1:]:
        if len(current) + 1 + len(word) > FOLD:
            out.append(current)
            current = word
        else:
            current = f"{current} {word}"
    out.append(current)
    if any(len(part) > MAX_LINE for part in out):
        raise HeaderTooLong(name)
    return "\r\n ".join(out).encode()


def encoded_words(text: str) -> bytes:
    """=?utf-8?b?...?= words of at most 75 characters, never splitting a character."""
    words: list[bytes] = []
    chunk = ""
    for ch in text:
        if len((chunk + ch).encode("utf-8")) > _WORD_BYTES:
            words.append(_word(chunk))
            chunk = ch
        else:
            chunk += ch
    if chunk:
        words.append(_word(chunk))
    return b"\r\n ".join(words)


def _word(chunk: str) -> bytes:
    return b"=?utf-8?b?" + base64.b64encode(chunk.encode("utf-8")) + b"?="


class EncodedHeader(str):
    """A header for ``EmailMessage`` that the stdlib writes exactly as encoded here.

    It reads as its text (``str(message["Subject"])``); ``email.policy`` calls
    ``fold`` for any header object that carries a ``name``, so its own refolding
    never runs.
    """

    name: str
    _folded: str

    def __new__(cls, name: str, value: str) -> EncodedHeader:
        header = super().__new__(cls, value)
        header.name = name
        header._folded = unstructured(name, value).decode("ascii")
        return header

    def fold(self, *, policy: Any) -> str:
        return self._folded.replace("\r\n", policy.linesep) + policy.linesep
