"""Checks of option values, run while the command line is parsed.

A bad value raises ``typer.BadParameter``: the command has not started, nothing is
read or written, and the user gets one line naming the option and the value
(dispatcher/cli/errors.py prints it, exit 2). The checks at the end need the loaded
config (``--channel``, ``--to``) and run first thing in their commands.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Any

import typer

from dispatcher.cli.errors import fail
from dispatcher.cli.output import escape_controls

FORMATS = ("csv", "jsonl")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+$")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def time_value(value: str | None) -> str | None:
    """An ISO 8601 date or time (``--at``, ``--from``, ``--to``); kept as text."""
    if value is None:
        return None
    from dispatcher.importer.rows import parse_timestamp

    try:
        parse_timestamp(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    return value


def file_format(value: str | None) -> str | None:
    if value is not None and value not in FORMATS:
        raise typer.BadParameter(f"{value!r} is not a format (use {' or '.join(FORMATS)})")
    return value


def encoding(value: str | None) -> str | None:
    import codecs

    if value is None:
        return None
    try:
        codecs.lookup(value)
    except LookupError:
        raise typer.BadParameter(f"unknown encoding {value!r} (e.g. utf-8, cp1251, "
                                 "cp1252, utf-16)") from None
    return value


def delimiter(value: str | None) -> str | None:
    """One character between CSV values, or ``tab``."""
    if value is None:
        return None
    if value.lower() in ("tab", "\\t"):
        return "\t"
    if len(value) != 1 or value in "\"\r\n" or value.isalnum():
        raise typer.BadParameter(f"{value!r} is not a separator (one character such as , ; | "
                                 "or the word tab)")
    return value


def output_file(value: Path | None) -> Path | None:
    """A file we are about to write: its folder exists and is writable, it is no folder."""
    if value is None:
        return None
    folder = value.parent if str(value.parent) else Path(".")
    if not folder.is_dir():
        raise typer.BadParameter(f"{str(value)!r}: the folder {str(folder)!r} does not exist")
    if value.is_dir():
        raise typer.BadParameter(f"{str(value)!r} is a folder, not a file")
    if not os.access(folder, os.W_OK) or (value.exists() and not os.access(value, os.W_OK)):
        raise typer.BadParameter(f"{str(value)!r} is not writable")
    return value


def listen_host(value: str | None) -> str | None:
    """An IP address or a host name to listen on (checked by its form, no DNS lookup)."""
    if value is None:
        return None
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    if not _HOSTNAME.match(value) or value.replace(".", "").isdigit():
        raise typer.BadParameter(f"{value!r} is not an IP address or a host name")
    return value


def plain_text(value: str | None) -> str | None:
    """Free text shown later in a table: no control characters, not empty, one line."""
    if value is None:
        return None
    if not value.strip() or _CONTROL.search(value) or len(value) > 500:
        raise typer.BadParameter(f"'{escape_controls(value)[:80]}': write up to 500 "
                                 "characters of plain text (no control characters)")
    return value


# -- checks that need the loaded config (run in the command, before anything is read)

def campaign_channels(loaded: Any, campaign: str) -> list[str]:
    """Every channel the campaign may send by (its own order, its steps')."""
    settings = loaded.config.campaigns[campaign]
    channels = list(settings.channels)
    for step in settings.steps or []:
        channels += [c for c in step.channels or [] if c not in channels]
    return channels


def check_channel(loaded: Any, campaign: str, channel: str | None) -> None:
    from channels.registry import known_channels

    if channel is None:
        return
    if channel not in known_channels():
        fail(f"Invalid value for '--channel': unknown channel '{channel}' "
             f"(valid: {', '.join(known_channels())})")
    used = campaign_channels(loaded, campaign)
    if channel not in used:
        fail(f"Invalid value for '--channel': {campaign} does not send by {channel} "
             f"(its channels: {', '.join(used)})")


def channel_for_test_send(loaded: Any, campaign: str, channel: str | None, to: str) -> str:
    """The channel of a test send: the one given, or the campaign's first channel whose
    kind of address ``to`` is (an email address, +phone, chat id, push endpoint)."""
    from dispatcher.importer.rows import address_channels

    fits = address_channels(to)
    if channel is not None:
        if channel not in fits:
            fail(f"Invalid value for '--to': '{to}' is not a {channel} address "
                 f"({ADDRESS_FORMS[channel]})")
        return channel
    for candidate in campaign_channels(loaded, campaign):
        if candidate in fits:
            return candidate
    forms = "; ".join(f"{c}: {ADDRESS_FORMS[c]}" for c in campaign_channels(loaded, campaign))
    fail(f"Invalid value for '--to': '{to}' is no address for {campaign}'s channels ({forms})")


ADDRESS_FORMS = {"email": "name@example.com", "sms": "+380501234567",
                 "telegram": "a numeric chat id", "push": "a subscription endpoint URL"}
