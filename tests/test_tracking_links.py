"""Tracked links and UTM tags, from the sent message to the redirect.

Given a campaign sent over real SMTP (aiosmtpd on loopback), when a customer follows a
link of the message through the dispatcher's web app (uvicorn on loopback), then they
land on the link's destination as it was sent, with UTM tags on the shop's own links,
and the click is stored for the message's row. Tokens that were tampered with or signed
elsewhere never redirect.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from dispatcher.links import LinkClaims, make_token
from dispatcher.tracking.tokens import make_token as make_click_token

from .shop import Shop
from .smtp_server import SMTPServer
from .tracking_peers import (
    campaign,
    click_rows,
    destinations,
    email_setup,
    outbox_of,
    path_of,
    serve,
    tracked_links_in,
)

VARIANTS = "{A: {weight: 1}, B: {weight: 1}}"


def _message_of(smtp: SMTPServer, address: str) -> tuple[str, str]:
    item = next(r for r in smtp.handler.received if r.rcpt_tos == [address])
    message = item.message
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    return html, text


def test_links_are_tracked_tagged_and_redirect_to_what_was_sent(shop: Shop,
                                                                 smtp: SMTPServer) -> None:
    email_setup(shop, smtp.port, campaign(variants=VARIANTS))
    shop.cli("run-once", "news")
    html, text = _message_of(smtp, "jane@example.com")
    row = outbox_of(shop)["c2"]

    # The shop link and the partner link are tracked (one token each, the same in the
    # HTML and the text part); mailto, unsubscribe and preference links are not.
    html_links, text_links = tracked_links_in(html), tracked_links_in(text)
    assert len(html_links) == 2 and sorted(html_links) == sorted(text_links)
    assert "mailto:help@shop.test" in html
    assert "http://127.0.0.1:8080/u/" in html and "http://127.0.0.1:8080/preferences/" in html
    assert "Unsubscribe: http://127.0.0.1:8080/u/" in text
    assert "shop.test/new" not in html and "partner.example" not in html
    # the sentence's full stop and the closing parenthesis stay outside the links
    assert ".\nPartner offer (" in text.replace("\r\n", "\n")
    assert text.replace("\r\n", "\n").count(")\nUnsubscribe") == 1

    # What is on file for the row: the shop link with UTM tags (query kept, fragment
    # last), the partner link exactly as written.
    stored = sorted(url for (oid, _), url in destinations(shop).items() if oid == row.id)
    shop_link = next(u for u in stored if u.startswith("https://shop.test/"))
    assert "https://partner.example/offer?id=7" in stored
    assert shop_link == (f"https://shop.test/new?sort=price&page=2&utm_source=dispatcher"
                         f"&utm_medium=email&utm_campaign=news&utm_content={row.variant}#top")

    with serve(shop) as (base, _state):
        answers = [httpx.get(base + path_of(link), headers={"User-Agent": "Mozilla/5.0 "
                             "(X11; Linux x86_64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"})
                   for link in html_links]
    assert [a.status_code for a in answers] == [302, 302]
    assert sorted(a.headers["location"] for a in answers) == stored
    assert all(a.headers["cache-control"].startswith("no-store") for a in answers)

    recorded = click_rows(shop)
    assert sorted((c.outbox_id, c.link) for c in recorded) == sorted(
        (row.id, link) for link in range(2))
    assert {(c.agent, c.bot) for c in recorded} == {("desktop", None)}


def test_a_tampered_or_foreign_token_never_redirects(shop: Shop, smtp: SMTPServer,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPATCHER_SECRET", "the-shop-secret")
    email_setup(shop, smtp.port, campaign())
    shop.cli("run-once", "news")
    html, _ = _message_of(smtp, "olena@example.com")
    good = path_of(tracked_links_in(html)[0]).removeprefix("/c/")
    row = outbox_of(shop)["c1"]
    raw = base64.urlsafe_b64decode(good)

    def flipped(index: int) -> str:
        data = bytearray(raw)
        data[index] ^= 1
        return base64.urlsafe_b64encode(bytes(data)).decode()

    monkeypatch.setenv("DISPATCHER_SECRET", "another-installation")
    foreign = make_click_token("click", row.id, 0)
    monkeypatch.setenv("DISPATCHER_SECRET", "the-shop-secret")
    bad = {
        "row id changed": flipped(4),
        "link changed": flipped(5),
        "signature changed": flipped(14),
        "signed with another secret": foreign,
        "an open token": make_click_token("open", row.id, 0),
        "an unsubscribe token": make_token(LinkClaims("c1", "email", "ab" * 16, "news")),
        "non-canonical alphabet": good.replace("-", "+").replace("_", "/")
        if ("-" in good or "_" in good) else good[:-1] + "=",
        "padded": good + "==",
        "truncated": good[:-1],
        "spaces": f" {good[1:]}",
        "not ascii": "é" * 20,
        "a URL as token": "https%3A%2F%2Fevil.example",
    }
    with serve(shop) as (base, _state):
        for why, token in bad.items():
            answer = httpx.get(f"{base}/c/{token}")
            assert answer.status_code in (400, 404), why
            assert "location" not in answer.headers, why
            if why != "a URL as token":
                assert answer.status_code == 400, why
        # a redirect target in the query is ignored: the token decides
        answer = httpx.get(f"{base}/c/{good}?url=https://evil.example/&next=//evil.example")
        assert answer.status_code == 302
        assert answer.headers["location"].startswith("https://shop.test/new?")
    assert len(click_rows(shop)) == 1  # only the valid click


def test_scanners_and_bursts_are_kept_but_counted_apart(shop: Shop, smtp: SMTPServer) -> None:
    email_setup(shop, smtp.port, campaign(variants=VARIANTS))
    shop.cli("run-once", "news")
    olena_html, _ = _message_of(smtp, "olena@example.com")
    jane_html, _ = _message_of(smtp, "jane@example.com")
    browser = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) "
                             "AppleWebKit/605.1.15 Mobile/15E148"}
    with serve(shop) as (base, _state):
        # Olena's mail provider scans her message: a HEAD on one link, then a GET of
        # every link right after delivery; then Olena herself clicks a link days later
        # (simulated below by moving her click's time).
        olena = [base + path_of(link) for link in tracked_links_in(olena_html)]
        assert httpx.head(olena[0]).status_code == 302
        for url in olena:
            assert httpx.get(url, headers=browser).status_code == 302
        assert httpx.get(olena[1], headers={"User-Agent": "Mozilla/5.0 (compatible; "
                                                          "Barracuda Sentinel)"}).status_code == 302
        assert httpx.get(olena[0], headers={**browser, "Sec-Purpose": "prefetch"}
                         ).status_code == 302
        # Jane clicks one link of her message, once, in her phone's browser.
        jane = [base + path_of(link) for link in tracked_links_in(jane_html)]
        assert httpx.get(jane[0], headers=browser).status_code == 302
    reasons = sorted(str(c.bot) for c in click_rows(shop)
                     if c.outbox_id == outbox_of(shop)["c1"].id)
    assert reasons == sorted(["head", "None", "None", "scanner", "prefetch"])

    data = json.loads(shop.cli("report", "news", "--format", "json").output)
    funnel = {arm["arm"]: arm for arm in data["funnel"]}
    olena_arm, jane_arm = outbox_of(shop)["c1"].variant, outbox_of(shop)["c2"].variant
    olena_row = funnel[olena_arm]
    # Olena's GETs of every link within seconds of delivery are a burst: bots.
    assert olena_row["clicked"] == (1 if jane_arm == olena_arm else 0)
    assert olena_row["bot_clicks"] >= 5 and olena_row["bot_clicked"] >= 1
    assert funnel[jane_arm]["clicked"] == 1
    assert funnel[jane_arm]["clicks"] == 1


def test_transactional_and_opted_out_campaigns_are_not_tracked(shop: Shop,
                                                               smtp: SMTPServer) -> None:
    email_setup(shop, smtp.port,
                campaign("receipts", kind="transactional", template="news", topic="orders")
                + campaign("plain", template="news", track_clicks="false",
                           utm="{source: newsletter, campaign: spring}")
                + campaign("untagged", template="news", utm="false"))
    for name in ("receipts", "plain", "untagged"):
        shop.cli("run-once", name)
    bodies = [item.message.get_body(("html",)).get_content() for item in smtp.handler.received]
    assert len(bodies) == 6
    assert not any(tracked_links_in(body) for body in bodies[:4])
    receipts, plain = bodies[0], bodies[2]
    assert "https://shop.test/new?sort=price&amp;page=2&amp;utm_source=dispatcher" \
           "&amp;utm_medium=email&amp;utm_campaign=receipts#top" in receipts
    assert "https://shop.test/new?sort=price&amp;page=2&amp;utm_source=newsletter" \
           "&amp;utm_medium=email&amp;utm_campaign=spring#top" in plain
    assert "https://partner.example/offer?id=7" in plain  # never tagged: another host
    untagged = bodies[4]
    assert len(tracked_links_in(untagged)) == 2  # tracked, but no UTM tags on file
    assert all("utm_" not in url for url in destinations(shop).values())


def test_a_marketers_own_utm_tags_win(shop: Shop, smtp: SMTPServer) -> None:
    email_setup(shop, smtp.port, campaign(track_clicks="false"))
    shop.template("news/email.html",
                  '<a href="https://shop.test/?utm_source=spring&amp;x=%20y">Shop</a>'
                  '<a href="https://SHOP.test:443/a">Same origin</a>'
                  '<a href="http://shop.test/a">Other scheme</a>'
                  '<a href="https://shop.test.evil.example/a">Look-alike</a>')
    shop.cli("run-once", "news")
    html = smtp.handler.received[0].message.get_body(("html",)).get_content()
    hrefs = [h for h in html.split('"') if h.startswith("http")]
    assert hrefs[0] == ("https://shop.test/?utm_source=spring&amp;x=%20y&amp;utm_medium=email"
                        "&amp;utm_campaign=news")
    assert parse_qs(urlsplit(hrefs[1].replace("&amp;", "&")).query)["utm_source"] == \
        ["dispatcher"]
    assert hrefs[2:] == ["http://shop.test/a", "https://shop.test.evil.example/a"]
