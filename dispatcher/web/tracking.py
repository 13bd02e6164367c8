"""Tracked links and the open pixel.

    GET/HEAD /c/{token}   302 to the link's destination as it was sent (looked up by the
                          token's outbox row and link number; nothing in the request can
                          change where it goes), the click queued for the writer
    GET      /o/{token}   a 1x1 transparent GIF; the open queued

A token that fails verification (tampered, another secret, another purpose,
non-canonical) gets 400 and never a redirect. A verified token whose link is no longer on
file (the customer was erased) gets 404 with a link to the shop. The answer never waits
for the database write (dispatcher/tracking/recorder.py).
"""

from __future__ import annotations

import asyncio
import base64
from html import escape

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from dispatcher.clock import utcnow
from dispatcher.tracking.agents import classify
from dispatcher.tracking.recorder import EngagementRecorder
from dispatcher.tracking.store import find_link, find_message
from dispatcher.tracking.tokens import verify_token
from dispatcher.tracking.urls import is_web_link
from dispatcher.web.app import WebState
from dispatcher.web.pages import TEXT, page

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = {"Cache-Control": "no-store, private", "Referrer-Policy": "no-referrer"}


def routes(state: WebState) -> list[BaseRoute]:
    recorder = EngagementRecorder(state.engine,
                                  state.loaded.config.tracking.flush_interval.total_seconds())
    state.closers.append(recorder.close)

    async def click(request: Request) -> Response:
        verified = verify_token("click", request.path_params["token"])
        if verified is None:
            return _bad_link(state)
        outbox_id, link = verified
        target = await asyncio.to_thread(find_link, state.engine, outbox_id, link)
        if target is None or target.url is None or not is_web_link(target.url):
            return _gone(state)
        if target.record:
            agent, bot = classify(request.method, request.headers)
            recorder.click(outbox_id, link, utcnow(), agent, bot)
        return RedirectResponse(target.url, status_code=302, headers=NO_STORE)

    async def opened(request: Request) -> Response:
        verified = verify_token("open", request.path_params["token"])
        if verified is None:
            return Response(status_code=400, headers=NO_STORE)
        outbox_id, _ = verified
        target = await asyncio.to_thread(find_message, state.engine, outbox_id)
        if target is not None and target.record and request.method == "GET":
            agent, _bot = classify(request.method, request.headers)
            recorder.open(outbox_id, utcnow(), agent)
        return Response(PIXEL, media_type="image/gif", headers=NO_STORE)

    return [Route("/c/{token}", click, methods=["GET", "HEAD"]),
            Route("/o/{token}", opened, methods=["GET", "HEAD"])]


def _bad_link(state: WebState) -> Response:
    return page(400, state.loaded.config.shop.name, None, "bad_link_title",
                f"<p>{TEXT['en']['bad_link']}</p><p lang=\"uk\">{TEXT['uk']['bad_link']}</p>")


def _gone(state: WebState) -> Response:
    shop = state.loaded.config.shop
    return page(404, shop.name, None, "bad_link_title",
                f"<p>{TEXT['en']['bad_link']}</p>"
                f"<p><a href=\"{escape(shop.url, quote=True)}\">{escape(shop.name)}</a></p>")
