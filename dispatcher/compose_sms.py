"""The SMS composer: ``sms.txt`` rendered as plain text, with its segment count."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from channels.base import RenderedMessage
from channels.sms_segments import count_segments

from .templating import TemplateProblem, TemplateRenderer

if TYPE_CHECKING:
    from .recipient import Recipient


def compose_sms(renderer: TemplateRenderer, folder: str, campaign: str, to: Recipient,
                context: dict[str, Any]) -> RenderedMessage:
    text = renderer.render(folder, "sms.txt", to.locale, context)
    if text is None:
        raise TemplateProblem(f"{renderer.root / folder}/sms.txt", None, "missing template sms.txt")
    # Template line breaks are for the marketer's eyes; trailing ones would cost characters.
    text = text.strip()
    count = count_segments(text)
    return RenderedMessage(
        campaign=campaign, channel="sms", customer_id=to.customer_id, to=to.address,
        to_name=to.name, text=text,
        data={"segments": count.segments, "encoding": count.encoding,
              "preview_lines": [f"SMS: {count.describe()}"]},
    )
