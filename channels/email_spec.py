"""The email channel: ``email.subject`` + ``email.txt`` and/or ``email.html``."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from channels.base import (
    Channel,
    ChannelSettings,
    Recipient,
    RenderedMessage,
    TemplateProblem,
    Templates,
)
from channels.email_settings import EmailSettings
from channels.spec import ChannelSpec, required_part


def compose_email(templates: Templates, folder: str, campaign: str, to: Recipient,
                  context: dict[str, Any]) -> RenderedMessage:
    subject = required_part(templates, folder, "email.subject", to.locale, context)
    text = templates.render(folder, "email.txt", to.locale, context)
    html = templates.render(folder, "email.html", to.locale, context)
    if text is None and html is None:
        raise TemplateProblem(f"{templates.root / folder}", None,
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
    return re.sub(r"<[^>]+>", "", html).strip()


def _build(settings: ChannelSettings, base_dir: Path) -> Channel:
    from channels.email import EmailChannel

    assert isinstance(settings, EmailSettings)
    return EmailChannel(settings)


def _file_body(settings: ChannelSettings) -> Callable[[RenderedMessage], bytes]:
    """The file transport writes the .eml the SMTP transport would send."""
    from channels.email_fast import message_bytes

    assert isinstance(settings, EmailSettings)
    from_address = settings.from_address
    return lambda message: message_bytes(message, from_address)[0]


SPEC = ChannelSpec(
    name="email", settings=EmailSettings, build=_build,
    parts=("email.subject", "email.txt", "email.html"), compose=compose_email,
    test_mark="subject", file_body=_file_body, file_suffix=".eml",
)
