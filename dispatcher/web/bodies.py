"""Reading request bodies that anyone on the internet may have written.

Every endpoint that reads a body goes through here, so each one gets the same bounds:
the size is checked against Content-Length first and then while streaming (a chunked
body cannot grow past the limit in memory), JSON is strict (UTF-8, no NaN/Infinity,
nesting at most ``MAX_DEPTH`` deep: the parser's RecursionError never becomes a 500),
and forms are urlencoded only (a multipart upload is never spooled to disk).
A problem is a ``BadBody`` with the 4xx status to answer; each endpoint words it in
its own response format.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from dispatcher.importer.limits import JsonTooDeep, check_depth

# Deeper than any payload we accept (a push subscription is 3 levels, a cart's items 4).
MAX_DEPTH = 32
MAX_FORM_BODY = 64 * 1024
MAX_FORM_FIELDS = 200


class BadBody(Exception):
    """The body is refused; ``status`` is the 4xx to answer, ``where`` the place in the
    body ("line 2 column 11") or "body"."""

    def __init__(self, status: int, message: str, where: str = "body") -> None:
        self.status = status
        self.message = message
        self.where = where
        super().__init__(message)


class BadJson(ValueError):
    def __init__(self, message: str, where: str = "body") -> None:
        self.where = where
        super().__init__(message)


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, at most ``limit`` bytes; 413 as soon as it is known to be larger."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise BadBody(400, "invalid Content-Length")
        if int(declared) > limit:
            raise BadBody(413, f"body larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BadBody(413, f"body larger than {limit} bytes")
    return bytes(body)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads_strict(data: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """Parse untrusted JSON; BadJson (a ValueError whose message is safe to show) on
    anything else."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise BadJson("not UTF-8") from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise BadJson("invalid JSON", f"line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise BadJson(f"JSON nested deeper than {max_depth} levels") from None
    except ValueError as exc:  # NaN, Infinity
        raise BadJson(str(exc)) from None
    try:
        check_depth(value, max_depth)  # the importer's walk: iterative, stops at the limit
    except JsonTooDeep:
        raise BadJson(f"JSON nested deeper than {max_depth} levels") from None
    return value


async def read_json(request: Request, limit: int) -> Any:
    body = await read_body(request, limit)
    try:
        return loads_strict(body)
    except BadJson as exc:
        raise BadBody(400, str(exc), exc.where) from None


async def read_form(request: Request, limit: int = MAX_FORM_BODY) -> list[tuple[str, str]]:
    """The fields of an ``application/x-www-form-urlencoded`` body, in order."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise BadBody(415, "expected an application/x-www-form-urlencoded form")
    body = await read_body(request, limit)
    try:
        # latin-1 maps every byte; percent escapes are then read as UTF-8, like Starlette.
        return parse_qsl(body.decode("latin-1"), keep_blank_values=True,
                         max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        raise BadBody(413, f"more than {MAX_FORM_FIELDS} form fields") from None
