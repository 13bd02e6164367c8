"""Turn templates + context into a RenderedMessage for each channel.

One composer per channel; each knows which template parts it needs.
"""

from __future__ import annotations

from typing import Any

from channels.base import RenderedMessage

from .compose_sms import compose_sms
from .compose_telegram import compose_telegram
from .recipient import Composer, Recipient
from .templating import TemplateProblem, TemplateRenderer


def _required(renderer: TemplateRenderer, folder: str, part: str, locale: str | None,
              context: dict[str, Any]) -> str:
    text = renderer.render(folder, part, locale, context)
    if text is None:
        raise TemplateProblem(f"{renderer.root / folder}/{part}", None,
                              f"missing template {part}")
    return text


def compose_email(renderer: TemplateRenderer, folder: str, campaign: str, to: Recipient,
                  context: dict[str, Any]) -> RenderedMessage:
    subject = _required(renderer, folder, "email.subject", to.locale, context)
    text = renderer.render(folder, "email.txt", to.locale, context)
    html = renderer.render(folder, "email.html", to.locale, context)
    if text is None and html is None:
        raise TemplateProblem(f"{renderer.root / folder}", None,
                              "an email needs email.txt or email.html")
    headers = {}
    unsubscribe = context.get("unsubscribe_url")
    if unsubscribe:
        mailto = context.get("unsubscribe_mailto")
        targets = [f"<{unsubscribe}>"] + ([f"<mailto:{mailto}>"] if mailto else [])
        headers["List-Unsubscribe"] = ", ".join(targets)
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return RenderedMessage(
        campaign=campaign, channel="email", customer_id=to.customer_id, to=to.address,
        to_name=to.name, subject=" ".join(subject.split()), text=text or _strip_html(html or ""),
        html=html, headers=headers,
    )


def _strip_html(html: str) -> str:
    import re

    return re.sub(r"<[^>]+>", "", html).strip()


def compose_push(renderer: TemplateRenderer, folder: str, campaign: str, to: Recipient,
                 context: dict[str, Any]) -> RenderedMessage:
    from .push_payload import compose_push as compose

    return compose(renderer, folder, campaign, to, context)


COMPOSERS: dict[str, Composer] = {
    "email": compose_email,
    "sms": compose_sms,
    "telegram": compose_telegram,
    "push": compose_push,
}

# Template parts each channel reads (validate renders these).
CHANNEL_PARTS: dict[str, tuple[str, ...]] = {
    "email": ("email.subject", "email.txt", "email.html"),
    "sms": ("sms.txt",),
    "telegram": ("telegram.html", "telegram.button"),
    "push": ("push.json",),
}


def compose(channel: str, renderer: TemplateRenderer, folder: str, campaign: str,
            to: Recipient, context: dict[str, Any]) -> RenderedMessage:
    with renderer.message():  # one time budget for all of the message's parts
        return COMPOSERS[channel](renderer, folder, campaign, to, context)
