"""Links inside rendered text and HTML, and the UTM tags of the shop's own links.

Only ``http(s)`` links are touched; ``mailto:``, ``tel:``, ``tg://`` and the like are left
as written. In HTML only ``<a href>`` (and ``<area href>``) values are links: a bare URL
in an HTML text is visible text and stays as written. In plain text (email text part,
SMS) a link is a bare ``http(s)://`` URL; trailing punctuation that ends a sentence is
not part of it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit

Rewrite = Callable[[str], str]

_TEXT_URL = re.compile(r"https?://[^\s<>\"'`{}|\\^]+", re.IGNORECASE)
_TRAILING = ".,;:!?'\"»…"
_HREF = re.compile(r"""(<(?:a|area)\b[^>]*?\bhref\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s>"']+))""",
                   re.IGNORECASE | re.DOTALL)
# Character references as browsers decode them inside attribute values: only the
# terminated forms (``&amp;``, ``&#38;``); ``&copy=1`` in a query stays as written.
_CHAR_REF = re.compile(r"&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")


def is_web_link(url: str) -> bool:
    return url[:8].lower().startswith(("https://", "http://"))


def _trim(url: str) -> str:
    """A URL at the end of a sentence loses the sentence's punctuation; a closing
    parenthesis stays only when the URL opened one."""
    while url:
        last = url[-1]
        unbalanced = last == ")" and url.count("(") < url.count(")")
        if last not in _TRAILING and not unbalanced:
            break
        url = url[:-1]
    return url


def rewrite_text(text: str, rewrite: Rewrite) -> str:
    """Every bare http(s) URL in plain text, through ``rewrite``."""
    def one(match: re.Match[str]) -> str:
        found = match.group(0)
        url = _trim(found)
        return rewrite(url) + found[len(url):]

    return _TEXT_URL.sub(one, text)


def unescape_attribute(value: str) -> str:
    return _CHAR_REF.sub(lambda m: html.unescape(m.group(0)), value)


def rewrite_html(markup: str, rewrite: Rewrite) -> str:
    """Every ``<a href>`` value in HTML through ``rewrite`` (unescaped in, escaped out);
    an href that does not change keeps its exact text."""
    def one(match: re.Match[str]) -> str:
        raw = next(g for g in match.groups()[1:] if g is not None)
        url = unescape_attribute(raw.strip())
        new = rewrite(url)
        if new == url:
            return match.group(0)
        return f'{match.group(1)}"{html.escape(new, quote=True)}"'

    return _HREF.sub(one, markup)


def origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL, the default port made explicit."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    return scheme, parts.hostname.lower().rstrip("."), port or (443 if scheme == "https" else 80)


def add_query(url: str, tags: dict[str, str]) -> str:
    """``url`` with ``tags`` appended to its query: existing parameters (a marketer's own
    ``utm_source``) win and keep their exact spelling, and the fragment stays last."""
    head, hashmark, fragment = url.partition("#")
    base, _, query = head.partition("?")
    present = {key for key, _ in parse_qsl(query, keep_blank_values=True)}
    extra = [(key, value) for key, value in tags.items() if key not in present and value]
    if not extra:
        return url
    joiner = "&" if query and not query.endswith("&") else ""
    return f"{base}?{query}{joiner}{urlencode(extra)}{hashmark}{fragment}"
