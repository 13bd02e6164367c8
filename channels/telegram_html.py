"""Telegram's HTML parse mode: which tags it accepts, and how long a text really is.

The 4096-character limit applies to the text after entities are parsed (tags
removed, ``&amp;`` counted as one character), measured in UTF-16 code units.
"""

from __future__ import annotations

from html.parser import HTMLParser

MAX_TEXT = 4096
ALLOWED_TAGS = frozenset({"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span",
                          "tg-spoiler", "a", "tg-emoji", "code", "pre", "blockquote"})


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.problems: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            hint = " (use a line break instead)" if tag in ("br", "p", "div") else ""
            self.problems.append(f"<{tag}> is not supported by Telegram{hint}")
            return
        if tag == "a" and not dict(attrs).get("href"):
            self.problems.append("<a> needs an href")
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag not in ALLOWED_TAGS:
            return
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> does not close the last open tag")
            return
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def inspect_html(html: str) -> tuple[int, list[str]]:
    """(visible length in UTF-16 units, problems) of a Telegram HTML text."""
    reader = _Reader()
    reader.feed(html)
    reader.close()
    problems = list(reader.problems)
    if reader.open:
        problems.append(f"unclosed <{reader.open[-1]}>")
    visible = "".join(reader.text)
    return len(visible.encode("utf-16-le")) // 2, problems
