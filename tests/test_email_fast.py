"""The fast email builder parses to the same message as the stdlib builder."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest

from channels.base import RenderedMessage
from channels.email_fast import Unsupported, _fast, message_bytes
from channels.email_mime import build_mime

FROM = "Квітка <hello@kvitka.example>"
LONG_URL = "https://shop.test/u/" + "a" * 140
HTML_LONG_LINE = "<p>" + "Дуже довгий рядок без переносу. " * 60 + "</p>"

CASES = {
    "ascii": dict(to="jane@example.com", to_name="Jane Doe", subject="We miss you",
                  text="Hi Jane,\ncome back.\n", html="<p>Hi Jane</p>"),
    "cyrillic": dict(to="olena@example.com", to_name="Олена Коваленко",
                     subject="Давно вас не бачили — ось знижка 15% для вас, Олено!",
                     text="Олено, ми сумуємо.\n\nВаш код: BACK15\n",
                     html="<p>Олено, <b>ми сумуємо</b>.</p>"),
    "specials in name": dict(to="jo@example.com", to_name='Jane "JJ" <b>O\'Brien</b> & Co',
                             subject="Hi", text="x", html=None),
    "no name, text only": dict(to="n@example.com", to_name=None, subject="Plain", text="only",
                               html=None),
    "long lines": dict(to="l@example.com", to_name="Łukasz Żółć", subject="x " * 70,
                       text="word " * 400, html=HTML_LONG_LINE),
    "crlf and tabs in body": dict(to="t@example.com", to_name="T", subject="Tabs",
                                  text="a\r\nb\tc\rd\n\n", html="<p>\tx</p>\r\n"),
    "empty subject": dict(to="e@example.com", to_name="E", subject=None, text="t", html="<i/>"),
    # written as encoded words, so no reader decodes the lookalike
    "encoded-word lookalike": dict(to="w@example.com", to_name="=?utf-8?q?x?=",
                                   subject="=?utf-8?q?hi?=", text="t", html=None),
}
# Messages the fast path hands to the stdlib builder (still the same result).
FALLBACK_CASES = {
    "quoted local part": dict(to='"jo smith"@example.com', to_name="Jo", subject="Hi",
                              text="t", html=None),
    "non-ascii address": dict(to="олена@приклад.укр", to_name=None, subject="Hi", text="t",
                              html=None),
}


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def shape(message: EmailMessage) -> dict[str, object]:
    headers = {k: str(v) for k, v in message.items()
               if k not in ("Date", "Content-Type", "Content-Transfer-Encoding")}
    parts = [(p.get_content_type(), p.get_content_charset(), p.get_content())
             for p in message.walk() if not p.is_multipart()]
    return {"headers": headers, "type": message.get_content_type(), "parts": parts,
            "date": message["Date"].datetime is not None}


def rendered(fields: dict[str, object], is_test: bool = False) -> RenderedMessage:
    return RenderedMessage(campaign="win_back", channel="email", customer_id="c1",
                           outbox_id=42, is_test=is_test,
                           headers={"List-Unsubscribe": f"<{LONG_URL}>, <mailto:u@x.test>",
                                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
                           **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("is_test", [False, True])
@pytest.mark.parametrize("case", sorted(CASES))
def test_fast_bytes_parse_like_stdlib(case: str, is_test: bool) -> None:
    message = rendered(CASES[case], is_test)
    # the fast path itself, not its fallback
    fast, eight_bit = _fast(message, FROM, "Support <help@kvitka.example>")
    slow = bytes(build_mime(message, FROM, "Support <help@kvitka.example>"))
    assert shape(parse(fast)) == shape(parse(slow))
    assert eight_bit == (not fast.isascii())
    # SMTP-ready: CRLF only, no line over the RFC 5322 limit
    assert b"\n" not in fast.replace(b"\r\n", b"")
    assert max(len(line) for line in fast.split(b"\r\n")) <= 998


@pytest.mark.parametrize("case", sorted(FALLBACK_CASES))
def test_unusual_messages_fall_back_to_stdlib(case: str) -> None:
    message = rendered(FALLBACK_CASES[case])
    with pytest.raises(Unsupported):
        _fast(message, FROM, None)
    data, _ = message_bytes(message, FROM)
    assert shape(parse(data)) == shape(parse(bytes(build_mime(message, FROM))))


def test_header_injection_is_left_to_the_stdlib_which_refuses_it() -> None:
    message = RenderedMessage(campaign="c", channel="email", customer_id="c1", outbox_id=1,
                              to="a@example.com", subject="Hi\r\nBcc: victim@example.com",
                              text="t")
    with pytest.raises(ValueError):
        message_bytes(message, FROM)
