/*
 * One camera's recordings in a <video>: hls.js (vendored) over /cameras/<slug>/recordings.m3u8, or
 * Safari's native HLS, and the mapping between wall-clock time and the video's media time, read
 * from the playlist's EXT-X-PROGRAM-DATE-TIME. Shared by the timeline and /review/ (review.js) and
 * the event list (events.js).
 *
 *   const recording = new nvrPlayer.Recording(video, url, fromMs, {onReady, onFatal});
 *   video.currentTime = recording.mediaTime(wallMs);   // null in a gap
 *   recording.wallTime();                              // the wall time of the picture shown (NaN: none)
 *
 * No worker: a blob: worker would need a looser Content-Security-Policy.
 */
(function () {
  "use strict";

  function supported() {
    return Boolean(window.Hls && window.Hls.isSupported());
  }

  class Recording {
    constructor(video, url, from, { onReady, onFatal } = {}) {
      this.video = video;
      this.from = from; // the wall time (ms) the playlist was asked from: Safari's native mapping
      this.hls = null;
      this.native = false;
      this.unsupported = false;
      video.muted = true;
      video.playsInline = true;
      if (supported()) {
        const hls = new window.Hls({ enableWorker: false, maxBufferLength: 30, backBufferLength: 30 });
        this.hls = hls;
        hls.on(window.Hls.Events.LEVEL_LOADED, () => onReady && onReady(this));
        hls.on(window.Hls.Events.ERROR, (_, data) => data.fatal && onFatal && onFatal(data));
        hls.loadSource(url);
        hls.attachMedia(video);
      } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
        this.native = true;
        video.src = url;
        if (onReady) setTimeout(() => onReady(this), 0);
      } else {
        this.unsupported = true;
      }
    }

    fragments() {
      // hls.js corrects each fragment's start from the timestamps it parses: read them fresh.
      const details = this.hls && this.hls.levels[0] && this.hls.levels[0].details;
      if (!details) return [];
      return details.fragments
        .filter((f) => f.programDateTime)
        .map((f) => ({ pdt: f.programDateTime, start: f.start, end: f.start + f.duration }));
    }

    mediaTime(wall) {
      if (this.native) return wall >= this.from ? (wall - this.from) / 1000 : null;
      for (const f of this.fragments()) {
        if (wall >= f.pdt && wall < f.pdt + (f.end - f.start) * 1000) return f.start + (wall - f.pdt) / 1000;
      }
      return null;
    }

    wallTime() {
      const t = this.video.currentTime;
      if (this.native) return this.from + t * 1000;
      for (const f of this.fragments()) {
        if (t >= f.start && t < f.end) return f.pdt + (t - f.start) * 1000;
      }
      return NaN;
    }

    destroy() {
      if (this.hls) this.hls.destroy();
      if (this.native) {
        this.video.removeAttribute("src");
        this.video.load();
      }
    }
  }

  window.nvrPlayer = { Recording, supported };
})();
