"""Display names and subjects survive a strict RFC 2047 reader, through both builders.

Mail clients follow RFC 2047 section 6.2: whitespace between two adjacent encoded
words is not displayed. A builder that splits ``Олена Коваленко`` into two encoded
words at the space, with the space between them, shows ``ОленаКоваленко``. The
stdlib's parser keeps that space, so the reader here is a small strict one.

Given a shop whose customers have long names (Cyrillic, mixed, with quotes, commas,
apostrophes) and a sender name of the same kind, when ``run-once`` (the fast builder)
and ``test-send`` (the stdlib builder) deliver to a real aiosmtpd, then the To, From
and Subject of every received message read back exactly as written.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import random
import re

from .shop import Shop
from .smtp_server import Received, SMTPServer

SENDER = 'Інтернет-магазин "Квітка", Київ — подарунки і квіти для всієї родини'
SENDER_YAML = SENDER.replace('"', '\\"')

GIVEN = ["Олена", "Олександра", "Костянтин", "Ярослава", "Марія-Антуанетта", "Їжачок",
         "Ґанна", "Jane", "Jean-Luc", "Ołeksandr", "Святослав", "Зоряна", "Anne-Marie"]
FAMILY = ["Коваленко", "Шевченко-Коваленко", "Д'Артаньян", "Костянтинівна", "Петрович",
          "O'Brien", "van der Berg", "Іваненко", "Ющенко", "Mäkelä", "Ковальчук-Зінченко"]
EXTRA = ['"Ліна"', "ТОВ", "Київ,", "(VIP)", "ґ", "Ї", "—", "і", "Jr.", "<b>", "@home",
         "ФОП", "«Сонечко»", "50%", "a", "=?utf-8?q?VIP?="]


def random_names(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    names: list[str] = []
    while len(names) < count:
        words = [rng.choice(GIVEN), rng.choice(FAMILY)]
        for _ in range(rng.randint(1, 6)):
            words.insert(rng.randint(0, len(words)), rng.choice(EXTRA + GIVEN + FAMILY))
        name = " ".join(words)
        if len(name) >= 30 and name not in names:  # long: several encoded words
            names.append(name)
    return names


# --- a strict RFC 2047 reader -----------------------------------------------------------

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[ \t]+|[^ \t"]+')


def _decode_word(token: str) -> str | None:
    match = _ENCODED_WORD.fullmatch(token)
    if match is None:
        return None
    charset, encoding, text = match.groups()
    charset = charset.split("*")[0]  # RFC 2231 language suffix
    try:
        if encoding in "bB":
            raw = base64.b64decode(text, validate=True)
        else:
            raw = quopri.decodestring(text.replace("_", " ").encode(), header=True)
        return raw.decode(charset)
    except (binascii.Error, LookupError, UnicodeDecodeError):
        return None


def strict_decode(raw: str, *, phrase: bool) -> str:
    """What a conforming client shows for a raw header value (or a display name when
    ``phrase``): unfold, decode each encoded word that is a whole whitespace-delimited
    word, and drop whitespace that only separates two encoded words (RFC 2047 6.2). In a
    phrase a quoted-string is a word whose quotes and backslashes are syntax."""
    unfolded = re.sub(r"\r?\n(?=[ \t])", "", raw)
    tokens = _TOKENS.findall(unfolded) if phrase else re.findall(r"[ \t]+|[^ \t]+", unfolded)
    parts: list[tuple[str, bool]] = []  # (text, is an encoded word)
    for token in tokens:
        decoded = _decode_word(token)
        if decoded is not None:
            if len(parts) >= 2 and parts[-1][0].isspace() and parts[-2][1]:
                parts.pop()  # whitespace between adjacent encoded words is not shown
            parts.append((decoded, True))
        elif phrase and token.startswith('"'):
            parts.append((re.sub(r"\\(.)", r"\1", token[1:-1]), False))
        else:
            parts.append((token, False))
    return "".join(text for text, _ in parts)


def mailbox(raw: str) -> tuple[str, str]:
    """A raw ``display name <addr>`` header value: (display name as shown, address)."""
    unfolded = re.sub(r"\r?\n(?=[ \t])", "", raw).strip()
    if not unfolded.endswith(">"):
        return "", unfolded
    display, _, addr = unfolded[:-1].rpartition("<")
    return strict_decode(display.strip(), phrase=True), addr


def raw_header(received: Received, name: str) -> str:
    values = [value for key, value in received.message.raw_items() if key.lower() == name]
    assert len(values) == 1, (name, values)
    return str(values[0])


def test_strict_reader_drops_whitespace_between_encoded_words_only() -> None:
    olena = "=?utf-8?b?0J7Qu9C10L3QsA==?="  # Олена
    kovalenko = "=?utf-8?b?0JrQvtCy0LDQu9C10L3QutC+?="  # Коваленко
    assert strict_decode(f"{olena}\r\n {kovalenko}", phrase=True) == "ОленаКоваленко"
    assert strict_decode(f"{olena} and {kovalenko}", phrase=False) == "Олена and Коваленко"
    assert strict_decode(f'"{olena}" x', phrase=True) == f"{olena} x"  # not in quotes
    assert mailbox('"Jane \\"JJ\\", Doe" <j@x.test>') == ('Jane "JJ", Doe', "j@x.test")


# --- through the CLI to a real SMTP server ---------------------------------------------

SEGMENTS = """
everyone:
  all:
    - orders_count: {gte: 0}
"""

CAMPAIGNS = """
hello:
  segment: everyone
  channels: [email]
  schedule: "0 11 * * *"
"""


def build(shop: Shop, port: int, names: list[str]) -> None:
    shop.write_config(f"""
email:
  host: 127.0.0.1
  port: {port}
  security: none
  from: '"{SENDER_YAML}" <shop@shop.test>'
""", SEGMENTS, CAMPAIGNS)
    shop.template("hello/email.subject", "{{ customer.name }} — знижка для вас")
    shop.template("hello/email.txt", "Привіт, {{ customer.first_name }}!\n")
    customers = shop.csv("customers.csv", [
        {"id": f"c{i}", "name": name, "email": f"c{i}@example.com", "email_consent": "yes"}
        for i, name in enumerate(names)])
    shop.cli("import", "customers", str(customers))


def check(received: Received, name: str, address: str, subject: str) -> list[str]:
    wrong = []
    to = mailbox(raw_header(received, "to"))
    if to != (name, address):
        wrong.append(f"To {to!r} != {(name, address)!r}")
    sender = mailbox(raw_header(received, "from"))
    if sender != (SENDER, "shop@shop.test"):
        wrong.append(f"From {sender!r}")
    got = strict_decode(raw_header(received, "subject"), phrase=False)
    if got != subject:
        wrong.append(f"Subject {got!r} != {subject!r}")
    return wrong


def test_run_once_names_read_back_exactly(shop: Shop, smtp: SMTPServer) -> None:
    names = random_names(120, seed=2047)
    build(shop, smtp.port, names)
    shop.cli("run-once", "hello")
    assert len(smtp.handler.received) == len(names)
    wrong: list[str] = []
    for received in smtp.handler.received:
        index = int(received.rcpt_tos[0].split("@")[0][1:])
        name = names[index]
        wrong += check(received, name, f"c{index}@example.com", f"{name} — знижка для вас")
    assert not wrong, f"{len(wrong)} wrong, e.g. {wrong[:3]}"


def test_test_send_names_read_back_exactly(shop: Shop, smtp: SMTPServer) -> None:
    names = random_names(30, seed=5)
    build(shop, smtp.port, names)
    wrong: list[str] = []
    for index, name in enumerate(names):
        shop.cli("test-send", "hello", "--customer", f"c{index}", "--to", "qa@shop.test")
        received = smtp.handler.received[-1]
        wrong += check(received, name, "qa@shop.test", f"[TEST] {name} — знижка для вас")
    assert not wrong, f"{len(wrong)} wrong, e.g. {wrong[:3]}"
