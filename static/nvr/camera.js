/* One camera's page: live status and copy buttons for its URLs. */
(function () {
  "use strict";

  const camera = document.querySelector(".camera[data-camera]");
  if (camera && window.nvrStatus) {
    window.nvrStatus.connect(camera.dataset.status, (items) => {
      for (const item of items) if (item.slug === camera.dataset.camera) window.nvrStatus.apply(camera, item);
    });
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
