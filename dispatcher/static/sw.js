/* dispatcher web push service worker.
 *
 * A service worker must come from the shop's own origin. Either copy this file to the
 * shop's web root as /sw.js, or serve a one-line /sw.js that imports it:
 *     importScripts("https://DISPATCHER_PUBLIC_URL/push/sw.js");
 *
 * The payload is what templates/<campaign>/push.json renders:
 *     {"title": ..., "body": ..., "url": ..., "icon": ..., "badge": ..., "image": ..., "tag": ...}
 */
"use strict";
/* global DISPATCHER_PUSH_BASE: set by the dispatcher when it serves this file */

self.addEventListener("push", (event) => {
  let data = {};
  if (event.data) {
    try {
      data = event.data.json();
    } catch (error) {
      data = { title: event.data.text() };
    }
  }
  const options = {
    body: data.body || "",
    icon: data.icon,
    badge: data.badge,
    image: data.image,
    tag: data.tag,
    data: { url: data.url || "/" },
  };
  event.waitUntil(self.registration.showNotification(data.title || "", options));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || "/";
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      for (const client of windows) {
        if (client.url === url && "focus" in client) return client.focus();
      }
      return self.clients.openWindow(url);
    })
  );
});

// The browser rotated the subscription: report the new one, proving ownership with the
// old endpoint (no customer token is available here).
self.addEventListener("pushsubscriptionchange", (event) => {
  event.waitUntil((async () => {
    const old = event.oldSubscription;
    let fresh = event.newSubscription;
    if (!fresh && old && old.options) {
      fresh = await self.registration.pushManager.subscribe(old.options);
    }
    if (!old || !fresh || typeof DISPATCHER_PUSH_BASE === "undefined") return;
    await fetch(DISPATCHER_PUSH_BASE + "/resubscribe", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ old_endpoint: old.endpoint, subscription: fresh.toJSON() }),
      credentials: "omit",
    });
  })());
});
