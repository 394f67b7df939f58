/*
 * Review of recordings: a timeline per camera and synchronized playback of several cameras.
 *
 * One wall clock drives every tile (`Clock`): each tile plays its camera's HLS playlist through
 * nvrPlayer (player.js), and four times a second its video is put back on the clock: by a seek when it
 * is more than DRIFT_LIMIT_S off, by playing a little faster or slower when it is off by less. A tile with no recording at the clock's time says "No recording here"
 * and joins as soon as the clock reaches one of its segments.
 *
 * The timeline: the last hour by default, zooming from 10 minutes out to 7 days; 24-hour labels in
 * the browser's locale; a click plays from that moment, or from the next recording when it falls in
 * a gap; the pointer resting on it shows the recorded keyframe nearest it (/cameras/<slug>/preview.jpg,
 * asked PREVIEW_DELAY_MS after it stops, kept per rounded time); the keyboard drives it (←/→ seek,
 * Shift for a minute, space plays or pauses, +/- zoom, Home goes back to live); "Download" exports the
 * span on screen (clip.mp4).
 *
 * Markup: an element with [data-review] holding .review-tile elements ([data-camera],
 * [data-playlist], a <video>), a .timeline ([data-spans] API URLs, [data-preview] URL) and
 * .review-controls. The camera page adds [data-live] elements (the live picture), hidden while a
 * recording plays: one picture at a time. It starts playing when the URL names a time (?t=).
 * No inline script (Content-Security-Policy: script-src 'self'); hls.js is vendored.
 */
(function () {
  "use strict";

  const root = document.querySelector("[data-review]");
  if (!root) return;

  const DRIFT_LIMIT_S = 0.3; // re-seek a tile further than this from the clock
  const NUDGE_FROM_S = 0.04; // a tile further than this (but not DRIFT_LIMIT_S) plays NUDGE faster or slower
  const NUDGE = 0.05;
  const SYNC_MS = 250;
  const WINDOW_BEFORE_MS = 60 * 1000; // each tile loads [t - 1 min, t + 1 h] and reloads when t leaves it
  const WINDOW_AFTER_MS = 60 * 60 * 1000;
  const DAY = 24 * 3600e3;
  const ZOOMS = [7 * DAY, DAY, 6 * 3600e3, 3600e3, 10 * 60e3]; // timeline widths, widest first
  const DEFAULT_ZOOM = 3; // the last hour
  const TICKS = [60e3, 2 * 60e3, 5 * 60e3, 10 * 60e3, 15 * 60e3, 30 * 60e3, 3600e3, 2 * 3600e3, 3 * 3600e3,
    6 * 3600e3, 12 * 3600e3, DAY]; // label steps, the first that leaves LABEL_PX between labels
  const LABEL_PX = 72;
  const SEEK_MS = 10e3; // ←/→ (Shift: SEEK_LONG_MS)
  const SEEK_LONG_MS = 60e3;
  const PREVIEW_DELAY_MS = 120; // the pointer must rest this long before a preview is asked
  const SPANS_LONGEST_MS = 31 * DAY; // review.views.SPANS_LONGEST
  const token = new URLSearchParams(location.search).get("token");
  const hours = new Intl.DateTimeFormat([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const seconds = new Intl.DateTimeFormat([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
  const days = new Intl.DateTimeFormat([], { weekday: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });

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
      this.recording = null;
      this.window = null; // [from, to] ms loaded
      this.loading = false;
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
      this.window = [from, to];
      this.loading = true;
      if (this.recording) this.recording.destroy();
      this.recording = new window.nvrPlayer.Recording(this.video, withQuery(this.playlist, { start: iso(from), end: iso(to) }), from, {
        onReady: () => (this.loading = false),
        onFatal: () => {
          this.loading = false;
          this.say("Playback failed; retrying…");
          setTimeout(() => this.load(clock.now()), 2000 + Math.random() * 1000);
        },
      });
      if (this.recording.unsupported) this.say("This browser cannot play recordings.");
    }

    stop() {
      if (this.recording) this.recording.destroy();
      this.recording = null;
      this.window = null;
      this.say("");
    }

    sync(wall, speed, playing) {
      if (!this.window || wall < this.window[0] || wall > this.window[1] - 60e3) {
        this.load(wall);
        return;
      }
      if (this.loading) return;
      if (this.video.muted === sound) this.video.muted = !sound; // a new recording starts muted (player.js)
      const target = this.recording.mediaTime(wall);
      if (target === null) {
        this.say("No recording here");
        if (!this.video.paused) this.video.pause();
        return;
      }
      this.say("");
      // Far off: seek. A little off: play 5 % faster or slower until back on the clock, which a seek
      // (a decode from the keyframe before) cannot do as finely: 16 tiles stayed up to 0.33 s apart.
      const ahead = this.video.currentTime - target;
      let rate = speed;
      if (Math.abs(ahead) > DRIFT_LIMIT_S * Math.max(1, speed / 2)) this.video.currentTime = target;
      else if (playing && Math.abs(ahead) > NUDGE_FROM_S) rate = speed * (ahead > 0 ? 1 - NUDGE : 1 + NUDGE);
      if (this.video.playbackRate !== rate) this.video.playbackRate = rate;
      if (playing && this.video.paused) this.video.play().catch(() => {});
      if (!playing && !this.video.paused) this.video.pause();
      this.element.dataset.wall = String(this.wallTime());
    }

    wallTime() {
      // The wall-clock time of the picture shown (tests read it from data-wall).
      return this.recording ? this.recording.wallTime() : NaN;
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
      this.previewUrl = element.dataset.preview || "";
      this.bar = element.querySelector(".timeline-bar");
      this.cursor = element.querySelector(".timeline-cursor");
      this.labels = element.querySelector(".timeline-labels");
      this.preview = element.querySelector(".timeline-preview");
      this.zoom = DEFAULT_ZOOM;
      this.end = Date.now();
      this.live = true; // the right edge follows now
      this.spans = [];
      this.events = [];
      this.previews = new Map(); // rounded time -> preview URL already loaded
      this.onPick = onPick;
      this.bar.addEventListener("click", (event) => this.onPick(this.timeAt(event.clientX)));
      this.bar.addEventListener("pointermove", (event) => this.hover(event.clientX));
      this.bar.addEventListener("pointerleave", () => this.unhover());
    }
    width() {
      return ZOOMS[this.zoom];
    }
    start() {
      return this.end - this.width();
    }
    timeAt(clientX) {
      const box = this.bar.getBoundingClientRect();
      return this.start() + ((clientX - box.left) / box.width) * this.width();
    }
    setZoom(level, centre) {
      this.zoom = Math.max(0, Math.min(ZOOMS.length - 1, level));
      this.live = centre === null;
      this.end = this.live ? Date.now() : Math.min(Date.now(), centre + this.width() / 2);
      this.refresh();
    }
    follow(wall) {
      if (wall < this.start() || wall > this.end) {
        this.live = false;
        this.end = Math.min(Date.now(), wall + this.width() / 2);
        this.refresh();
      }
      this.place(wall);
    }
    followLive() {
      this.live = true;
      const now = Date.now();
      if (now - this.end > this.width() / 200) {
        this.end = now;
        this.draw(); // the right edge moved by a pixel or so
      }
      this.place(now);
    }
    place(wall) {
      const fraction = Math.max(0, Math.min(1, (wall - this.start()) / this.width()));
      this.cursor.style.left = `${fraction * 100}%`;
      this.element.dataset.cursor = String(wall);
      this.bar.setAttribute("aria-valuenow", String(Math.round(wall / 1000)));
      this.bar.setAttribute("aria-valuetext", seconds.format(wall));
    }
    async fetchSpans(from, to) {
      const spans = [];
      const events = [];
      for (const url of this.spansUrls) {
        try {
          const response = await fetch(withQuery(url, { start: iso(from), end: iso(to) }), { credentials: "same-origin" });
          if (!response.ok) continue;
          const data = await response.json();
          spans.push(...data.spans.map((s) => [Date.parse(s.start), Date.parse(s.end)]));
          events.push(
            ...(data.events || []).map((e) => [Date.parse(e.start), e.end ? Date.parse(e.end) : Date.now(), e.label || ""]),
          );
          noteCodec(data.codec);
        } catch (error) {
          // the next refresh tries again
        }
      }
      spans.sort((a, b) => a[0] - b[0]);
      return { spans, events };
    }
    async refresh() {
      const { spans, events } = await this.fetchSpans(this.start(), this.end);
      this.spans = spans;
      this.events = events;
      this.draw();
    }
    recordedAt(wall) {
      return this.spans.some(([from, to]) => wall >= from && wall < to);
    }
    async nextRecording(wall) {
      // The first recorded moment at or after `wall`: on screen, else asked of the server up to now.
      if (this.recordedAt(wall)) return wall;
      const later = this.spans.find(([from]) => from > wall);
      if (later) return later[0];
      const to = Math.min(Date.now(), wall + SPANS_LONGEST_MS);
      if (to <= wall) return null;
      const { spans } = await this.fetchSpans(wall, to);
      const next = spans.find(([from, end]) => end > wall);
      return next ? Math.max(next[0], wall) : null;
    }
    draw() {
      const start = this.start();
      const width = this.width();
      this.bar.querySelectorAll(".timeline-span, .timeline-event").forEach((node) => node.remove());
      // Recorded spans, then event markers (motion) over them.
      for (const [kind, ranges] of [["timeline-span", this.spans], ["timeline-event", this.events]]) {
        for (const [from, to, label] of ranges) {
          const left = Math.max(0, (from - start) / width);
          const right = Math.min(1, (to - start) / width);
          if (right < left || (right === left && kind === "timeline-span")) continue;
          const node = document.createElement("span");
          node.className = kind;
          if (label) {
            // An object event (detection/): its label on the marker, and a colour of its own.
            node.classList.add("timeline-object");
            node.dataset.label = label;
            node.title = label;
          }
          node.style.left = `${left * 100}%`;
          node.style.width = `${(right - left) * 100}%`;
          this.bar.insertBefore(node, this.cursor);
        }
      }
      this.drawLabels(start, width);
      this.element.dataset.start = String(start);
      this.element.dataset.end = String(this.end);
      this.element.dispatchEvent(new CustomEvent("nvr:timeline", { bubbles: true }));
    }
    drawLabels(start, width) {
      if (!this.labels) return;
      const pixels = this.bar.getBoundingClientRect().width || 600;
      const step = TICKS.find((t) => (t / width) * pixels >= LABEL_PX) || DAY;
      const format = width > DAY ? days : hours;
      // Steps fall on the local clock's round numbers (midnight, the hour...).
      const offset = new Date(start).getTimezoneOffset() * 60e3;
      let tick = Math.ceil((start - offset) / step) * step + offset;
      const margin = (LABEL_PX / 3 / pixels) * width; // a label centred closer to an edge would be cut off
      this.labels.textContent = "";
      for (; tick <= start + width; tick += step) {
        if (tick - start < margin || start + width - tick < margin) continue;
        const label = document.createElement("span");
        label.textContent = format.format(tick);
        label.style.left = `${((tick - start) / width) * 100}%`;
        this.labels.appendChild(label);
      }
    }
    hover(clientX) {
      if (!this.preview) return;
      const wall = this.timeAt(clientX);
      const box = this.bar.getBoundingClientRect();
      const x = Math.max(0, Math.min(box.width, clientX - box.left));
      this.preview.hidden = false;
      this.preview.style.left = `${x}px`;
      this.preview.querySelector(".timeline-preview-time").textContent = seconds.format(wall);
      const image = this.preview.querySelector("img");
      clearTimeout(this.hoverTimer);
      const stopped = performance.now();
      if (!this.previewUrl || !this.recordedAt(wall)) {
        image.hidden = true;
        this.preview.dataset.state = "gap";
        return;
      }
      // One preview per bar pixel at most (and per second), so a resting pointer asks one URL again.
      const bucket = Math.max(1000, this.width() / Math.max(box.width, 1));
      const rounded = Math.round(wall / bucket) * bucket;
      const url = withQuery(this.previewUrl, { t: (rounded / 1000).toFixed(1), width: "320" });
      const show = () => {
        image.onload = () => {
          image.hidden = false;
          this.previews.set(url, true);
          this.preview.dataset.state = "shown";
          this.preview.dataset.ms = String(Math.round(performance.now() - stopped));
        };
        image.onerror = () => {
          image.hidden = true;
          this.preview.dataset.state = "none";
        };
        if (image.getAttribute("src") === url && image.complete && image.naturalWidth) image.onload();
        else image.src = url;
      };
      this.preview.dataset.state = "waiting";
      if (this.previews.has(url)) show(); // cached: no need to wait for the pointer to rest
      else this.hoverTimer = setTimeout(show, PREVIEW_DELAY_MS);
    }
    unhover() {
      clearTimeout(this.hoverTimer);
      if (this.preview) this.preview.hidden = true;
    }
  }

  // Wiring -----------------------------------------------------------------------------------
  let sound = false; // live and recordings play muted until the user unmutes them (the camera's audio)
  const params = new URLSearchParams(location.search);
  const startParam = params.get("t");
  const parsed = startParam ? (/^\d+(\.\d+)?$/.test(startParam) ? Number(startParam) * 1000 : Date.parse(startParam)) : NaN;
  const named = Number.isFinite(parsed) && parsed > 0 && parsed <= Date.now();
  const clock = new Clock(named ? parsed : Date.now() - 5 * 60e3);
  const tiles = Array.from(root.querySelectorAll(".review-tile")).map((element) => new Tile(element));
  const live = document.querySelectorAll("[data-live]");
  const controls = root.querySelector(".review-controls");
  const picker = controls ? controls.querySelector("input[type=datetime-local]") : null;
  const playButton = controls ? controls.querySelector("[data-action=play]") : null;
  const download = controls ? controls.querySelector("[data-action=download]") : null;
  const playerBox = root.querySelector(".review-player");
  const hasLive = live.length > 0;
  // The camera page starts live, or playing when the URL names a time; /review/ starts playing.
  let active = root.dataset.review === "active" || named;

  function show(reviewing) {
    active = reviewing;
    if (playerBox) playerBox.hidden = !reviewing;
    live.forEach((node) => (node.hidden = reviewing));
    if (!reviewing) tiles.forEach((tile) => tile.stop());
    root.dataset.state = reviewing ? "review" : "live";
    // camera.js stops the live stream while a recording plays, and reopens it after.
    document.dispatchEvent(new CustomEvent("nvr:review", { detail: { reviewing } }));
  }

  function goLive() {
    clock.pause();
    if (hasLive) {
      show(false);
      if (timeline) timeline.setZoom(timeline.zoom, null);
    } else {
      seek(Date.now() - 15e3); // /review/ has no live picture: the newest recordings
    }
    updateButtons();
  }

  function seek(wall) {
    clock.set(Math.min(wall, Date.now()));
    if (!active) show(true);
    clock.play();
    updateButtons();
    tick();
  }

  async function pick(wall) {
    // A click on the timeline: that moment, or the next recording when it falls in a gap.
    const next = timeline ? await timeline.nextRecording(wall) : wall;
    if (next === null) {
      if (hasLive) goLive();
      else seek(wall);
      return;
    }
    seek(next);
  }

  function setSound(on) {
    sound = on;
    // In the click's own handler: browsers let a page unmute a playing video only on a user gesture.
    tiles.forEach((tile) => (tile.video.muted = !on));
    // The camera page's live video follows the same button and key (camera.js), in this same gesture.
    document.dispatchEvent(new CustomEvent("nvr:sound", { detail: { on } }));
    const button = controls ? controls.querySelector("[data-action=sound]") : null;
    if (button) {
      button.textContent = on ? "Mute" : "Unmute";
      button.setAttribute("aria-pressed", String(on));
    }
  }

  function togglePlay() {
    if (!active) {
      seek(clock.now());
      return;
    }
    clock.playing ? clock.pause() : clock.play();
    updateButtons();
  }

  function updateButtons() {
    if (playButton) playButton.textContent = clock.playing && active ? "Pause" : "Play";
    if (picker && document.activeElement !== picker) {
      const shown = active ? clock.now() : Date.now();
      const local = new Date(shown - new Date().getTimezoneOffset() * 60e3);
      picker.value = local.toISOString().slice(0, 19);
    }
  }

  function updateDownload() {
    // "Download": the span on screen as one clip (at most the server's longest clip).
    if (!download || !timeline) return;
    const from = timeline.start();
    const to = Math.min(timeline.end, Date.now());
    const longest = Number(download.dataset.longest) * 1000;
    if (to - from > longest) {
      download.removeAttribute("href");
      download.setAttribute("aria-disabled", "true");
      download.title = `Zoom in: a download covers at most ${Math.round(longest / 3600e3)} hours`;
      return;
    }
    download.href = withQuery(download.dataset.url, { start: iso(from), end: iso(to) });
    download.removeAttribute("aria-disabled");
    download.title = `Download ${hours.format(from)}–${hours.format(to)} as one MP4 file`;
  }

  const timelineElement = root.querySelector(".timeline");
  const timeline = timelineElement ? new Timeline(timelineElement, pick) : null;
  if (timelineElement) timelineElement.addEventListener("nvr:timeline", updateDownload);

  if (controls) {
    controls.addEventListener("click", (event) => {
      const button = event.target.closest("button");
      if (!button) return;
      const action = button.dataset.action;
      const now = active ? clock.now() : Date.now();
      if (action === "play") togglePlay();
      else if (action === "back") seek(now - SEEK_MS);
      else if (action === "forward") seek(now + SEEK_MS);
      else if (action === "speed") {
        clock.setSpeed(Number(button.dataset.speed));
        controls.querySelectorAll("[data-action=speed]").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
      } else if (action === "zoom-in" && timeline) timeline.setZoom(timeline.zoom + 1, active ? clock.now() : null);
      else if (action === "zoom-out" && timeline) timeline.setZoom(timeline.zoom - 1, active ? clock.now() : null);
      else if (action === "live") goLive();
      else if (action === "sound") setSound(!sound);
      updateButtons();
    });
    if (picker) {
      picker.addEventListener("change", () => {
        const wall = Date.parse(picker.value); // a datetime-local value is in the browser's time zone
        if (Number.isFinite(wall)) pick(wall);
      });
    }
  }

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
    const target = event.target instanceof Element ? event.target : document.body;
    if (target.closest("input, select, textarea, [contenteditable]")) return;
    const now = active ? clock.now() : Date.now();
    const step = event.shiftKey ? SEEK_LONG_MS : SEEK_MS;
    if (event.key === "ArrowLeft") seek(now - step);
    else if (event.key === "ArrowRight") seek(now + step);
    else if (event.key === " " && !target.closest("button, a, summary")) togglePlay();
    else if ((event.key === "+" || event.key === "=") && timeline) timeline.setZoom(timeline.zoom + 1, active ? now : null);
    else if ((event.key === "-" || event.key === "_") && timeline) timeline.setZoom(timeline.zoom - 1, active ? now : null);
    else if (event.key === "Home") goLive();
    else if (event.key === "m" || event.key === "M") setSound(!sound);
    else return;
    event.preventDefault();
  });

  function tick() {
    const wall = clock.now();
    if (active) {
      for (const tile of tiles) tile.sync(wall, clock.speed, clock.playing);
      if (clock.playing && wall > Date.now()) {
        clock.set(Date.now());
        clock.pause();
        updateButtons();
      }
      if (timeline) timeline.follow(wall);
    } else if (timeline) {
      timeline.followLive();
    }
    root.dataset.clock = String(active ? wall : Date.now());
  }

  window.nvrReview = { clock, timeline, tiles, seek, pick, goLive }; // for tests and the curious
  show(active);
  if (active) {
    clock.play();
    if (timeline) timeline.end = Math.min(Date.now(), clock.now() + timeline.width() / 2);
  }
  if (timeline) timeline.refresh();
  tick();
  setInterval(tick, SYNC_MS);
  setInterval(() => timeline && timeline.refresh(), 30e3);
  setInterval(updateButtons, 1000);
  updateButtons();
})();
