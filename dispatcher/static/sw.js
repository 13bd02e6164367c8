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
