"""Assemble the ASGI app from the route modules of each feature.

Each feature module exposes ``routes(state) -> list[BaseRoute]``; this file only
lists them, so features can be added without touching each other.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute, Route

from dispatcher.web.state import WebState

__all__ = ["ROUTE_MODULES", "WebState", "create_app"]


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


# "module:function" of each feature's route factory (one line per feature, so features
# land without touching each other).
ROUTE_MODULES: list[str] = [
    "dispatcher.web.twilio_hooks:routes",
    "dispatcher.web.events:routes",
    "dispatcher.web.unsubscribe:routes",
    "dispatcher.web.bounces:routes",
    "dispatcher.web.metrics:routes",
    "dispatcher.web.push_routes:routes",
    "dispatcher.web.tracking:routes",
]


def create_app(state: WebState) -> Starlette:
    import importlib

    routes: list[BaseRoute] = [Route("/healthz", healthz)]
    for path in ROUTE_MODULES:
        module_name, _, attr = path.partition(":")
        module = importlib.import_module(module_name)
        routes.extend(getattr(module, attr)(state))
    app = Starlette(routes=routes)
    app.state.web = state
    return app
