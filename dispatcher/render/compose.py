"""Turn templates + context into a RenderedMessage: the channel's own composer
(``channels.<name>_spec``), inside one render-time budget for all of its parts."""

from __future__ import annotations

from typing import Any

from channels.base import Recipient, RenderedMessage
from channels.registry import SPECS
from dispatcher.render.templating import TemplateRenderer


def compose(channel: str, renderer: TemplateRenderer, folder: str, campaign: str,
            to: Recipient, context: dict[str, Any]) -> RenderedMessage:
    with renderer.message():  # one time budget for all of the message's parts
        return SPECS[channel].compose(renderer, folder, campaign, to, context)
