"""Rewrite one rendered message's links: tracked ``/c/<token>`` links, UTM tags, pixel.

Applied to the rendered message (after the composer, before the channel), per channel:

    email     <a href> in the HTML part, bare URLs in the text part; the open pixel
    sms       bare URLs (the segment count is taken again: the tracked form is billed)
    telegram  <a href> in the text, the inline button's URL
    push      the payload's ``url`` (icon and image URLs are pictures, not links)

Never rewritten: links to the daemon's own pages (unsubscribe, preferences: they must
work without us in the middle and are never counted as clicks), anything not http(s).
UTM tags go only onto links to the shop's own origin (``shop.url``); a link to another
host goes out as written. The destinations of a message's tracked links ride along in
``message.data['tracked_links']`` (index = the link number in its tokens) until the
sender stores them (store.record_links).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from channels.base import RenderedMessage
from dispatcher.tracking.tokens import MAX_LINKS, MAX_OUTBOX_ID, make_token
from dispatcher.tracking.urls import add_query, is_web_link, origin, rewrite_html, rewrite_text

Rewrite = Callable[[str], str]
LINKS_KEY = "tracked_links"


def utm_tags(loaded: Any, campaign_name: str, channel: str,
             variant: str | None) -> dict[str, str]:
    campaign = loaded.config.campaigns[campaign_name]
    utm = campaign.utm
    if not utm.enabled:
        return {}
    content = utm.content or (variant if variant in campaign.variants else None)
    tags = {"utm_source": utm.source, "utm_medium": utm.medium or channel,
            "utm_campaign": utm.campaign or campaign_name}
    if content:
        tags["utm_content"] = content
    return tags


def link_base(loaded: Any) -> str:
    return (loaded.config.tracking.base_url or loaded.config.shop.public_url).rstrip("/")


def track_message(loaded: Any, message: RenderedMessage, variant: str | None,
                  sample: bool = False) -> None:
    """Rewrite ``message`` in place. Click tracking needs the outbox row (a test send or
    a preview gets UTM tags only); ``sample`` signs for a stand-in row, so that ``plan``
    and ``validate`` measure an SMS in the exact length it will be sent in."""
    campaign = loaded.config.campaigns.get(message.campaign)
    rewriter = CHANNELS.get(message.channel)
    if campaign is None or rewriter is None:
        return
    base = link_base(loaded)
    own = tuple({u.rstrip("/").lower() + "/" for u in (base, loaded.config.shop.public_url)})
    shop = origin(loaded.config.shop.url)
    tags = utm_tags(loaded, message.campaign, message.channel, variant)
    row = 0 if sample else message.outbox_id
    tracked = (campaign.tracks_clicks and not message.is_test and row is not None
               and row <= MAX_OUTBOX_ID)
    destinations: list[str] = []

    def rewrite(url: str) -> str:
        if not is_web_link(url) or (url.lower() + "/").startswith(own):
            return url
        target = add_query(url, tags) if tags and origin(url) == shop else url
        if not tracked:
            return target
        if target not in destinations:
            if len(destinations) >= MAX_LINKS:
                return target
            destinations.append(target)
        assert row is not None
        return f"{base}/c/{make_token('click', row, destinations.index(target))}"

    rewriter(message, rewrite)
    if tracked and not sample:
        if destinations:
            message.data[LINKS_KEY] = destinations
        if campaign.track_opens and message.channel == "email" and message.html:
            message.html = _with_pixel(message.html, f"{base}/o/{make_token('open', row or 0)}")


def _email(message: RenderedMessage, rewrite: Rewrite) -> None:
    if message.html:
        message.html = rewrite_html(message.html, rewrite)
    message.text = rewrite_text(message.text, rewrite)


def _sms(message: RenderedMessage, rewrite: Rewrite) -> None:
    from channels.sms_segments import count_segments

    message.text = rewrite_text(message.text, rewrite)
    count = count_segments(message.text)
    message.data.update(segments=count.segments, encoding=count.encoding)
    _replace_preview(message, "SMS: ", f"SMS: {count.describe()}")


def _telegram(message: RenderedMessage, rewrite: Rewrite) -> None:
    message.text = rewrite_html(message.text, rewrite)
    button = message.data.get("button")
    if button:
        button["url"] = rewrite(button["url"])
        _replace_preview(message, "Button: ", f"Button: {button['text']} -> {button['url']}")


def _push(message: RenderedMessage, rewrite: Rewrite) -> None:
    from channels.webpush_payload import payload_data

    payload = dict(message.data.get("payload") or {})
    if "url" in payload:
        payload["url"] = rewrite(payload["url"])
        message.data.update(payload_data(payload))


def _replace_preview(message: RenderedMessage, prefix: str, line: str) -> None:
    lines = message.data.get("preview_lines") or []
    message.data["preview_lines"] = [line if old.startswith(prefix) else old for old in lines]


_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def _with_pixel(markup: str, src: str) -> str:
    pixel = (f'<img src="{src}" width="1" height="1" alt="" '
             f'style="display:block;width:1px;height:1px;border:0">')
    ends = list(_BODY_END.finditer(markup))
    if not ends:
        return markup + pixel
    at = ends[-1].start()
    return markup[:at] + pixel + markup[at:]


CHANNELS: dict[str, Callable[[RenderedMessage, Rewrite], None]] = {
    "email": _email, "sms": _sms, "telegram": _telegram, "push": _push,
}
