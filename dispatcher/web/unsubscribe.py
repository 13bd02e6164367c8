"""Unsubscribe and preference pages.

    POST /u/{token}             RFC 8058 one-click (no cookies, no page needed) and the
                                confirm button of the page below
    GET  /u/{token}             asks to confirm (link scanners fetch GETs: a GET never
                                unsubscribes) and links to the preference page
    GET  /preferences/{token}   per channel and per topic switches
    POST /preferences/{token}   saves them

A token that fails verification gets 400 and changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from html import escape
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Route

from dispatcher.clock import utcnow
from dispatcher.links import LinkClaims, verify_token
from dispatcher.policy.optout_board import announced
from dispatcher.policy.preferences import (
    AddressChoice,
    Preferences,
    load_preferences,
    save_preferences,
    unsubscribe,
)
from dispatcher.web.app import WebState
from dispatcher.web.bodies import BadBody, read_form
from dispatcher.web.pages import TEXT, page, topic_label


def routes(state: WebState) -> list[BaseRoute]:
    return [
        Route("/u/{token}", _handler(state, _confirm_page), methods=["GET"]),
        Route("/u/{token}", _handler(state, _one_click), methods=["POST"]),
        Route("/preferences/{token}", _handler(state, _preferences_page), methods=["GET"]),
        Route("/preferences/{token}", _handler(state, _save), methods=["POST"]),
    ]


Handler = Callable[[WebState, Request, LinkClaims], Any]


def _handler(state: WebState, inner: Handler) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> HTMLResponse:
        claims = verify_token(request.path_params["token"])
        if claims is None:
            shop = state.loaded.config.shop.name
            return page(400, shop, None, "bad_link_title", f"<p>{TEXT['en']['bad_link']}</p>"
                        f"<p lang=\"uk\">{TEXT['uk']['bad_link']}</p>")
        result: HTMLResponse = await inner(state, request, claims)
        return result

    return endpoint


def _topics(state: WebState) -> list[str]:
    """Topics a customer can switch: those the marketing campaigns use."""
    return sorted({c.topic for c in state.loaded.config.campaigns.values()})


def _gone(state: WebState) -> HTMLResponse:
    return page(404, state.loaded.config.shop.name, None, "gone_title",
                f"<p>{TEXT['en']['gone']}</p>")


async def _confirm_page(state: WebState, request: Request, claims: LinkClaims) -> HTMLResponse:
    prefs = await asyncio.to_thread(_load, state, claims)
    if prefs is None:
        return _gone(state)
    t = _t(prefs)
    linked = next(a for a in prefs.addresses if a.address_id == prefs.linked_address_id)
    token = escape(request.path_params["token"])
    body = (
        f"<p>{escape(t['confirm'].format(address=linked.masked))}</p>"
        f"<form method=\"post\" action=\"/u/{token}\">"
        f"<button type=\"submit\">{t['unsubscribe']}</button></form>"
        f"<p><a href=\"/preferences/{token}\">{t['choose']}</a></p>"
    )
    return page(200, state.loaded.config.shop.name, prefs.locale, "unsubscribe_title", body)


async def _one_click(state: WebState, request: Request, claims: LinkClaims) -> HTMLResponse:
    done = await announced(_unsubscribe, state, claims)
    if not done:
        return _gone(state)
    prefs = await asyncio.to_thread(_load, state, claims)
    locale = prefs.locale if prefs else None
    t = _t(prefs)
    token = escape(request.path_params["token"])
    body = (f"<p role=\"status\">{t['done']}</p>"
            f"<p><a href=\"/preferences/{token}\">{t['choose']}</a></p>")
    return page(200, state.loaded.config.shop.name, locale, "unsubscribed_title", body)


async def _preferences_page(state: WebState, request: Request,
                            claims: LinkClaims) -> HTMLResponse:
    prefs = await asyncio.to_thread(_load, state, claims)
    if prefs is None:
        return _gone(state)
    return _form(state, request, prefs, saved=False)


async def _save(state: WebState, request: Request, claims: LinkClaims) -> HTMLResponse:
    try:
        form = await read_form(request)
    except BadBody as exc:
        return HTMLResponse(escape(exc.message), status_code=exc.status)
    prefs = await asyncio.to_thread(_load, state, claims)
    if prefs is None:
        return _gone(state)
    receive = {int(v) for k, v in form if k == "address" and v.isdigit() and len(v) < 19}
    topics_on = {v for k, v in form if k == "topic"}
    keys = {k for k, _ in form}
    tracking = ("tracking" in keys) if "tracking_shown" in keys else None
    labels = {a.address_id: _label(_t(prefs), a) for a in prefs.addresses}

    def write() -> Preferences | None:
        with state.engine.begin() as conn:
            save_preferences(conn, prefs, receive, _topics(state), topics_on, labels,
                             utcnow(), tracking)
        return _load(state, claims)

    updated = await announced(write)
    if updated is None:
        return _gone(state)
    return _form(state, request, updated, saved=True)


def _form(state: WebState, request: Request, prefs: Preferences, saved: bool) -> HTMLResponse:
    t = _t(prefs)
    token = escape(request.path_params["token"])
    channel_boxes = "".join(
        f"<div><input type=\"checkbox\" id=\"address-{a.address_id}\" name=\"address\" "
        f"value=\"{a.address_id}\"{' checked' if a.receiving else ''}>"
        f"<label for=\"address-{a.address_id}\">"
        f"{escape(_label(t, a))}"
        f"</label></div>"
        for a in prefs.addresses)
    topic_boxes = "".join(
        f"<div><input type=\"checkbox\" id=\"topic-{escape(topic)}\" name=\"topic\" "
        f"value=\"{escape(topic)}\"{'' if topic in prefs.topics_off else ' checked'}>"
        f"<label for=\"topic-{escape(topic)}\">{escape(topic_label(topic, prefs.locale))}"
        f"</label></div>"
        for topic in _topics(state))
    status = f"<p role=\"status\">{t['saved']}</p>" if saved else ""
    tracking_box = (
        f"<input type=\"hidden\" name=\"tracking_shown\" value=\"1\">"
        f"<div><input type=\"checkbox\" id=\"tracking\" name=\"tracking\" value=\"on\""
        f"{' checked' if prefs.tracking else ''}>"
        f"<label for=\"tracking\">{t['tracking_label']}</label></div>")
    body = (
        f"{status}<form method=\"post\" action=\"/preferences/{token}\">"
        f"<fieldset><legend>{t['channels']}</legend>{channel_boxes}</fieldset>"
        f"<fieldset><legend>{t['topics']}</legend>{topic_boxes}</fieldset>"
        f"<fieldset><legend>{t['tracking']}</legend>{tracking_box}</fieldset>"
        f"<button type=\"submit\">{t['save']}</button></form>"
    )
    return page(200, state.loaded.config.shop.name, prefs.locale, "preferences_title", body)


def _label(t: dict[str, str], choice: AddressChoice) -> str:
    """The wording shown next to a channel switch (kept as the consent text)."""
    return t["channel_label"].format(channel=t.get(choice.channel, choice.channel),
                                     address=choice.masked)


def _t(prefs: Preferences | None) -> dict[str, str]:
    locale = (prefs.locale if prefs else None) or "en"
    return TEXT["uk"] if locale.lower().startswith("uk") else TEXT["en"]


def _load(state: WebState, claims: LinkClaims) -> Preferences | None:
    with state.engine.connect() as conn:
        return load_preferences(conn, claims)


def _unsubscribe(state: WebState, claims: LinkClaims) -> bool:
    with state.engine.begin() as conn:
        return unsubscribe(conn, claims, f"{claims.channel} unsubscribe link", utcnow())
