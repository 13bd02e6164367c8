"""Subject and mailbox headers (From, To, Reply-To) encoded and folded by one rule, for
both builders.

The stdlib's folder (``email.policy.SMTP``) drops the space between an encoded word
and the plain text after it when it refolds a long mixed line: ``Hello — world``
arrived as ``Hello— world``. Here a value that is not plain ASCII (or that contains
``=?``, which a reader would take for an encoded word) is written entirely as
RFC 2047 ``=?utf-8?b?...?=`` words of at most 75 characters, each holding whole
characters, spaces included: a decoder drops only the folding whitespace *between*
words, so every space of the text survives. Plain ASCII is folded at spaces.

Display names follow the same rule. The stdlib splits a long non-ASCII name into
encoded words *at a space* and leaves that space between them; RFC 2047 section 6.2
tells a reader to ignore whitespace between adjacent encoded words, so mail clients
showed ``ОленаКоваленко``. A display name of plain atoms (``Jane Doe``) is written as
is, other printable ASCII as a quoted string, anything else as encoded words.

tests/test_email_subjects.py holds both builders to the stdlib parser;
tests/test_email_names.py holds them to a strict RFC 2047 reader.
"""

from __future__ import annotations

import base64
import re
from email.policy import default as _parsing_policy
from typing import Any

MAX_LINE = 998  # RFC 5322 line limit (without CRLF)
FOLD = 78  # recommended header line length
_WORD_BYTES = 39  # 39 bytes -> 52 base64 characters -> a 64-character encoded word
UNSAFE = re.compile(r"[\r\n\x00]")
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"  # RFC 5322
_ATOM = re.compile(f"{_ATEXT}+")
# local@domain written as is: a dot-atom local part and a host name. Anything else (a
# quoted local part, non-ASCII) is left to the stdlib, which quotes it.
PLAIN_ADDRESS = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")


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


def mailbox(name: str, display_name: str | None, addr: str) -> bytes:
    """``Name: display name <addr>`` as header bytes (CRLF folding, no final line
    break); ``addr`` matches PLAIN_ADDRESS."""
    if not PLAIN_ADDRESS.fullmatch(addr):
        raise ValueError(f"not a plain address in the {name} header")
    if display_name and UNSAFE.search(display_name):
        raise ValueError(f"line break in the {name} header")  # header injection
    if not display_name:
        return f"{name}: {addr}".encode()
    if display_name.isascii() and "=?" not in display_name:
        if all(_ATOM.fullmatch(word) for word in display_name.split(" ")):
            try:
                return fold_ascii(f"{name}: {display_name} <{addr}>")
            except HeaderTooLong:
                pass
        elif display_name.isprintable():
            quoted = display_name.replace("\\", "\\\\").replace('"', '\\"')
            line = f'{name}: "{quoted}" <{addr}>'
            if len(line) <= FOLD:  # a longer one is folded as encoded words, exactly
                return line.encode()
    words = f"{name}: ".encode() + encoded_words(display_name)
    last_line = words.rpartition(b"\r\n ")[2]
    space = b" " if len(last_line) + len(addr) + 3 <= FOLD else b"\r\n "
    return words + space + f"<{addr}>".encode()


def parse_mailbox(value: str) -> tuple[str, str] | None:
    """(display name, addr-spec) of a configured sender such as ``Квітка <s@shop.test>``,
    or None when it is not exactly one mailbox with a plain address."""
    try:
        header = _parsing_policy.header_factory("From", value)
    except (ValueError, IndexError):
        return None
    addresses: tuple[Any, ...] = getattr(header, "addresses", ())
    if header.defects or len(addresses) != 1:
        return None
    address = addresses[0]
    if not PLAIN_ADDRESS.fullmatch(address.addr_spec):
        return None
    return address.display_name, address.addr_spec


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
    data = text.encode("utf-8")
    words: list[bytes] = []
    start = 0
    while start < len(data):
        end = min(start + _WORD_BYTES, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # inside a character
            end -= 1
        words.append(b"=?utf-8?b?" + base64.b64encode(data[start:end]) + b"?=")
        start = end
    return b"\r\n ".join(words)


class EncodedHeader(str):
    """A header for ``EmailMessage`` that the stdlib writes exactly as encoded here.

    It reads as its text (``str(message["Subject"])``); ``email.policy`` calls
    ``fold`` for any header object that carries a ``name``, so its own refolding
    never runs.
    """

    name: str
    _folded: str

    def __new__(cls, name: str, value: str, folded: bytes | None = None) -> EncodedHeader:
        header = super().__new__(cls, value)
        header.name = name
        header._folded = (unstructured(name, value) if folded is None
                          else folded).decode("ascii")
        return header

    @classmethod
    def mailbox(cls, name: str, display_name: str | None, addr: str) -> EncodedHeader:
        text = f"{display_name} <{addr}>" if display_name else addr
        return cls(name, text, mailbox(name, display_name, addr))

    def fold(self, *, policy: Any) -> str:
        return self._folded.replace("\r\n", policy.linesep) + policy.linesep
