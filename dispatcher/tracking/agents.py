"""Who fetched a tracked link: a person's browser or a machine, from the request alone.

Stored is a class, never the user agent itself (it is close to a fingerprint). A click
is a machine's, kept but counted apart, when

    head       it is a HEAD request (link checkers and scanners ask before fetching)
    prefetch   the browser says it is prefetching (``Sec-Purpose``/``Purpose: prefetch``)
    scanner    the user agent names a mail security scanner (Barracuda, Proofpoint, ...)
    bot        the user agent is a crawler, a link preview (Telegram, Slack, iMessage's
               facebookexternalhit), a headless browser, or a tool (curl, python-...)
    no_agent   there is no user agent at all

One more rule needs the other clicks of the message and is applied by the report
(reports/funnel.py): every link of a message with two or more links clicked within
``tracking.burst_window`` (30 s) of its delivery is a scanner's burst.
"""

from __future__ import annotations

from collections.abc import Mapping

SCANNERS = ("barracuda", "proofpoint", "mimecast", "forcepoint", "trendmicro", "symantec",
            "messagelabs", "zscaler", "fireeye", "sophos", "ironport", "safelinks",
            "virustotal", "urlscan", "checkpoint", "fortinet", "paloalto")
BOTS = ("bot", "crawl", "spider", "slurp", "preview", "facebookexternalhit", "whatsapp",
        "embedly", "headlesschrome", "phantomjs", "curl/", "wget/", "python-", "httpx",
        "aiohttp", "go-http-client", "java/", "okhttp", "libwww", "scrapy", "postman")
MOBILE = ("mobile", "android", "iphone", "ipad")


def classify(method: str, headers: Mapping[str, str]) -> tuple[str, str | None]:
    """(agent class, bot reason or None) of one request."""
    agent = (headers.get("user-agent") or "").lower()
    if not agent:
        kind = "none"
    elif any(word in agent for word in SCANNERS):
        kind = "scanner"
    elif any(word in agent for word in BOTS):
        kind = "bot"
    elif any(word in agent for word in MOBILE):
        kind = "mobile"
    else:
        kind = "desktop"
    purpose = f"{headers.get('sec-purpose', '')} {headers.get('purpose', '')} " \
              f"{headers.get('x-moz', '')}".lower()
    if method.upper() == "HEAD":
        return kind, "head"
    if "prefetch" in purpose or "prerender" in purpose:
        return kind, "prefetch"
    if kind in ("scanner", "bot"):
        return kind, kind
    if kind == "none":
        return kind, "no_agent"
    return kind, None
