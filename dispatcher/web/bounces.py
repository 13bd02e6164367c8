"""POST /bounces: bounce events from the mail provider (or a relay script).

Authenticated by ``Authorization: Bearer <DISPATCHER_BOUNCE_SECRET>`` (from the
environment); without that variable set the endpoint answers 404. Body: one event
or ``{"events": [...]}``, each ``{"email": ..., "type": "hard"|"soft", "code": ...,
"reason": ..., "at": ISO-8601}``. A bad event rejects the whole request (422).
"""

from __future__ import annotations

import asyncio
import hmac
import os
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from ..importer.rows import parse_timestamp
from ..policy.bounces import Bounce, record_bounces
from ..store.db import utcnow
from .app import WebState

SECRET_ENV = "DISPATCHER_BOUNCE_SECRET"


def routes(state: WebState) -> list[BaseRoute]:
    async def receive(request: Request) -> JSONResponse:
        secret = os.environ.get(SECRET_ENV)
        if not secret:
            return JSONResponse({"error": "bounce endpoint not enabled"}, status_code=404)
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), secret.encode()):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        try:
            body = await request.json()
            events = _events(body)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)

        def write() -> Any:
            with state.engine.begin() as conn:
                return record_bounces(conn, events, state.loaded.config.bounces, "webhook",
                                      utcnow())

        result = await asyncio.to_thread(write)
        return JSONResponse({"recorded": result.recorded, "suppressed": result.suppressed})

    return [Route("/bounces", receive, methods=["POST"])]


def _events(body: Any) -> list[Bounce]:
    items = body.get("events") if isinstance(body, dict) and "events" in body else [body]
    if not isinstance(items, list):
        raise ValueError("events must be a list")
    now = utcnow()
    events = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"events[{index}]: must be an object")
        address = str(item.get("email") or "").strip()
        if "@" not in address:
            raise ValueError(f"events[{index}].email: not an email address")
        try:
            at = parse_timestamp(item.get("at")) or now
            events.append(Bounce(address, str(item.get("type") or "").lower(), at,
                                 item.get("code") and str(item["code"]),
                                 item.get("reason") and str(item["reason"])))
        except ValueError as exc:
            raise ValueError(f"events[{index}]: {exc}") from None
    return events
