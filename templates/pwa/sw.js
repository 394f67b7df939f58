/*
 * nvr's service worker (streaming/pwa.py). Caches the page shell only, by exact URL: the offline page
 * and its static files. Nothing else is ever put in the cache (no video, stream, playlist, snapshot,
 * API answer or page with someone's data). A page that cannot be loaded for want of a network shows the
 * offline page. It also shows Web Push notifications and opens a tapped one's event.
 */
"use strict";

const CACHE = "nvr-shell-{{ version }}";
const SHELL = {{ shell|safe }};
const OFFLINE = {{ offline|safe }};

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((name) => name !== CACHE).map((name) => caches.delete(name))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (SHELL.includes(url.pathname)) {
    // The shell: from the cache (its static names change with their content), else the network.
    event.respondWith(caches.match(url.pathname).then((hit) => hit || fetch(request)));
    return;
  }
  if (request.mode === "navigate") {
    // A page: always from the network (never cached); without one, the offline shell.
    event.respondWith(fetch(request).catch(() => caches.match(OFFLINE)));
  }
  // Anything else (streams, playlists, segments, snapshots, the API): the network, untouched.
});

// The event's snapshot, fetched here with the user's session (never cached: no-store, and not through the
// fetch handler above) and handed to the notification as a data: URL, whatever the platform's own loader does.
async function picture(url) {
  try {
    const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) return undefined;
    const bytes = new Uint8Array(await response.arrayBuffer());
    let text = "";
    for (let start = 0; start < bytes.length; start += 0x8000) {
      text += String.fromCharCode(...bytes.subarray(start, start + 0x8000));
    }
    return `data:${response.headers.get("Content-Type") || "image/jpeg"};base64,${btoa(text)}`;
  } catch (error) {
    return undefined;
  }
}

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (error) {
    data = { title: "nvr", body: event.data ? event.data.text() : "" };
  }
  const options = {
    body: data.body || "",
    tag: data.tag,
    icon: SHELL.find((url) => url.includes("icon-192")),
    data: { url: data.url || "/" },
    renotify: Boolean(data.tag),
  };
  event.waitUntil(
    (async () => {
      if (data.image) options.image = await picture(data.image);
      await self.registration.showNotification(data.title || "nvr", options);
    })(),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL(event.notification.data.url || "/", self.location.origin).href;
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      for (const client of windows) {
        if (client.url === target && "focus" in client) return client.focus();
      }
      return self.clients.openWindow(target);
    }),
  );
});
