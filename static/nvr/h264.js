/* A camera's own H.264 in a <video>: fragmented MP4 from /ws/live/<slug>/ fed to Media Source Extensions.
 *
 * The socket (streaming.livesocket) first says the stream's codecs ({"type": "init", "codec": ...}:
 * "avc1.64001f", or "avc1.64001f,mp4a.40.2" when the camera's sound is a second track: one SourceBuffer
 * then holds both), so the browser is asked (MediaSource.isTypeSupported, or ManagedMediaSource on iOS
 * Safari) before anything is built; a browser that cannot play it (no MSE, or H.265 in Chromium) is told to fall back
 * to MJPEG (`onFallback(why)`). Then come the init segment, the group since the last keyframe and each
 * fragment as the camera sent it; they are appended in order, one append at a time. Playback stays at
 * the live edge: when more than LAG_S is buffered ahead (a tab in the background, a slow start) it jumps
 * forward, and what lies more than KEEP_S behind is removed. A restart of the stream in a new format
 * (close code 4001) re-creates the MediaSource at once; a broken socket is reopened with the page's
 * backoff; withdrawn access (4403) ends it.
 *
 * `onInit(message)` hears each init message: `stream` says which of the camera's streams it carries
 * ("sub" for a tile's ?stream=sub, or "main", with `fallback` saying why when the sub stream failed).
 *
 *   const player = nvrH264.play(video, "/ws/live/gate/", { onPlaying, onFallback, onInit }); player.stop();
 */
(function () {
  "use strict";

  const Source = window.ManagedMediaSource || window.MediaSource;
  const LAG_S = 1.5; // more buffered ahead than this: jump to the newest picture
  const EDGE_S = 0.15; // where a jump lands, before the end of what is buffered
  const KEEP_S = 10; // seconds kept behind the playhead
  const STALL_MS = 10000; // nothing for this long: the socket is broken, open it again
  const RESTART = 4001;
  const NOT_RELAYED = 4002; // the camera's video is not H.264 (the init message named its codec)
  const REVOKED = 4403;

  function available() {
    return Boolean(Source) && typeof WebSocket === "function";
  }

  function mimeOf(codec) {
    return `video/mp4; codecs="${codec}"`;
  }

  function supported(codec) {
    return available() && Source.isTypeSupported(mimeOf(codec));
  }

  function socketUrl(path) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}${path}`;
  }

  function play(video, path, callbacks = {}) {
    const retry = window.nvrReconnect ? window.nvrReconnect.backoff() : { next: () => 1000, reset() {} };
    const stats = { messages: 0, bytes: 0, connects: 0, jumps: 0 };
    let socket = null;
    let source = null;
    let buffer = null;
    let queue = [];
    let stopped = false;
    let fellBack = false;
    let lastData = 0;
    let timer = 0;
    let playingSaid = false;
    let codec = "";

    function fallback(why) {
      if (fellBack) return;
      fellBack = true;
      stop();
      if (callbacks.onFallback) callbacks.onFallback(why);
    }

    function resetMedia() {
      queue = [];
      buffer = null;
      if (source && video.src) URL.revokeObjectURL(video.src);
      source = null;
      video.removeAttribute("src");
      video.load();
    }

    function open() {
      if (stopped) return;
      stats.connects += 1;
      resetMedia();
      const ws = (socket = new WebSocket(socketUrl(path)));
      ws.binaryType = "arraybuffer";
      lastData = performance.now();
      ws.addEventListener("message", (event) => {
        if (ws !== socket) return;
        lastData = performance.now();
        if (typeof event.data === "string") return begin(JSON.parse(event.data));
        stats.messages += 1;
        stats.bytes += event.data.byteLength;
        queue.push(new Uint8Array(event.data));
        pump();
      });
      ws.addEventListener("close", (event) => {
        if (ws !== socket || stopped) return;
        socket = null;
        if (event.code === REVOKED) return fallback("access withdrawn");
        if (event.code === NOT_RELAYED) return fallback(`the camera sends ${codec || "video"}, not H.264`);
        const delay = event.code === RESTART ? 0 : retry.next();
        setTimeout(open, delay);
      });
    }

    function begin(message) {
      if (message.type !== "init") return;
      codec = message.codec;
      if (callbacks.onInit) callbacks.onInit(message); // which stream it carries ({stream, fallback})
      if (message.relayed === false) return; // the close (NOT_RELAYED) follows
      if (!supported(message.codec)) return fallback(`this browser cannot play ${message.codec}`);
      source = new Source();
      if (window.ManagedMediaSource && source instanceof window.ManagedMediaSource) video.disableRemotePlayback = true;
      video.src = URL.createObjectURL(source);
      source.addEventListener("sourceopen", () => {
        try {
          buffer = source.addSourceBuffer(mimeOf(message.codec));
        } catch (error) {
          return fallback(`this browser cannot play ${message.codec}`);
        }
        buffer.mode = "segments";
        buffer.addEventListener("updateend", () => {
          chase();
          pump();
        });
        pump();
      });
    }

    function pump() {
      if (!buffer || buffer.updating || !queue.length || source.readyState !== "open") return;
      let data = queue[0];
      if (queue.length > 1) {
        const size = queue.reduce((sum, part) => sum + part.byteLength, 0);
        data = new Uint8Array(size);
        let offset = 0;
        for (const part of queue) {
          data.set(part, offset);
          offset += part.byteLength;
        }
      }
      queue = [];
      try {
        buffer.appendBuffer(data);
      } catch (error) {
        if (error.name === "QuotaExceededError" && video.currentTime > 1) {
          buffer.remove(0, video.currentTime - 1); // then updateend appends the next data
        } else if (socket) {
          socket.close(); // a broken buffer: start again from a keyframe
        }
      }
    }

    function chase() {
      const ranges = video.buffered;
      if (!ranges.length) return;
      const end = ranges.end(ranges.length - 1);
      const start = ranges.start(ranges.length - 1);
      if (video.currentTime < start || end - video.currentTime > LAG_S) {
        video.currentTime = Math.max(start, end - EDGE_S);
        stats.jumps += 1;
      }
      if (video.paused) video.play().catch(() => {}); // muted: autoplay is allowed
      if (!buffer.updating && video.currentTime - ranges.start(0) > KEEP_S * 2) {
        buffer.remove(0, video.currentTime - KEEP_S);
      }
    }

    function stop() {
      stopped = true;
      clearInterval(timer);
      if (socket) {
        const ws = socket;
        socket = null;
        ws.close();
      }
      resetMedia();
    }

    video.addEventListener("playing", () => {
      retry.reset();
      if (!playingSaid && callbacks.onPlaying) callbacks.onPlaying();
      playingSaid = true;
    });

    if (!available()) {
      setTimeout(() => fallback("this browser has no Media Source Extensions"), 0);
      return { stop() {}, stats };
    }
    timer = setInterval(() => {
      if (socket && performance.now() - lastData > STALL_MS) socket.close();
    }, 2000);
    open();
    return { stop, stats, video };
  }

  window.nvrH264 = { available, supported, play };
})();
