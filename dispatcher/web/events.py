"""``POST /events/order`` and ``POST /events/cart``: the shop pushes orders and carts
as they happen, so triggers (abandoned cart, first order, N-th order) see them on
the next tick and orders redeem promo codes at once.

Authenticated by ``Authorization: Bearer <DISPATCHER_EVENTS_TOKEN>`` (from the
environment). The body is one JSON object or a list of them, validated with the
importer's row models; a bad body is a 4xx naming the item and field, and nothing
is written unless everything is valid.
"""

from __future__ import annotations

import hmac
import os
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from dispatcher.clock import utcnow
from dispatcher.importer.rows import CartRow, OrderRow
from dispatcher.importer.write import write_carts, write_orders
from dispatcher.store.schema import customers
from dispatcher.web.app import WebState
from dispatcher.web.bodies import BadBody, read_json

TOKEN_ENV = "DISPATCHER_EVENTS_TOKEN"
MAX_BODY = 5 * 1024 * 1024
MAX_ITEMS = 1000

KINDS: dict[str, tuple[Any, Any]] = {
    "order": (OrderRow, write_orders),
    "cart": (CartRow, write_carts),
}


def _problem(status: int, errors: list[dict[str, str]]) -> JSONResponse:
    return JSONResponse({"errors": errors}, status_code=status)


def _authorized(request: Request) -> bool | None:
    """True/False, or None when no token is configured (the endpoint is off)."""
    expected = os.environ.get(TOKEN_ENV, "")
    if not expected:
        return None
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                             expected.encode())


def _where(index: int | None, field: str) -> str:
    prefix = f"[{index}]" if index is not None else ""
    return f"{prefix}.{field}" if prefix and field else (prefix or field or "body")


def _validate(model: Any, payload: Any) -> tuple[list[Any], list[dict[str, str]]]:
    single = isinstance(payload, dict)
    items = [payload] if single else payload
    if not isinstance(items, list) or not items:
        return [], [{"loc": "body", "message": "expected a JSON object or a non-empty list"}]
    if len(items) > MAX_ITEMS:
        return [], [{"loc": "body", "message": f"at most {MAX_ITEMS} items per request"}]
    rows, errors = [], []
    for index, item in enumerate(items):
        at = None if single else index
        if not isinstance(item, dict):
            errors.append({"loc": _where(at, ""), "message": "expected a JSON object"})
            continue
        try:
            rows.append(model.model_validate(item))
        except RecursionError:  # a text field parsed as JSON (a cart's items) nests deeply
            errors.append({"loc": _where(at, ""), "message": "nested too deeply"})
        except ValidationError as exc:
            for err in exc.errors():
                field = ".".join(str(p) for p in err["loc"])
                message = err["msg"].removeprefix("Value error, ")
                if err["type"] == "extra_forbidden":
                    message = "unknown field"
                elif err["type"] == "missing":
                    message = "required"
                errors.append({"loc": _where(at, field), "message": message})
    return rows, errors


def _write(state: WebState, kind: str, rows: list[Any], single: bool
           ) -> list[dict[str, str]]:
    writer = KINDS[kind][1]
    wanted = sorted({row.customer_id for row in rows})
    with state.engine.begin() as conn:
        known = set(conn.execute(select(customers.c.id)
                                 .where(customers.c.id.in_(wanted))).scalars())
        errors = [{"loc": _where(None if single else i, "customer_id"),
                   "message": f"unknown customer {row.customer_id!r}"}
                  for i, row in enumerate(rows) if row.customer_id not in known]
        if errors:
            return errors
        latest = {row.id: row for row in rows}  # one upsert can't touch a row twice
        writer(conn, list(latest.values()), utcnow())
    return []


def _endpoint(state: WebState, kind: str) -> Any:
    model = KINDS[kind][0]

    async def handle(request: Request) -> JSONResponse:
        allowed = _authorized(request)
        if allowed is None:
            return _problem(503, [{"loc": "server", "message": f"events are off: set "
                                                               f"{TOKEN_ENV}"}])
        if not allowed:
            return JSONResponse({"errors": [{"loc": "authorization",
                                             "message": "missing or wrong bearer token"}]},
                                status_code=401, headers={"WWW-Authenticate": "Bearer"})
        try:
            payload = await read_json(request, MAX_BODY)
        except BadBody as exc:
            return _problem(exc.status, [{"loc": exc.where, "message": exc.message}])
        rows, errors = _validate(model, payload)
        if errors:
            return _problem(422, errors)
        errors = await run_in_threadpool(_write, state, kind, rows, isinstance(payload, dict))
        if errors:
            return _problem(422, errors)
        return JSONResponse({"written": len(rows)})

    return handle


def routes(state: WebState) -> list[BaseRoute]:
    return [Route(f"/events/{kind}", _endpoint(state, kind), methods=["POST"])
            for kind in KINDS]
