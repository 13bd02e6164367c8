"""Tracked links through the real daemon (``dispatcher run`` as its own process).

A real browser (headless Chromium) opens a sent email and clicks a link: it lands on the
shop with UTM tags, and the report counts the click for the customer's variant. Clicks
answered just before SIGTERM are in the table after the daemon exits, and a redirect
never waits for the database's write lock.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from .daemon_peers import Output, start, wait_until
from .push_browser import chromium_path
from .shop import Shop
from .smtp_server import SMTPServer
from .support.ports import free_port
from .tracking_peers import (
    campaign,
    click_rows,
    email_setup,
    outbox_of,
    path_of,
    serve,
    shop_site,
    tracked_links_in,
)

DESKTOP = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/124.0.0.0 Safari/537.36")


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).text == "ok"
    except httpx.HTTPError:
        return False


def _daemon(shop: Shop, port: int) -> tuple[object, Output, str]:
    proc = start(shop, shop.db_url(), "run", "--port", str(port))
    output = Output(proc)
    base = f"http://127.0.0.1:{port}"
    assert wait_until(lambda: _healthy(base), timeout=60, proc=proc), output.text()
    return proc, output, base


def _stop(proc: object, output: Output) -> None:
    proc.send_signal(signal.SIGTERM)  # type: ignore[attr-defined]
    assert proc.wait(timeout=60) == 0, output.text()  # type: ignore[attr-defined]


def test_a_click_in_a_real_browser_lands_with_utm_tags_and_counts_for_its_variant(
        shop: Shop, smtp: SMTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    executable = chromium_path()
    if executable is None:
        pytest.skip("chromium not installed (set DISPATCHER_REQUIRE_BROWSER=1 to require it)")
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DISPATCHER_SECRET", "click-test-secret")
    port = free_port()
    with shop_site() as (origin, requested):
        email_setup(shop, smtp.port, campaign(variants="{A: {weight: 1}, B: {weight: 1}}"),
                    shop_url=origin, public_url=f"http://127.0.0.1:{port}")
        shop.cli("run-once", "news")
        item = next(r for r in smtp.handler.received if r.rcpt_tos == ["jane@example.com"])
        html = item.message.get_body(("html",)).get_content()
        variant = outbox_of(shop)["c2"].variant
        proc, output, _base = _daemon(shop, port)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=executable, headless=True,
                                            args=["--no-sandbox", "--disable-gpu"])
                try:
                    # Given Jane's email open in her browser
                    page = browser.new_context(user_agent=DESKTOP).new_page()
                    page.set_content(html)
                    # When she clicks "New arrivals"
                    page.get_by_role("link", name="New arrivals").click()
                    page.wait_for_url(f"{origin}/**")
                    assert "Welcome to the shop" in page.content()
                    landed = page.url
                finally:
                    browser.close()
        finally:
            _stop(proc, output)
    # Then she is on the shop's page, with the message's UTM tags and fragment
    parts = urlsplit(landed)
    assert parts.path == "/new" and parts.fragment == "top"
    assert parse_qs(parts.query) == {"sort": ["price"], "page": ["2"],
                                     "utm_source": ["dispatcher"], "utm_medium": ["email"],
                                     "utm_campaign": ["news"], "utm_content": [variant]}
    assert requested[0] == "/new"  # the shop's server saw her arrive
    # And the report counts one click by a person, for Jane's variant only
    data = json.loads(shop.cli("report", "news", "--format", "json").output)
    funnel = {arm["arm"]: arm for arm in data["funnel"]}
    assert funnel[variant]["clicked"] == 1 and funnel[variant]["bot_clicks"] == 0
    other = outbox_of(shop)["c1"].variant
    if other != variant:
        assert funnel[other]["clicked"] == 0
    assert [(c.agent, c.bot) for c in click_rows(shop)] == [("desktop", None)]


def test_clicks_answered_just_before_sigterm_are_in_the_table_after_exit(
        shop: Shop, smtp: SMTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPATCHER_SECRET", "sigterm-test-secret")
    port = free_port()
    # The writer would wait an hour before writing: only the shutdown drain stores them.
    email_setup(shop, smtp.port, campaign(), public_url=f"http://127.0.0.1:{port}",
                extra="tracking:\n  flush_interval: 1h\n")
    shop.cli("run-once", "news")
    links = [path_of(link) for item in smtp.handler.received
             for link in tracked_links_in(item.message.get_body(("html",)).get_content())]
    assert len(links) == 4
    proc, output, base = _daemon(shop, port)
    try:
        def click(path: str) -> int:
            return httpx.get(base + path, headers={"User-Agent": DESKTOP}).status_code

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(click, links * 25))
        assert answers == [302] * 100
        time.sleep(0.5)
        assert click_rows(shop) == []  # answered, not yet written
    finally:
        _stop(proc, output)
    assert len(click_rows(shop)) == 100
    assert "Traceback" not in output.text()


def test_a_redirect_does_not_wait_for_the_database_write_lock(shop: Shop,
                                                               smtp: SMTPServer) -> None:
    email_setup(shop, smtp.port, campaign(), extra="tracking:\n  flush_interval: 1s\n")
    shop.cli("run-once", "news")
    html = smtp.handler.received[0].message.get_body(("html",)).get_content()
    link = path_of(tracked_links_in(html)[0])
    with serve(shop) as (base, _state):
        # Given another writer holding SQLite's write lock (a sender's long batch)
        locker = sqlite3.connect(str(shop.folder / "shop.db"), isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")
        try:
            started = time.monotonic()
            answer = httpx.get(base + link, headers={"User-Agent": DESKTOP}, timeout=60)
            waited = time.monotonic() - started
            # Then the click is answered at once (a write would wait up to the 30 s busy
            # timeout), and it is not in the table yet
            assert answer.status_code == 302
            assert waited < 10, waited
            assert click_rows(shop) == []
        finally:
            locker.execute("COMMIT")
            locker.close()
        # And once the lock is gone, the queued click is written by the writer
        assert wait_until(lambda: len(click_rows(shop)) == 1, timeout=60)
