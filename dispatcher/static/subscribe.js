/* dispatcher web push subscribe snippet.
 *
 *   <script src="https://DISPATCHER_PUBLIC_URL/push/subscribe.js"></script>
 *   <script>
 *     // token: minted by the shop's backend for the logged-in customer
 *     // (dispatcher.push_tokens.make_subscribe_token, or `dispatcher push-token ID`)
 *     button.onclick = () => DispatcherPush.subscribe({
 *       token: "...", serviceWorker: "/sw.js",
 *       consentText: "Get our offers as notifications"  // what the customer was shown
 *     }).then((result) => console.log(result));  // {ok: true} or {ok: false, reason}
 *   </script>
 *
 * Call subscribe() from a click: browsers only show the permission prompt for a user
 * gesture. DispatcherPush.unsubscribe({serviceWorker: "/sw.js"}) turns it off again.
 */
(function () {
  "use strict";
  const script = document.currentScript;
  const defaultBase = script ? new URL(".", script.src).href.replace(/\/$/, "") : "/push";

  function keyBytes(base64url) {
    const padded = (base64url + "===".slice((base64url.length + 3) % 4))
      .replace(/-/g, "+").replace(/_/g, "/");
    const raw = atob(padded);
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }

  async function activeRegistration(options) {
    const registration = await navigator.serviceWorker.register(
      options.serviceWorker || "/sw.js", options.scope ? { scope: options.scope } : undefined);
    const worker = registration.installing || registration.waiting;
    if (worker && !registration.active) {
      await new Promise((resolve) => {
        const settle = () => { if (worker.state === "activated") resolve(); };
        worker.addEventListener("statechange", settle);
        settle();
      });
    }
    return registration;
  }

  async function post(base, path, body) {
    const response = await fetch(base + path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "omit",
    });
    let answer = {};
    try { answer = await response.json(); } catch (error) { /* empty body */ }
    return { ok: response.ok, status: response.status, ...answer };
  }

  async function subscribe(options) {
    options = options || {};
    const base = options.base || defaultBase;
    if (!("serviceWorker" in navigator) || !("PushManager" in window)) {
      return { ok: false, reason: "unsupported" };
    }
    if (!options.token) return { ok: false, reason: "missing token" };
    const permission = await Notification.requestPermission();
    if (permission !== "granted") return { ok: false, reason: "permission " + permission };
    const keyResponse = await fetch(base + "/key", { credentials: "omit" });
    if (!keyResponse.ok) return { ok: false, reason: "push not configured" };
    const { applicationServerKey } = await keyResponse.json();
    const registration = await activeRegistration(options);
    let subscription = await registration.pushManager.getSubscription();
    if (!subscription) {
      subscription = await registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: keyBytes(applicationServerKey),
      });
    }
    return post(base, "/subscribe", {
      token: options.token,
      subscription: subscription.toJSON(),
      consent_text: options.consentText || null,
    });
  }

  async function unsubscribe(options) {
    options = options || {};
    const base = options.base || defaultBase;
    const registration = await navigator.serviceWorker.getRegistration(
      options.scope || options.serviceWorker || "/sw.js");
    const subscription = registration && await registration.pushManager.getSubscription();
    if (!subscription) return { ok: true, withdrawn: 0 };
    const result = await post(base, "/unsubscribe", { endpoint: subscription.endpoint });
    await subscription.unsubscribe();
    return result;
  }

  window.DispatcherPush = { subscribe, unsubscribe };
})();
