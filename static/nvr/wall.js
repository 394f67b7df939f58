/* The operators' wall, on top of the live grid (grid.js draws the pictures):
 *
 * - cycling pages: with data-cycle="N" and more than one page, the next page every N seconds
 *   (wrapping to the first); "Pause" stops it. Before turning, /healthz is asked, so a wall never
 *   navigates into a server that is down (it tries again, with jitter, until the server is back);
 * - a double-click on a tile (a tap in kiosk mode) enlarges it to the whole grid; Escape returns;
 * - kiosk mode (?kiosk=1): no header, no cursor (CSS), and the screen kept awake (Wake Lock API);
 * - the group picker shows its group as soon as one is chosen.
 * A static file, no inline script (Content-Security-Policy).
 */
(function () {
  "use strict";

  const picker = document.querySelector("select[data-autosubmit]");
  if (picker) picker.addEventListener("change", () => picker.form.submit());

  const grid = document.getElementById("grid");
  if (!grid) return;
  const kiosk = grid.hasAttribute("data-kiosk");

  /* Enlarge a tile ------------------------------------------------------------------------ */
  let clickTimer = null;
  function enlarge(tile) {
    const already = tile.classList.contains("enlarged");
    for (const other of grid.querySelectorAll(".tile.enlarged")) other.classList.remove("enlarged");
    grid.classList.toggle("has-enlarged", !already);
    if (!already) tile.classList.add("enlarged");
    window.dispatchEvent(new Event("resize")); // grid.js asks for the new tile size
  }
  grid.addEventListener("click", (event) => {
    const tile = event.target.closest(".tile");
    if (!tile || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    if (kiosk) {
      enlarge(tile); // a wall screen has no camera page to go to: a tap enlarges
      return;
    }
    clearTimeout(clickTimer);
    if (event.detail > 1) return; // the second click of a double-click
    clickTimer = setTimeout(() => location.assign(tile.href), 250);
  });
  grid.addEventListener("dblclick", (event) => {
    const tile = event.target.closest(".tile");
    if (!tile) return;
    clearTimeout(clickTimer);
    enlarge(tile);
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && grid.classList.contains("has-enlarged")) {
      const open = grid.querySelector(".tile.enlarged");
      if (open) enlarge(open);
    }
  });

  /* Cycling pages ------------------------------------------------------------------------- */
  const seconds = Number(grid.dataset.cycle) || 0;
  const page = Number(grid.dataset.page) || 1;
  const pages = Number(grid.dataset.pages) || 1;
  const pause = document.querySelector("[data-action=pause]");
  let paused = false;
  if (pause) {
    pause.addEventListener("click", () => {
      paused = !paused;
      pause.setAttribute("aria-pressed", String(paused));
      pause.textContent = paused ? "Resume" : "Pause";
    });
  }
  function nextUrl() {
    const query = new URLSearchParams(grid.dataset.query || "");
    query.set("page", String(page >= pages ? 1 : page + 1));
    return `${location.pathname}?${query}`;
  }
  async function turn() {
    if (paused || grid.classList.contains("has-enlarged")) {
      setTimeout(turn, seconds * 1000);
      return;
    }
    try {
      const health = await fetch("/healthz", { cache: "no-store" });
      if (health.ok) {
        location.assign(nextUrl());
        return;
      }
    } catch (error) {
      // the server is away: stay on this page (grid.js keeps reconnecting) and try again
    }
    setTimeout(turn, 2000 + Math.random() * 2000);
  }
  if (seconds > 0 && pages > 1) setTimeout(turn, seconds * 1000);
  window.nvrWall = { nextUrl, paused: () => paused };

  /* Kiosk: keep the screen awake ------------------------------------------------------------ */
  if (kiosk && "wakeLock" in navigator) {
    const awake = () => navigator.wakeLock.request("screen").catch(() => {});
    awake();
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) awake();
    });
  }
})();
