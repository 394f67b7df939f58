/* Live camera status pushed over a WebSocket (streaming.consumers.StatusConsumer).
 *
 * nvrStatus.connect(path, onItems) opens the socket, calls onItems(list) with the first
 * full list and every change after it, and reconnects with backoff when the socket closes.
 * nvrStatus.apply(element, item) shows an item on any element carrying data-camera:
 * data-state, data-motion (1 while an event is open), .state-text, .fps, .viewers, .camera-error and
 * the title when present.
 */
(function () {
  "use strict";

  const labelsNode = document.getElementById("state-labels");
  const labels = labelsNode ? JSON.parse(labelsNode.textContent) : {};
  const announcer = document.getElementById("announcer");

  function label(state) {
    return labels[state] || (state ? state.charAt(0).toUpperCase() + state.slice(1) : "Unknown");
  }

  function connect(path, onItems, onConnection) {
    const retry = nvrReconnect.backoff();
    let socket = null;
    let stopped = false;
    function open() {
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      socket = new WebSocket(scheme + "//" + location.host + path);
      socket.addEventListener("open", () => {
        retry.reset();
        if (onConnection) onConnection(true);
      });
      socket.addEventListener("message", (event) => {
        let message;
        try {
          message = JSON.parse(event.data);
        } catch (error) {
          return;
        }
        if (message.type === "status" && Array.isArray(message.cameras)) onItems(message.cameras);
      });
      socket.addEventListener("close", () => {
        if (onConnection) onConnection(false);
        if (stopped) return;
        setTimeout(open, retry.next());
      });
    }
    open();
    return {
      close() {
        stopped = true;
        if (socket) socket.close();
      },
    };
  }

  function setText(element, selector, text) {
    const node = element.querySelector(selector);
    if (node && node.textContent !== text) node.textContent = text;
  }

  function apply(element, item) {
    const before = element.dataset.state;
    const name = element.dataset.name || (element.querySelector(".name, h1") || {}).textContent || item.slug;
    element.dataset.state = item.state;
    element.dataset.motion = item.motion ? "1" : "0";
    const objects = (item.objects || []).join(", ");
    element.dataset.objects = objects;
    const badge = element.querySelector(".objects-badge");
    if (badge) {
      // What the detector sees now (detection/): the hidden attribute shows or hides it, no CSS rule.
      if (badge.textContent !== objects) badge.textContent = objects;
      badge.hidden = !objects;
    }
    setText(element, ".state-text", label(item.state));
    element.dataset.label = label(item.state);
    setText(element, ".fps", element.classList.contains("tile") ? `${item.fps.toFixed(1)} fps` : item.fps.toFixed(1));
    setText(element, ".viewers", String(item.viewers));
    if (item.width && item.height) setText(element, ".resolution", `${item.width} × ${item.height}`);
    const error = element.querySelector(".camera-error");
    if (error) {
      error.textContent = item.error || "";
      error.hidden = !item.error;
    }
    if (element.classList.contains("tile")) element.title = item.error ? `${name}: ${item.error}` : name;
    const wasLive = before === "online";
    if (announcer && before && wasLive !== (item.state === "online")) {
      announcer.textContent = `${name.trim()}: ${label(item.state)}`;
    }
  }

  window.nvrStatus = { connect, apply, label };
})();
