"""Subjects survive encoding: every builder's bytes parse back, with the stdlib parser,
to exactly the subject written (with and without the ``[TEST]`` prefix)."""

from __future__ import annotations

import random
from email.parser import BytesParser
from email.policy import default

import pytest

from channels.base import RenderedMessage
from channels.email_fast import message_bytes
from channels.email_mime import build_mime
from channels.registry import SPECS
from channels.spec import mark_test

WORDS = ["Знижка", "—", "для", "вас", "[TEST]", "Hello", "world", "15%", "Олено,", "ми",
         "сумуємо", "за", "вами", "у", "Квітка", "winter", "sale", "-20%", "ґанок", "a" * 30,
         "Ж" * 20, "émoji🎁", "=?utf-8?q?x?=", "(note)", "\"quoted\"", "x" * 70]


def _subjects() -> list[str]:
    rng = random.Random(20260501)
    found = ["Знижка — для вас", "Hello — world", "—", "Ж" * 100, "a" * 200]
    found += [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 16)))
              for _ in range(400)]
    return found


def _message(subject: str, is_test: bool, outbox_id: int | None) -> RenderedMessage:
    message = RenderedMessage(campaign="hello", channel="email", customer_id="c1",
                              to="olena@example.com", to_name="Олена Коваленко",
                              subject=subject, text="Hi", html=None, outbox_id=outbox_id)
    # A test-send is marked in one place, as the channel's spec declares (the subject)
    return mark_test(SPECS["email"], message) if is_test else message


def _parsed_subject(data: bytes) -> str:
    return str(BytesParser(policy=default).parsebytes(data)["Subject"])


@pytest.mark.parametrize("is_test", [True, False], ids=["test", "real"])
def test_every_builder_keeps_the_subject(is_test: bool) -> None:
    wrong: list[tuple[str, str, str]] = []
    for subject in _subjects():
        expected = f"[TEST] {subject}" if is_test else subject
        built = {
            "stdlib": bytes(build_mime(_message(subject, is_test, None), "Shop <s@shop.test>")),
            "fast": message_bytes(_message(subject, is_test, 7), "Shop <s@shop.test>")[0],
        }
        for name, data in built.items():
            got = _parsed_subject(data)
            if got != expected:
                wrong.append((name, expected, got))
            assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    assert not wrong, wrong[:5]
