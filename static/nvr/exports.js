// /exports/: each export still building asks for its progress every second, and shows its download when ready.
(() => {
  "use strict";
  const POLL_MS = 1000;

  function follow(item) {
    const progress = item.querySelector(".export-progress");
    const link = item.querySelector(".export-download");
    const error = item.querySelector(".export-error");
    const tick = async () => {
      let status;
      try {
        const response = await fetch(item.dataset.statusUrl, { credentials: "same-origin", cache: "no-store" });
        if (!response.ok) throw new Error(String(response.status));
        status = await response.json();
      } catch (failure) {
        setTimeout(tick, POLL_MS * 3);  // the server is away: try again, slower
        return;
      }
      item.dataset.state = status.state;
      progress.value = status.progress;
      if (status.state === "done") {
        progress.hidden = true;
        link.href = status.download;
        link.hidden = false;
        document.getElementById("announcer").textContent = "An export is ready to download.";
      } else if (status.state === "failed") {
        progress.hidden = true;
        error.textContent = status.error;
        error.hidden = false;
      } else {
        setTimeout(tick, POLL_MS);
      }
    };
    tick();
  }

  for (const item of document.querySelectorAll(".export[data-state=queued], .export[data-state=building]")) {
    follow(item);
  }
})();
