"""HTTP endpoints for web push: the shop's pages subscribe and unsubscribe browsers.

    GET  /push/subscribe.js   the snippet a shop page includes
    GET  /push/sw.js          the service worker (the shop serves it from its own origin,
                              e.g. a one-line /sw.js: importScripts(".../push/sw.js"))
    GET  /push/key            {"applicationServerKey": ...} for PushManager.subscribe()
    POST /push/subscribe      {"token", "subscription": PushSubscription.toJSON(), "consent_text"}
    POST /push/unsubscribe    {"endpoint"}: possession of the endpoint is the proof
    POST /push/resubscribe    {"old_endpoint", "subscription"}: the service worker reports a
                              rotated subscription (pushsubscriptionchange); same proof

Cross-origin calls are allowed from the shop's own origin (shop.url) and the push
channel's ``allowed_origins``. A subscription is stored only when its endpoint is a known
push service's https URL whose name resolves to public addresses only
(channels/webpush_hosts.py); the sender checks again before each connection.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from channels.webpush_settings import WebPushSettings
from dispatcher.clock import utcnow
from dispatcher.policy.optout_board import announced
from dispatcher.push.subscriptions import (
    BadSubscription,
    Subscription,
    check_endpoint_host,
    parse_subscription,
    replace_subscription,
    save_subscription,
    withdraw_subscription,
)
from dispatcher.push.tokens import verify_subscribe_token
from dispatcher.web.app import WebState
from dispatcher.web.bodies import BadBody, read_json

STATIC = Path(__file__).resolve().parent.parent / "static"
MAX_BODY = 16 * 1024
# WebState.extra key of a DNS lookup replacing the system resolver (tests give a fake).
PUSH_LOOKUP = "push_lookup"


def _settings(state: WebState) -> WebPushSettings:
    settings = state.loaded.channel_settings.get("push")
    assert isinstance(settings, WebPushSettings)
    return settings


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _cors(state: WebState, request: Request) -> dict[str, str]:
    origin = request.headers.get("origin")
    if not origin:
        return {}
    allowed = {_origin(state.loaded.config.shop.url)}
    allowed |= {_origin(o) for o in _settings(state).allowed_origins}
    if origin.lower() not in allowed:
        return {}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def _json(state: WebState, request: Request, body: dict[str, Any], status: int = 200) -> Response:
    return JSONResponse(body, status_code=status, headers=_cors(state, request))


def routes(state: WebState) -> list[BaseRoute]:
    async def preflight(request: Request) -> Response:
        headers = _cors(state, request)
        if headers:
            headers.update({"Access-Control-Allow-Methods": "POST, OPTIONS",
                            "Access-Control-Allow-Headers": "Content-Type",
                            "Access-Control-Max-Age": "600"})
        return Response(status_code=204, headers=headers)

    async def key(request: Request) -> Response:
        settings = _settings(state)
        if settings.vapid_private_key is None:
            return _json(state, request, {"error": "web push is not configured"}, 404)
        from channels.webpush_vapid import application_server_key, load_vapid

        public = application_server_key(load_vapid(settings.vapid_private_key
                                                   .get_secret_value()))
        return _json(state, request, {"applicationServerKey": public})

    async def body_of(request: Request) -> dict[str, Any]:
        body = await read_json(request, MAX_BODY)
        if not isinstance(body, dict):
            raise BadBody(400, "expected a JSON object")
        return body

    async def checked_subscription(raw: Any) -> Subscription:
        """The posted subscription, if its endpoint is a public push service's."""
        policy = _settings(state).host_policy()
        try:
            subscription = parse_subscription(raw, policy)
            await check_endpoint_host(subscription, policy, state.extra.get(PUSH_LOOKUP))
        except BadSubscription as exc:
            raise BadBody(400, str(exc)) from None
        except OSError:
            raise BadBody(503, "could not resolve the push service; try again later") \
                from None
        return subscription

    async def subscribe(request: Request) -> Response:
        settings = _settings(state)
        try:
            body = await body_of(request)
        except BadBody as exc:
            return _json(state, request, {"error": exc.message}, exc.status)
        # The token comes first: nothing about a forged request is looked at further.
        token = body.get("token")
        customer_id = verify_subscribe_token(token, settings.subscribe_token_max_age) \
            if isinstance(token, str) else None
        if customer_id is None:
            return _json(state, request, {"error": "invalid or expired token"}, 403)
        consent_text = body.get("consent_text")
        if consent_text is not None and not isinstance(consent_text, str):
            return _json(state, request, {"error": "consent_text must be a string"}, 400)
        try:
            subscription = await checked_subscription(body.get("subscription"))
        except BadBody as exc:
            return _json(state, request, {"error": exc.message}, exc.status)
        await asyncio.to_thread(save_subscription, state.engine, customer_id, subscription,
                                utcnow(), consent_text)
        return _json(state, request, {"ok": True}, 201)

    async def unsubscribe(request: Request) -> Response:
        try:
            body = await body_of(request)
        except BadBody as exc:
            return _json(state, request, {"error": exc.message}, exc.status)
        endpoint = body.get("endpoint")
        if not isinstance(endpoint, str) or not endpoint:
            return _json(state, request, {"error": "expected {\"endpoint\": ...}"}, 400)
        changed = await announced(withdraw_subscription, state.engine, endpoint, utcnow())
        return _json(state, request, {"ok": True, "withdrawn": changed})

    async def resubscribe(request: Request) -> Response:
        try:
            body = await body_of(request)
        except BadBody as exc:
            return _json(state, request, {"error": exc.message}, exc.status)
        old = body.get("old_endpoint")
        if not isinstance(old, str) or not old:
            return _json(state, request, {"error": "expected old_endpoint"}, 400)
        try:
            fresh = await checked_subscription(body.get("subscription"))
        except BadBody as exc:
            return _json(state, request, {"error": exc.message}, exc.status)
        moved = await asyncio.to_thread(replace_subscription, state.engine, old, fresh)
        return _json(state, request, {"ok": True, "moved": moved})

    def static(name: str) -> Any:
        async def serve(request: Request) -> Response:
            return FileResponse(STATIC / name, media_type="text/javascript",
                                headers={"Cache-Control": "max-age=300"})
        return serve

    async def service_worker(request: Request) -> Response:
        # The worker runs on the shop's origin; tell it where the dispatcher is.
        base = state.loaded.config.shop.public_url.rstrip("/") + "/push"
        script = f"const DISPATCHER_PUSH_BASE = {json.dumps(base)};\n" \
            + (STATIC / "sw.js").read_text(encoding="utf-8")
        return Response(script, media_type="text/javascript",
                        headers={"Cache-Control": "max-age=300"})

    return [
        Route("/push/subscribe.js", static("subscribe.js"), methods=["GET"]),
        Route("/push/sw.js", service_worker, methods=["GET"]),
        Route("/push/key", key, methods=["GET"]),
        Route("/push/subscribe", subscribe, methods=["POST"]),
        Route("/push/subscribe", preflight, methods=["OPTIONS"]),
        Route("/push/unsubscribe", unsubscribe, methods=["POST"]),
        Route("/push/unsubscribe", preflight, methods=["OPTIONS"]),
        Route("/push/resubscribe", resubscribe, methods=["POST"]),
        Route("/push/resubscribe", preflight, methods=["OPTIONS"]),
    ]
