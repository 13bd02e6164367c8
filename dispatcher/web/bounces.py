"""POST /bounces: bounce events from the mail provider (or a relay script).

Authenticated by ``Authorization: Bearer <DISPATCHER_BOUNCE_SECRET>`` (from the
environment); without that variable set the endpoint answers 404. Body: one event
or ``{"events": [...]}``, each ``{"email": ..., "type": "hard"|"soft", "code": ...,
"reason": ..., "at": ISO-8601}``. A bad event rejects the whole request (422).
"""

from __future__ import annotations

import hmac
import os
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from dispatcher.clock import utcnow
from dispatcher.importer.rows import parse_timestamp
from dispatcher.policy.bounces import Bounce, record_bounces
from dispatcher.policy.optout_board import announced
from dispatcher.web.app import WebState
from dispatcher.web.bodies import BadBody, read_json

SECRET_ENV = "DISPATCHER_BOUNCE_SECRET"
MAX_BODY = 5 * 1024 * 1024
MAX_EVENTS = 10_000
MAX_CODE = 32  # the bounces.code column
MAX_REASON = 1000


def routes(state: WebState) -> list[BaseRoute]:
    async def receive(request: Request) -> JSONResponse:
        secret = os.environ.get(SECRET_ENV)
        if not secret:
            return JSONResponse({"error": "bounce endpoint not enabled"}, status_code=404)
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), secret.encode()):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        try:
            body = await read_json(request, MAX_BODY)
        except BadBody as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        try:
            events = _events(body)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)

        def write() -> Any:
            with state.engine.begin() as conn:
                return record_bounces(conn, events, state.loaded.config.bounces, "webhook",
                                      utcnow())

        result = await announced(write)
        return JSONResponse({"recorded": result.recorded, "suppressed": result.suppressed})

    return [Route("/bounces", receive, methods=["POST"])]


def _events(body: Any) -> list[Bounce]:
    items = body.get("events") if isinstance(body, dict) and "events" in body else [body]
    if not isinstance(items, list):
        raise ValueError("events must be a list")
    if len(items) > MAX_EVENTS:
        raise ValueError(f"at most {MAX_EVENTS} events per request")
    now = utcnow()
    events = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"events[{index}]: must be an object")
        address = _text(item, "email", index).strip()
        if "@" not in address:
            raise ValueError(f"events[{index}].email: not an email address")
        kind = _text(item, "type", index).lower()
        code = item.get("code")
        if code is not None and (isinstance(code, bool) or not isinstance(code, str | int)
                                 or len(str(code)) > MAX_CODE):
            raise ValueError(f"events[{index}].code: must be a string or a number of at "
                             f"most {MAX_CODE} characters")
        at = item.get("at")
        if at is not None and not isinstance(at, str):
            raise ValueError(f"events[{index}].at: must be an ISO 8601 string")
        reason = _text(item, "reason", index)[:MAX_REASON] or None
        try:
            events.append(Bounce(address, kind, parse_timestamp(at) or now,
                                 None if code in (None, "") else str(code), reason))
        except ValueError as exc:
            raise ValueError(f"events[{index}]: {exc}") from None
    return events


def _text(item: dict[str, Any], key: str, index: int) -> str:
    """A string field ('' when absent); any other type is an error naming the field."""
    value = item.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"events[{index}].{key}: must be a string")
    return value
