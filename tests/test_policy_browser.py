"""The preference page in a real headless Chromium (Debian's chromium, via Playwright).

Skipped when chromium is not installed, unless DISPATCHER_REQUIRE_BROWSER=1 (CI).
"""

from __future__ import annotations

import os
import shutil

import pytest
from sqlalchemy import select

from dispatcher.store.schema import topic_optouts

from .policy_peers import campaign, consent_of, engine_of, serve, setup_shop, token_for, web_state
from .shop import Shop
from .smtp_server import SMTPServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
REQUIRED = os.environ.get("DISPATCHER_REQUIRE_BROWSER") == "1"

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM) and not REQUIRED,
    reason="chromium not installed (apt-get install chromium); "
           "set DISPATCHER_REQUIRE_BROWSER=1 to make this a failure",
)

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def test_switch_one_topic_off_in_a_real_browser(shop: Shop, smtp: SMTPServer) -> None:
    from playwright.sync_api import sync_playwright

    setup_shop(shop, smtp.port, campaign("win_back") + campaign(
        "order_news", topic="order_news", kind="transactional", enabled="false"))
    link = f"/u/{token_for('c2', 'jane@example.com')}"
    with serve(web_state(shop)) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page()
            # Given Jane opens the unsubscribe link from her email
            page.goto(base + link)
            assert page.get_by_role("heading", name="Unsubscribe").is_visible()
            # When she chooses the preference page instead, and switches offers off
            page.get_by_role("link", name="Choose what you receive instead").click()
            page.wait_for_url("**/preferences/**")
            offers = page.get_by_label("Offers and discounts")
            order_news = page.get_by_label("News about my orders")
            assert offers.is_checked() and order_news.is_checked()
            offers.uncheck()
            page.get_by_role("button", name="Save preferences").click()
            page.get_by_role("status").wait_for()
            assert "preferences are saved" in page.get_by_role("status").inner_text()
            # The page shows what is stored now
            assert not page.get_by_label("Offers and discounts").is_checked()
            assert page.get_by_label("News about my orders").is_checked()
        finally:
            browser.close()
    # Then the database holds exactly that choice, and email itself stays on
    engine = engine_of(shop)
    with engine.connect() as conn:
        assert set(conn.execute(select(topic_optouts.c.customer_id, topic_optouts.c.topic))) \
            == {("c2", "offers")}
    engine.dispose()
    assert consent_of(shop, "c2") == "granted"
    shop.cli("run-once", "win_back")
    assert smtp.handler.recipients() == ["olena@example.com"]
