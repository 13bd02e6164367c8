"""A real Chromium: the shop page's snippet subscribes, the dispatcher sends, the service
worker shows the notification.

Headless Chromium cannot reach a real push service (no internet, and it refuses push
permission headless), so the page's PushManager hands out the loopback push service's
subscription instead of asking Google's. Everything else is real: the snippet fetches
the VAPID key and posts the subscription cross-origin with its token, the dispatcher
encrypts to it, the loopback service verifies and decrypts, and the decrypted payload is
delivered to the shop's real service worker over the DevTools protocol.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, select

from dispatcher.app import load, open_store
from dispatcher.push.tokens import make_subscribe_token
from dispatcher.store.schema import addresses
from dispatcher.web.app import WebState, create_app

from .push_browser import AppServer, ShopSite, chromium_path
from .push_service import PushService
from .push_shop import setup_shop
from .shop import Shop
from .support.ports import free_port

STUB_PUSH_MANAGER = """
(() => {
  const subscription = %s;
  let current = null;
  PushManager.prototype.getSubscription = async function () { return current; };
  PushManager.prototype.subscribe = async function (options) {
    const key = new Uint8Array(options.applicationServerKey);
    window.applicationServerKeyUsed = btoa(String.fromCharCode(...key))
      .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
    current = { endpoint: subscription.endpoint, toJSON: () => subscription,
                unsubscribe: async () => { current = null; return true; } };
    return current;
  };
})();
"""


def test_snippet_subscribes_and_service_worker_shows_the_sent_message(
        shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    executable = chromium_path()
    if executable is None:
        pytest.skip("chromium not installed (set DISPATCHER_REQUIRE_BROWSER=1 to require it)")
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DISPATCHER_SECRET", "browser-test-secret")
    dispatcher_port, shop_port = free_port(), free_port()
    setup_shop(shop, monkeypatch, [{"id": "c1", "name": "Olena"}],
               channel_extra=f"  allowed_origins: [http://127.0.0.1:{shop_port}]")
    loaded = load(str(shop.config_path))
    engine = open_store(loaded)
    app = create_app(WebState(loaded, engine, {}))

    with PushService() as push, AppServer(app, dispatcher_port) as dispatcher, \
            ShopSite(dispatcher.origin, make_subscribe_token("c1"), shop_port) as site, \
            sync_playwright() as playwright:
        browser_sub = push.subscriber("chromium")
        browser = playwright.chromium.launch(executable_path=executable, args=[
            "--no-sandbox", "--disable-background-networking", "--disable-dev-shm-usage"])
        try:
            context = browser.new_context()
            context.grant_permissions(["notifications"], origin=site.origin)
            context.add_init_script(STUB_PUSH_MANAGER % json.dumps(browser_sub.subscription()))
            page = context.new_page()
            devtools = context.new_cdp_session(page)
            registrations: list[dict] = []
            devtools.on("ServiceWorker.workerRegistrationUpdated",
                        lambda event: registrations.extend(event["registrations"]))
            devtools.send("ServiceWorker.enable")

            # Given a customer on the shop's account page clicks "Notify me"
            page.goto(f"{site.origin}/account")
            page.click("#notify")
            page.wait_for_function("window.subscribeResult !== undefined", timeout=15000)
            assert page.evaluate("window.subscribeResult") == {"ok": True, "status": 201}
            push.expected_vapid_key = page.evaluate("window.applicationServerKeyUsed")

            # Then the subscription is stored for that customer, with what they were shown
            with engine.connect() as conn:
                [row] = conn.execute(select(addresses).where(addresses.c.channel == "push"))
            assert (row.customer_id, row.address, row.consent, row.consent_text) == \
                ("c1", browser_sub.endpoint, "granted", "Offers as notifications")

            # When the campaign runs, the push service gets a message it can verify
            # (in a thread: Playwright's sync API keeps an event loop on this one)
            with ThreadPoolExecutor(1) as pool:
                pool.submit(shop.cli, "run-once", "comeback").result(timeout=120)
            assert push.problems == [] and push.titles(browser_sub) == ["Olena, we miss you"]

            # And the shop's service worker shows exactly that message (once it is
            # active: a push delivered to a worker still installing is dropped, which
            # a loaded machine can hit)
            page.evaluate("navigator.serviceWorker.ready.then(r => !!r.active)")
            registration = next(r for r in reversed(registrations)
                                if r["scopeURL"].startswith(site.origin) and not r["isDeleted"])
            devtools.send("ServiceWorker.deliverPushMessage", {
                "origin": site.origin, "registrationId": registration["registrationId"],
                "data": json.dumps(push.delivered[0].payload)})
            shown: list = []
            deadline = time.monotonic() + 30
            while not shown and time.monotonic() < deadline:
                shown = page.evaluate("""navigator.serviceWorker.getRegistration('/sw.js')
                    .then(r => r.getNotifications())
                    .then(list => list.map(n => [n.title, n.body, n.data.url]))""")
                time.sleep(0.1)
            assert shown == [["Olena, we miss you",
                              "Your 1 orders mean a lot. Come back for -15%.",
                              "https://shop.test/back?c=comeback"]]
        finally:
            browser.close()
    create_engine(shop.db_url()).dispose()
    engine.dispose()
