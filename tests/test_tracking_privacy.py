"""Opens, erasure and the preference page's switch for click recording.

Opens are an option (off by default), reported as unreliable and never used for a
verdict. ``forget`` deletes a person's click and open records; on the preference page a
customer can switch recording off: links keep working, nothing about the click is kept.
"""

from __future__ import annotations

import json
import re

import httpx

from dispatcher.links import LinkClaims, make_token
from dispatcher.store.db import address_hash

from .shop import Shop
from .smtp_server import SMTPServer
from .tracking_peers import (
    campaign,
    click_rows,
    destinations,
    email_setup,
    open_rows,
    outbox_of,
    path_of,
    serve,
    tracked_links_in,
)

PHONE = {"User-Agent": "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Mobile Safari/537.36"}


def _html(smtp: SMTPServer, address: str) -> str:
    item = next(r for r in smtp.handler.received if r.rcpt_tos == [address])
    return item.message.get_body(("html",)).get_content()


def test_opens_are_optional_recorded_and_marked_unreliable(shop: Shop,
                                                           smtp: SMTPServer) -> None:
    email_setup(shop, smtp.port, campaign("news") + campaign(
        "watched", template="news", track_opens="true"))
    shop.cli("run-once", "news")
    assert not any("/o/" in _html(smtp, a) for a in ("jane@example.com",))  # off by default
    smtp.handler.received.clear()
    shop.cli("run-once", "watched")
    html = _html(smtp, "jane@example.com")
    pixels = re.findall(r'<img src="(http://127\.0\.0\.1:8080/o/[A-Za-z0-9_-]{20})" '
                        r'width="1" height="1"', html)
    assert len(pixels) == 1 and html.index(pixels[0]) < html.index("</body>")
    with serve(shop) as (base, _state):
        image = httpx.get(base + path_of(pixels[0]), headers=PHONE)
        assert (image.status_code, image.headers["content-type"]) == (200, "image/gif")
        assert image.content.startswith(b"GIF89a")
        # an open token is no click token, and a tampered one is refused
        assert httpx.get(base + path_of(pixels[0]).replace("/o/", "/c/")).status_code == 400
        assert httpx.get(base + path_of(pixels[0])[:-1] + "A").status_code == 400
    [opened] = open_rows(shop)
    assert opened.outbox_id == outbox_of(shop)["c2"].id
    data = json.loads(shop.cli("report", "watched", "--format", "json").output)
    assert data["funnel"][0]["opened_unreliable"] == 1
    assert "Opens are unreliable" in data["opens_note"]
    assert "open" not in data["verdict"].lower()
    assert "Opens are unreliable" in shop.cli("report", "watched").output


def test_forget_deletes_the_click_records_and_the_links_stop_working(
        shop: Shop, smtp: SMTPServer) -> None:
    email_setup(shop, smtp.port, campaign())
    shop.cli("run-once", "news")
    jane = [path_of(link) for link in tracked_links_in(_html(smtp, "jane@example.com"))]
    olena = [path_of(link) for link in tracked_links_in(_html(smtp, "olena@example.com"))]
    with serve(shop) as (base, _state):
        assert httpx.get(base + jane[0], headers=PHONE).status_code == 302
        assert httpx.get(base + olena[0], headers=PHONE).status_code == 302
    jane_row = outbox_of(shop)["c2"].id
    assert len(click_rows(shop)) == 2

    result = shop.cli("forget", "c2", "--yes")
    assert "1 click/open record(s) deleted" in result.output
    assert [c.outbox_id for c in click_rows(shop)] == [outbox_of(shop)["c1"].id]
    assert all(oid != jane_row for oid, _ in destinations(shop))  # her links' targets
    with serve(shop) as (base, _state):
        gone = httpx.get(base + jane[0], headers=PHONE)
        assert gone.status_code == 404 and "location" not in gone.headers
        assert "https://shop.test" in gone.text  # a way on to the shop
        assert httpx.get(base + olena[0], headers=PHONE).status_code == 302
    assert len(click_rows(shop)) == 2  # Olena's second click; nothing for Jane
    report = json.loads(shop.cli("report", "news", "--format", "json").output)
    assert report["funnel"][0]["clicked"] == 1 and report["funnel"][0]["planned"] == 2


def test_switching_click_recording_off_on_the_preference_page(shop: Shop,
                                                              smtp: SMTPServer) -> None:
    email_setup(shop, smtp.port, campaign(track_opens="true"))
    shop.cli("run-once", "news")
    html = _html(smtp, "jane@example.com")
    link = path_of(tracked_links_in(html)[0])
    pixel = path_of(re.findall(r'src="([^"]+/o/[^"]+)"', html)[0])
    token = make_token(LinkClaims("c2", "email", address_hash("email", "jane@example.com"),
                                  "news"))
    with serve(shop) as (base, _state):
        page = httpx.get(f"{base}/preferences/{token}")
        assert 'id="tracking" name="tracking" value="on" checked' in page.text
        # Jane unticks "Record which links I open" and saves (keeping the rest as is)
        form = {"address": re.findall(r'name="address" value="(\d+)" checked', page.text),
                "topic": re.findall(r'name="topic" value="([^"]+)" checked', page.text),
                "tracking_shown": "1"}
        saved = httpx.post(f"{base}/preferences/{token}", data=form)
        assert saved.status_code == 200 and "preferences are saved" in saved.text
        assert 'id="tracking" name="tracking" value="on">' in saved.text  # unchecked
        # Her link still takes her to the shop; nothing about it is kept
        answer = httpx.get(base + link, headers=PHONE)
        assert answer.status_code == 302 and answer.headers["location"].startswith(
            "https://shop.test/new")
        assert httpx.get(base + pixel, headers=PHONE).status_code == 200
    assert click_rows(shop) == [] and open_rows(shop) == []
    assert outbox_of(shop)["c2"].status == "sent"  # still subscribed
    with serve(shop) as (base, _state):
        # ticking it again records again
        httpx.post(f"{base}/preferences/{token}", data={**form, "tracking": "on"})
        assert httpx.get(base + link, headers=PHONE).status_code == 302
    assert len(click_rows(shop)) == 1
