/* The live grid: every tile's pictures come from ONE multipart stream (streaming.grid).
 *
 * A browser opens at most 6 HTTP/1.1 connections per host, so one MJPEG <img> per camera
 * would leave tiles blank and starve the rest of the site. Instead one fetch() reads
 * /grid/stream.mjpg?cameras=...&width=...: parts carry Content-Length and X-Camera, are
 * split here as bytes arrive, and each JPEG is decoded off the main thread
 * (createImageBitmap) and drawn into its tile's canvas. Newest frame wins per tile: a
 * tile still decoding keeps only the latest part that arrives meanwhile.
 *
 * Only tiles on screen (plus a margin) are requested, at the size they are shown, so a
 * phone scrolling a column of 16 cameras downloads the three it shows. The stream is
 * reopened with backoff when it ends, stalls, or the set of visible tiles or their size
 * changes, and closed while the page is hidden. window.nvrGrid.stats counts what arrived.
 *
 * A camera that sends H.264 (a tile with data-h264) plays its own video instead, where the browser can
 * (h264.js: MSE over one WebSocket per tile, opened while the tile is on screen), and is left out of the
 * MJPEG stream; a tile whose H.264 cannot play here falls back to the stream by itself. Each tile's
 * caption says which it shows. A camera with a sub stream plays it in its tile (?stream=sub); while the
 * sub stream has failed the tile plays the main stream, and its caption says so ("H.264 · main").
 */
(function () {
  "use strict";

  const grid = document.getElementById("grid");
  if (!grid) return;

  const VARIANTS = [160, 240, 320, 480, 640, 800, 960, 1280, 1920]; // framebus.VARIANT_WIDTHS
  const ASPECT = 16 / 9;
  const GAP = 4; // px, as .grid's gap in nvr.css
  const PHONE = 640; // px: below this, one column (CSS) and no fitting
  // framebus.status.CLIENT_STALL_AFTER: the server sends an offline picture every second, so
  // silence this long means the connection itself is broken.
  const STALL_MS = Number(grid.dataset.stallMs) || 10000;
  const note = document.getElementById("grid-note");
  const stats = { bytes: 0, parts: 0, drawn: 0, connects: 0, since: performance.now(), width: 0, cameras: "" };
  const h264 = window.nvrH264 && window.nvrH264.available() ? window.nvrH264 : null;
  const tokenQuery = grid.dataset.token ? `?token=${encodeURIComponent(grid.dataset.token)}` : ""; // a kiosk's

  class Tile {
    constructor(element) {
      this.element = element;
      this.slug = element.dataset.camera;
      this.canvas = element.querySelector("canvas");
      this.context = this.canvas.getContext("2d", { alpha: false });
      this.pending = null;
      this.busy = false;
      this.frames = 0;
      this.visible = true;
      this.video = element.querySelector("video");
      const joined = element.dataset.h264 && element.dataset.h264.includes("?") ? tokenQuery.replace("?", "&") : tokenQuery;
      this.socket = element.dataset.h264 ? element.dataset.h264 + joined : "";
      this.mode = this.socket && this.video && h264 ? "h264" : "mjpeg";
      this.player = null;
      this.label = element.querySelector(".live-mode");
      this.say(this.mode === "h264" ? "H.264" : "MJPEG", this.socket ? "" : "This camera sends pictures, not H.264");
    }

    say(text, why) {
      if (this.label) {
        this.label.textContent = text;
        this.label.title = why || "How the live picture reaches this tile";
      }
      this.element.dataset.mode = text.startsWith("H.264") ? "h264" : "mjpeg";
    }

    /* Play H.264 while the tile is on screen and the page shown; fall back to the MJPEG stream. */
    syncH264() {
      const want = this.mode === "h264" && this.visible && !document.hidden;
      if (want && !this.player) {
        this.player = h264.play(this.video, this.socket, {
          onInit: (message) => {
            this.element.dataset.stream = message.stream || "";
            if (message.fallback) this.say("H.264 · main", `This tile plays the main stream: ${message.fallback}`);
            else this.say("H.264", message.stream === "sub" ? "The camera's sub stream, as it sends it" : "");
          },
          onPlaying: () => {
            this.video.hidden = false;
            this.canvas.hidden = true;
            this.element.classList.add("has-frame");
          },
          onFallback: (why) => {
            this.player = null;
            this.mode = "mjpeg";
            this.video.hidden = true;
            this.canvas.hidden = false;
            this.say("MJPEG", `H.264 is not used: ${why}`);
            restartSoon(0);
          },
        });
      } else if (!want && this.player) {
        this.player.stop();
        this.player = null;
      }
    }

    show(blob) {
      this.pending = blob; // newest wins: an older pending frame is simply dropped
      if (!this.busy) this.drain();
    }

    async drain() {
      this.busy = true;
      while (this.pending) {
        const blob = this.pending;
        this.pending = null;
        let bitmap;
        try {
          bitmap = await createImageBitmap(blob);
        } catch (error) {
          continue; // a damaged JPEG: wait for the next one
        }
        if (this.canvas.width !== bitmap.width || this.canvas.height !== bitmap.height) {
          this.canvas.width = bitmap.width;
          this.canvas.height = bitmap.height;
        }
        this.context.drawImage(bitmap, 0, 0);
        bitmap.close();
        this.frames += 1;
        stats.drawn += 1;
        if (this.frames === 1) this.element.classList.add("has-frame");
      }
      this.busy = false;
    }
  }

  const tiles = new Map();
  for (const element of grid.querySelectorAll(".tile")) tiles.set(element.dataset.camera, new Tile(element));
  window.nvrGrid = { stats, tiles };

  /* Multipart parsing -------------------------------------------------------------- */
  const decoder = new TextDecoder();

  function headerEnd(buffer, from) {
    for (let i = buffer.indexOf(13, from); i >= 0 && i + 3 < buffer.length; i = buffer.indexOf(13, i + 1)) {
      if (buffer[i + 1] === 10 && buffer[i + 2] === 13 && buffer[i + 3] === 10) return i;
    }
    return -1;
  }

  function parseHeaders(text) {
    const headers = {};
    for (const line of text.split("\r\n")) {
      const colon = line.indexOf(":");
      if (colon > 0 && !line.startsWith("--")) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    return headers;
  }

  class PartReader {
    constructor(onPart) {
      this.onPart = onPart;
      this.buffer = new Uint8Array(0);
      this.headers = null;
      this.length = 0;
    }

    push(chunk) {
      let buffer = chunk;
      if (this.buffer.length) {
        buffer = new Uint8Array(this.buffer.length + chunk.length);
        buffer.set(this.buffer);
        buffer.set(chunk, this.buffer.length);
      }
      let position = 0;
      for (;;) {
        if (this.headers === null) {
          const end = headerEnd(buffer, position);
          if (end < 0) {
            if (buffer.length - position > 16384) throw new Error("multipart: no part headers");
            break;
          }
          this.headers = parseHeaders(decoder.decode(buffer.subarray(position, end)));
          this.length = Number(this.headers["content-length"]);
          if (!Number.isInteger(this.length) || this.length < 0) throw new Error("multipart: no Content-Length");
          position = end + 4;
        }
        if (buffer.length - position < this.length) break;
        this.onPart(this.headers, buffer.subarray(position, position + this.length));
        position += this.length;
        this.headers = null;
      }
      this.buffer = position >= buffer.length ? new Uint8Array(0) : buffer.slice(position);
    }
  }

  function onPart(headers, jpeg) {
    stats.parts += 1;
    const tile = tiles.get(headers["x-camera"]);
    if (tile) tile.show(new Blob([jpeg], { type: "image/jpeg" }));
  }

  /* Layout ------------------------------------------------------------------------ */
  function fitAuto() {
    // "auto": the number of columns that shows every camera as large as the window allows.
    if (grid.dataset.layout !== "auto") return;
    const width = grid.parentElement.clientWidth;
    if (window.innerWidth < PHONE || grid.classList.contains("has-enlarged")) {
      // Phones: one column (CSS). An enlarged tile fills the grid alone (wall.js; CSS gives it one column).
      grid.style.removeProperty("grid-template-columns");
      grid.style.removeProperty("max-width");
      return;
    }
    const height = window.innerHeight - grid.getBoundingClientRect().top + window.scrollY - 12;
    const count = tiles.size;
    let best = 1;
    let bestWidth = 0;
    for (let columns = 1; columns <= count; columns++) {
      const rows = Math.ceil(count / columns);
      const tile = Math.min((width - GAP * (columns - 1)) / columns, ((height - GAP * (rows - 1)) / rows) * ASPECT);
      if (tile > bestWidth + 0.5) {
        bestWidth = tile;
        best = columns;
      }
    }
    if (bestWidth < 200) {
      // Too many to fit on one screen: tiles of a readable size, and the page scrolls.
      best = Math.max(1, Math.floor((width + GAP) / (240 + GAP)));
      grid.style.removeProperty("max-width");
    } else {
      grid.style.maxWidth = `${Math.ceil(bestWidth * best + GAP * (best - 1))}px`;
    }
    grid.style.gridTemplateColumns = `repeat(${best}, minmax(0, 1fr))`;
  }

  function tileWidth() {
    // Pixels a tile shows (at most 2 device pixels per CSS pixel), rounded up to a size variant:
    // the widest tile on screen (an enlarged one; tiles left out of the layout measure 0).
    const widths = [...grid.querySelectorAll(".tile canvas")].map((c) => c.getBoundingClientRect().width);
    const css = Math.max(0, ...widths) || 320;
    const pixels = css * Math.min(window.devicePixelRatio || 1, 2);
    return VARIANTS.find((w) => w >= pixels) || VARIANTS[VARIANTS.length - 1];
  }

  /* The stream --------------------------------------------------------------------- */
  let generation = 0;
  let controller = null;
  const retry = nvrReconnect.backoff();
  let lastData = 0;

  function wanted() {
    return [...tiles.values()].filter((t) => t.visible && t.mode === "mjpeg").map((t) => t.slug).join(",");
  }

  function setNote(text) {
    if (!note) return;
    note.textContent = text;
    note.hidden = !text;
  }

  async function run() {
    const mine = ++generation;
    if (controller) controller.abort();
    while (mine === generation) {
      const cameras = wanted();
      if (!cameras || document.hidden) return;
      const width = tileWidth();
      const abort = (controller = new AbortController());
      stats.width = width;
      stats.cameras = cameras;
      stats.connects += 1;
      let received = false;
      try {
        const token = grid.dataset.token ? `&token=${encodeURIComponent(grid.dataset.token)}` : ""; // a kiosk's
        const url = `${grid.dataset.stream}?cameras=${encodeURIComponent(cameras)}&width=${width}${token}`;
        const response = await fetch(url, { signal: abort.signal, cache: "no-store", credentials: "same-origin" });
        if (response.status === 401 || response.status === 403) {
          location.assign(`/accounts/login/?next=${encodeURIComponent(location.pathname + location.search)}`);
          return;
        }
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        const reader = response.body.getReader();
        const parts = new PartReader(onPart);
        lastData = performance.now();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          stats.bytes += value.byteLength;
          lastData = performance.now();
          if (!received) {
            received = true;
            retry.reset();
            setNote("");
          }
          parts.push(value);
        }
      } catch (error) {
        // aborted (a newer stream replaced this one, or it stalled) or the network failed
      }
      if (mine !== generation) return;
      setNote("Live pictures interrupted; reconnecting…");
      await nvrReconnect.sleep(retry.next());
    }
  }

  function stop() {
    generation += 1;
    if (controller) controller.abort();
  }

  let restartTimer = 0;
  function restartSoon(delay) {
    clearTimeout(restartTimer);
    restartTimer = setTimeout(() => {
      if (wanted() !== stats.cameras || tileWidth() !== stats.width || !controller || controller.signal.aborted) run();
    }, delay);
  }

  setInterval(() => {
    if (controller && !controller.signal.aborted && performance.now() - lastData > STALL_MS) controller.abort();
  }, 2000);

  function syncH264() {
    for (const tile of tiles.values()) tile.syncH264();
  }

  document.addEventListener("visibilitychange", () => {
    syncH264();
    if (document.hidden) stop();
    else run();
  });

  let resizeTimer = 0;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      fitAuto();
      restartSoon(0);
    }, 250);
  });

  let started = false;
  function start() {
    started = true;
    syncH264();
    run();
  }

  fitAuto();
  if ("IntersectionObserver" in window) {
    const observer = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        const tile = tiles.get(entry.target.dataset.camera);
        if (tile) tile.visible = entry.isIntersecting;
      }
      if (started) {
        syncH264();
        restartSoon(600);
      } else start(); // the first report says which tiles are on screen
    }, { rootMargin: "50% 0px" });
    for (const tile of tiles.values()) observer.observe(tile.element);
  }

  /* Live status -------------------------------------------------------------------- */
  if (window.nvrStatus) {
    window.nvrStatus.connect(grid.dataset.status, (items) => {
      for (const item of items) {
        const tile = tiles.get(item.slug);
        if (tile) window.nvrStatus.apply(tile.element, item);
      }
    });
  }

  if (!started && !("IntersectionObserver" in window)) start();
})();
