"""Build the MIME message for an email (shared by the SMTP and file transports)."""

from __future__ import annotations

import email.utils
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP

from channels.base import RenderedMessage
from channels.email_headers import PLAIN_ADDRESS, EncodedHeader, parse_mailbox


def message_id(message: RenderedMessage, domain: str) -> str:
    """Deterministic per outbox row, so a provider or a mailbox can recognise a re-send."""
    if message.outbox_id is None:
        return email.utils.make_msgid(domain=domain)
    return f"<dispatcher.{message.outbox_id}.{message.campaign}@{domain}>"


def sender_domain(from_address: str) -> str:
    _, addr = email.utils.parseaddr(from_address)
    return addr.rpartition("@")[2] or "localhost"


def build_mime(message: RenderedMessage, from_address: str,
               reply_to: str | None = None) -> EmailMessage:
    mime = EmailMessage(policy=SMTP)
    # Mailboxes and the Subject are encoded and folded by our rule: the stdlib's
    # refolding loses spaces in long names and next to encoded words
    # (channels/email_headers.py).
    mime["From"] = _configured_mailbox("From", from_address)
    if PLAIN_ADDRESS.fullmatch(message.to):
        mime["To"] = EncodedHeader.mailbox("To", message.to_name, message.to)
    elif message.to_name:
        # A non-ASCII address goes only to an SMTPUTF8 server; the stdlib then writes
        # it, and the name, as UTF-8, where every space survives.
        local, _, domain = message.to.rpartition("@")
        mime["To"] = Address(display_name=message.to_name, username=local, domain=domain)
    else:
        mime["To"] = message.to
    if reply_to:
        mime["Reply-To"] = _configured_mailbox("Reply-To", reply_to)
    subject = message.subject or ""
    # Encoded and folded by our rule: the stdlib's refolding loses spaces next to
    # encoded words (channels/email_headers.py).
    mime["Subject"] = EncodedHeader("Subject", subject)
    mime["Date"] = email.utils.formatdate(localtime=False)
    mime["Message-ID"] = message_id(message, sender_domain(from_address))
    mime["X-Dispatcher-Campaign"] = message.campaign
    if message.is_test:
        mime["X-Dispatcher-Test"] = "yes"
    for name, value in message.headers.items():
        mime[name] = value
    mime.set_content(message.text, subtype="plain", charset="utf-8")
    if message.html:
        mime.add_alternative(message.html, subtype="html", charset="utf-8")
    return mime


def _configured_mailbox(name: str, value: str) -> str:
    """The configured sender by our rule when it is one plain mailbox; anything else
    as written, for the stdlib to parse."""
    parsed = parse_mailbox(value)
    return value if parsed is None else EncodedHeader.mailbox(name, *parsed)
