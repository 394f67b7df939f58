/* One camera's page: live status, a live picture that comes back after a restart, and copy buttons.
 *
 * The picture is the camera's own H.264 where the browser can play it (h264.js: MSE over a WebSocket);
 * the MJPEG <img> shows until the video plays, then its stream is closed, and comes back by itself when
 * H.264 cannot be played here (no MSE, a codec the browser lacks). The page says which mode it is in.
 *
 * A browser never reopens an <img> stream that ended. When the status socket comes back after
 * losing the server (a restart or a network blip: the socket's own jittered backoff spaces out
 * a crowd of screens), or the picture fails to load, the picture is opened again. While a
 * recording plays in its place (review.js says so with an "nvr:review" event) the live stream is
 * closed: one picture at a time, and one connection fewer.
 *
 * The live video starts muted (browsers play only muted video by themselves); the page's one sound
 * button and the `m` key (review.js, "nvr:sound") unmute it together with the recordings, in the
 * click's own handler, as browsers require. The camera's sound is in its stream when it has any.
 */
(function () {
  "use strict";

  const camera = document.querySelector(".camera[data-camera]");
  const live = document.querySelector("img.live");
  const source = live ? live.getAttribute("src") : "";
  const viewer = document.querySelector(".viewer[data-live]");
  const video = document.querySelector("video.live-h264");
  const mode = document.querySelector(".live-mode");
  let h264 = null; // the H.264 player while it is tried or plays
  let h264Playing = false;
  const retry = window.nvrReconnect.backoff();
  let attempt = 0;
  let paused = false; // a recording is shown instead

  function reopen() {
    if (paused || h264Playing) return;
    attempt += 1;
    live.hidden = false;
    live.src = `${source}${source.includes("?") ? "&" : "?"}attempt=${attempt}`;
  }

  function say(text, why) {
    if (!mode) return;
    mode.textContent = text;
    mode.title = why || "How the live picture reaches this page";
    if (viewer) viewer.dataset.mode = text === "H.264" ? "h264" : "mjpeg";
  }

  function startH264() {
    if (!viewer || !video || !viewer.dataset.h264 || !window.nvrH264 || paused) return;
    h264 = window.nvrH264.play(video, viewer.dataset.h264, {
      onPlaying() {
        h264Playing = true;
        video.hidden = false;
        live.hidden = true;
        live.removeAttribute("src"); // one stream at a time: the MJPEG one ends
        say("H.264", "The camera's own video, played by this browser");
      },
      onFallback(why) {
        h264 = null;
        h264Playing = false;
        video.hidden = true;
        say("MJPEG", `H.264 is not used: ${why}`);
        reopen();
      },
    });
  }

  function stopH264() {
    if (h264) h264.stop();
    h264 = null;
    h264Playing = false;
    if (video) video.hidden = true;
  }

  if (video) {
    document.addEventListener("nvr:sound", (event) => {
      video.muted = !event.detail.on;
      if (!video.hidden && video.paused) video.play().catch(() => {});
    });
  }
  if (live) {
    live.addEventListener("load", () => retry.reset());
    live.addEventListener("error", () => setTimeout(reopen, retry.next()));
    document.addEventListener("nvr:review", (event) => {
      const reviewing = event.detail.reviewing;
      if (reviewing === paused) return;
      paused = reviewing;
      if (paused) {
        live.removeAttribute("src"); // ends the stream
        stopH264();
      } else {
        reopen();
        startH264();
      }
    });
    if (viewer && !viewer.dataset.h264) say("MJPEG", "This camera sends pictures, not H.264");
    startH264();
  }
  if (camera && window.nvrStatus) {
    let lost = false;
    window.nvrStatus.connect(
      camera.dataset.status,
      (items) => {
        for (const item of items) if (item.slug === camera.dataset.camera) window.nvrStatus.apply(camera, item);
      },
      (connected) => {
        if (connected && lost && live) reopen();
        lost = !connected;
      },
    );
  }

  const status = document.querySelector(".copy-status");

  async function copy(input) {
    // navigator.clipboard exists only in secure contexts (HTTPS or localhost); plain HTTP falls back.
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(input.value);
      return;
    }
    input.focus();
    input.select();
    if (!document.execCommand("copy")) throw new Error("copy refused");
  }

  for (const button of document.querySelectorAll("button.copy")) {
    button.addEventListener("click", async () => {
      const input = document.getElementById(button.dataset.copy);
      try {
        await copy(input);
        button.textContent = "Copied";
        if (status) status.textContent = "Copied to the clipboard.";
      } catch (error) {
        input.select();
        button.textContent = "Press Ctrl+C";
        if (status) status.textContent = "Select the text and copy it by hand.";
      }
      setTimeout(() => { button.textContent = "Copy"; }, 2000);
    });
  }
  for (const input of document.querySelectorAll(".copy-field input[readonly]")) {
    input.addEventListener("focus", () => input.select());
  }
})();
