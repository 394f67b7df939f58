/*
 * The installable app (streaming/pwa.py): registers the service worker, which caches the page shell
 * only and shows push notifications. On the offline page, goes back to the grid when the network returns.
 */
(function () {
  "use strict";

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {});
  }
  if (document.body.classList.contains("page-offline")) {
    window.addEventListener("online", () => location.replace("/"));
  }
})();
