/* One camera's page: live status, a live picture that comes back after a restart, and copy buttons.
 *
 * A browser never reopens an <img> stream that ended. When the status socket comes back after
 * losing the server (a restart or a network blip: the socket's own jittered backoff spaces out
 * a crowd of screens), or the picture fails to load, the picture is opened again. While a
 * recording plays in its place (review.js says so with an "nvr:review" event) the live stream is
 * closed: one picture at a time, and one connection fewer.
 */
(function () {
  "use strict";

  const camera = document.querySelector(".camera[data-camera]");
  const live = document.querySelector("img.live");
  const source = live ? live.getAttribute("src") : "";
  const retry = window.nvrReconnect.backoff();
  let attempt = 0;
  let paused = false; // a recording is shown instead

  function reopen() {
    if (paused) return;
    attempt += 1;
    live.src = `${source}${source.includes("?") ? "&" : "?"}attempt=${attempt}`;
  }

  if (live) {
    live.addEventListener("load", () => retry.reset());
    live.addEventListener("error", () => setTimeout(reopen, retry.next()));
    document.addEventListener("nvr:review", (event) => {
      const reviewing = event.detail.reviewing;
      if (reviewing === paused) return;
      paused = reviewing;
      if (paused) live.removeAttribute("src"); // ends the stream
      else reopen();
    });
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
