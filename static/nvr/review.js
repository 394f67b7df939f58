/*
 * Review of recordings: a timeline per camera and synchronized playback of several cameras.
 *
 * One wall clock drives every tile (`Clock`): each tile plays its camera's HLS playlist
 * (/cameras/<slug>/recordings.m3u8, fMP4 segments with EXT-X-PROGRAM-DATE-TIME) through hls.js,
 * and four times a second its video is put back on the clock when it drifts more than
 * DRIFT_LIMIT_S (the issue allows 0.5 s). A tile with no recording at the clock's time says
 * "No recording" and joins as soon as the clock reaches one of its segments.
 *
 * Markup: an element with [data-review] holding .review-tile elements ([data-camera],
 * [data-playlist], a <video>), a .timeline ([data-spans] API URL) and .review-controls.
 * The camera page adds [data-live] elements that "Back to live" shows again.
 * No inline script (Content-Security-Policy: script-src 'self'); hls.js is vendored.
 */
(function () {
  "use strict";

  const root = document.querySelector("[data-review]");
  if (!root) return;

  const DRIFT_LIMIT_S = 0.3; // re-seek a tile further than this from the clock
  const SYNC_MS = 250;
  const WINDOW_BEFORE_MS = 60 * 1000; // each tile loads [t - 1 min, t + 1 h] and reloads when t leaves it
  const WINDOW_AFTER_MS = 60 * 60 * 1000;
  const ZOOMS = [24 * 3600e3, 6 * 3600e3, 3600e3, 10 * 60e3]; // timeline widths, widest first
  const token = new URLSearchParams(location.search).get("token");

  function withQuery(url, params) {
    const target = new URL(url, location.href);
    for (const [key, value] of Object.entries(params)) target.searchParams.set(key, value);
    if (token) target.searchParams.set("token", token);
    return target.pathname + target.search;
  }

  function iso(ms) {
    return new Date(ms).toISOString();
  }

  // The one clock every tile follows -------------------------------------------------
  class Clock {
    constructor(start) {
      this.wall = start;
      this.at = performance.now();
      this.speed = 1;
      this.playing = false;
    }
    now() {
      return this.playing ? this.wall + (performance.now() - this.at) * this.speed : this.wall;
    }
    set(wall) {
      this.wall = wall;
      this.at = performance.now();
    }
    play() {
      if (!this.playing) {
        this.set(this.now());
        this.playing = true;
      }
    }
    pause() {
      if (this.playing) {
        this.set(this.now());
        this.playing = false;
      }
    }
    setSpeed(speed) {
      this.set(this.now());
      this.speed = speed;
    }
  }

  // One camera's player ------------------------------------------------------------------
  class Tile {
    constructor(element) {
      this.element = element;
      this.slug = element.dataset.camera;
      this.playlist = element.dataset.playlist;
      this.video = element.querySelector("video");
      this.note = element.querySelector(".review-note");
      this.fragments = []; // [{pdt (ms), start (s), end (s)}]
      this.window = null; // [from, to] ms loaded
      this.hls = null;
      this.loading = false;
      this.video.muted = true;
      this.video.playsInline = true;
    }

    say(text) {
      if (this.note) {
        this.note.textContent = text;
        this.note.hidden = !text;
      }
      this.element.dataset.recording = text ? "none" : "yes";
    }

    load(wall) {
      const from = wall - WINDOW_BEFORE_MS;
      const to = wall + WINDOW_AFTER_MS;
      const url = withQuery(this.playlist, { start: iso(from), end: iso(to) });
      this.window = [from, to];
      this.fragments = [];
      this.loading = true;
      if (this.hls) this.hls.destroy();
      if (window.Hls && window.Hls.isSupported()) {
        // No worker: a blob: worker would need a looser Content-Security-Policy.
        const hls = new window.Hls({ enableWorker: false, maxBufferLength: 30, backBufferLength: 30 });
        this.hls = hls;
        hls.on(window.Hls.Events.LEVEL_LOADED, (_, data) => {
          this.fragments = data.details.fragments
            .filter((f) => f.programDateTime)
            .map((f) => ({ pdt: f.programDateTime, start: f.start, end: f.start + f.duration }));
          this.loading = false;
        });
        hls.on(window.Hls.Events.ERROR, (_, data) => {
          if (data.fatal) {
            this.loading = false;
            this.say("Playback failed; retrying…");
            setTimeout(() => this.load(clock.now()), 2000 + Math.random() * 1000);
          }
        });
        hls.loadSource(url);
        hls.attachMedia(this.video);
      } else if (this.video.canPlayType("application/vnd.apple.mpegurl")) {
        this.video.src = url; // Safari on iOS: native HLS (its own PROGRAM-DATE-TIME mapping)
        this.nativeStart = from;
        this.loading = false;
      } else {
        this.say("This browser cannot play recordings.");
      }
    }

    liveFragments() {
      // hls.js corrects each fragment's start from the timestamps it parses: read them fresh.
      const details = this.hls && this.hls.levels[0] && this.hls.levels[0].details;
      if (!details) return this.fragments;
      return details.fragments
        .filter((f) => f.programDateTime)
        .map((f) => ({ pdt: f.programDateTime, start: f.start, end: f.start + f.duration }));
    }

    mediaTime(wall) {
      if (this.nativeStart !== undefined) return (wall - this.nativeStart) / 1000;
      for (const f of this.liveFragments()) {
        const end = f.pdt + (f.end - f.start) * 1000;
        if (wall >= f.pdt && wall < end) return f.start + (wall - f.pdt) / 1000;
      }
      return null;
    }

    sync(wall, speed, playing) {
      if (!this.window || wall < this.window[0] || wall > this.window[1] - 60e3) {
        this.load(wall);
        return;
      }
      if (this.loading) return;
      const target = this.mediaTime(wall);
      if (target === null) {
        this.say("No recording");
        if (!this.video.paused) this.video.pause();
        return;
      }
      this.say("");
      if (this.video.playbackRate !== speed) this.video.playbackRate = speed;
      if (Math.abs(this.video.currentTime - target) > DRIFT_LIMIT_S * Math.max(1, speed / 2)) {
        this.video.currentTime = target;
      }
      if (playing && this.video.paused) this.video.play().catch(() => {});
      if (!playing && !this.video.paused) this.video.pause();
      this.element.dataset.wall = String(this.wallTime());
    }

    wallTime() {
      // The wall-clock time of the picture shown (tests read it from data-wall).
      const t = this.video.currentTime;
      for (const f of this.liveFragments()) {
        if (t >= f.start && t < f.end) return f.pdt + (t - f.start) * 1000;
      }
      if (this.nativeStart !== undefined) return this.nativeStart + t * 1000;
      return NaN;
    }
  }

  function noteCodec(codec) {
    // Chromium plays H.264 through MSE, not H.265 (docs/facts.md): say so, and offer the clip.
    const warning = root.querySelector(".review-codec");
    if (!warning || !codec) return;
    const type = `video/mp4; codecs="${codec}"`;
    const playable = window.MediaSource ? MediaSource.isTypeSupported(type) : document.createElement("video").canPlayType(type) !== "";
    warning.hidden = playable;
  }

  // The timeline ---------------------------------------------------------------------------
  class Timeline {
    constructor(element, onPick) {
      this.element = element;
      this.spansUrls = (element.dataset.spans || "").split(" ").filter(Boolean);
      this.bar = element.querySelector(".timeline-bar");
      this.cursor = element.querySelector(".timeline-cursor");
      this.labels = element.querySelector(".timeline-labels");
      this.zoom = 0;
      this.end = Date.now();
      this.spans = [];
      this.onPick = onPick;
      this.bar.addEventListener("click", (event) => {
        const box = this.bar.getBoundingClientRect();
        const fraction = (event.clientX - box.left) / box.width;
        this.onPick(this.start() + fraction * ZOOMS[this.zoom]);
      });
    }
    start() {
      return this.end - ZOOMS[this.zoom];
    }
    setZoom(level, centre) {
      this.zoom = Math.max(0, Math.min(ZOOMS.length - 1, level));
      const width = ZOOMS[this.zoom];
      this.end = Math.min(Date.now(), centre + width / 2);
      this.refresh();
    }
    follow(wall) {
      const width = ZOOMS[this.zoom];
      if (wall < this.start() || wall > this.end) {
        this.end = Math.min(Date.now(), wall + width / 2);
        this.refresh();
      }
      const fraction = (wall - this.start()) / width;
      this.cursor.style.left = `${Math.max(0, Math.min(1, fraction)) * 100}%`;
      this.element.dataset.cursor = String(wall);
    }
    async refresh() {
      const from = iso(this.start());
      const to = iso(this.end);
      const spans = [];
      const events = [];
      for (const url of this.spansUrls) {
        try {
          const response = await fetch(withQuery(url, { start: from, end: to }), { credentials: "same-origin" });
          if (response.ok) {
            const data = await response.json();
            spans.push(...data.spans.map((s) => [Date.parse(s.start), Date.parse(s.end)]));
            events.push(...(data.events || []).map((e) => [Date.parse(e.start), e.end ? Date.parse(e.end) : Date.now()]));
            noteCodec(data.codec);
          }
        } catch (error) {
          // the next refresh tries again
        }
      }
      this.spans = spans;
      this.events = events;
      this.draw();
    }
    draw() {
      const start = this.start();
      const width = ZOOMS[this.zoom];
      this.bar.querySelectorAll(".timeline-span, .timeline-event").forEach((node) => node.remove());
      // Recorded spans, then event markers (motion) over them.
      for (const [kind, ranges] of [["timeline-span", this.spans], ["timeline-event", this.events || []]]) {
        for (const [from, to] of ranges) {
          const left = Math.max(0, (from - start) / width);
          const right = Math.min(1, (to - start) / width);
          if (right < left || (right === left && kind === "timeline-span")) continue;
          const node = document.createElement("span");
          node.className = kind;
          node.style.left = `${left * 100}%`;
          node.style.width = `${(right - left) * 100}%`;
          this.bar.appendChild(node);
        }
      }
      if (this.labels) {
        const format = width > 6 * 3600e3 ? { hour: "2-digit", minute: "2-digit" } : { hour: "2-digit", minute: "2-digit", second: "2-digit" };
        const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => new Date(start + f * width).toLocaleTimeString([], format));
        this.labels.textContent = "";
        for (const tick of ticks) {
          const label = document.createElement("span");
          label.textContent = tick;
          this.labels.appendChild(label);
        }
      }
    }
  }

  // Wiring -----------------------------------------------------------------------------------
  const params = new URLSearchParams(location.search);
  const startParam = params.get("t");
  const parsed = startParam ? (/^\d+(\.\d+)?$/.test(startParam) ? Number(startParam) * 1000 : Date.parse(startParam)) : NaN;
  const clock = new Clock(Number.isFinite(parsed) ? parsed : Date.now() - 5 * 60e3);
  const tiles = Array.from(root.querySelectorAll(".review-tile")).map((element) => new Tile(element));
  const live = document.querySelectorAll("[data-live]");
  const controls = root.querySelector(".review-controls");
  const picker = controls ? controls.querySelector("input[type=datetime-local]") : null;
  const playButton = controls ? controls.querySelector("[data-action=play]") : null;
  const playerBox = root.querySelector(".review-player");
  let active = root.dataset.review === "active"; // the camera page starts live; /review/ starts playing

  function show(reviewing) {
    active = reviewing;
    if (playerBox) playerBox.hidden = !reviewing;
    live.forEach((node) => (node.hidden = reviewing));
    root.dataset.state = reviewing ? "review" : "live";
  }

  function seek(wall) {
    clock.set(Math.min(wall, Date.now()));
    if (!active) show(true);
    clock.play();
    updateButtons();
    tick();
  }

  function updateButtons() {
    if (playButton) playButton.textContent = clock.playing ? "Pause" : "Play";
    if (picker && document.activeElement !== picker) {
      const local = new Date(clock.now() - new Date().getTimezoneOffset() * 60e3);
      picker.value = local.toISOString().slice(0, 19);
    }
  }

  const timelineElement = root.querySelector(".timeline");
  const timeline = timelineElement ? new Timeline(timelineElement, seek) : null;

  if (controls) {
    controls.addEventListener("click", (event) => {
      const button = event.target.closest("button");
      if (!button) return;
      const action = button.dataset.action;
      if (action === "play") {
        if (!active) show(true);
        clock.playing ? clock.pause() : clock.play();
      } else if (action === "back") seek(clock.now() - 10e3);
      else if (action === "forward") seek(clock.now() + 10e3);
      else if (action === "speed") {
        clock.setSpeed(Number(button.dataset.speed));
        controls.querySelectorAll("[data-action=speed]").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
      } else if (action === "zoom-in" && timeline) timeline.setZoom(timeline.zoom + 1, clock.now());
      else if (action === "zoom-out" && timeline) timeline.setZoom(timeline.zoom - 1, clock.now());
      else if (action === "live") {
        clock.pause();
        tiles.forEach((tile) => tile.video.pause());
        show(false);
      }
      updateButtons();
    });
    if (picker) {
      picker.addEventListener("change", () => {
        const wall = Date.parse(picker.value); // a datetime-local value is in the browser's time zone
        if (Number.isFinite(wall)) seek(wall);
      });
    }
  }

  function tick() {
    const wall = clock.now();
    if (active) {
      for (const tile of tiles) tile.sync(wall, clock.speed, clock.playing);
      if (clock.playing && wall > Date.now()) {
        clock.set(Date.now());
        clock.pause();
      }
    }
    if (timeline) timeline.follow(wall);
    root.dataset.clock = String(wall);
  }

  window.nvrReview = { clock, timeline, tiles }; // for tests and the curious
  show(active);
  if (active) clock.play();
  if (timeline) timeline.refresh();
  setInterval(tick, SYNC_MS);
  setInterval(() => timeline && timeline.refresh(), 30e3);
  setInterval(updateButtons, 1000);
  updateButtons();
})();
