/*
 * /push/: subscribe this browser or phone to Web Push with the install's public key (the form's
 * data-public-key), and post the subscription with the chosen cameras, kinds and quiet hours.
 * The service worker (/sw.js, registered by app.js) shows the notifications.
 */
(function () {
  "use strict";

  const form = document.querySelector(".push-form");
  if (!form) return;
  const status = form.querySelector(".push-status");

  function say(text) {
    status.textContent = text;
    status.hidden = !text;
  }

  function keyBytes(base64url) {
    const padded = base64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (base64url.length % 4)) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  }

  if (!("serviceWorker" in navigator) || !("PushManager" in window)) {
    say("This browser cannot receive notifications (on an iPhone: add nvr to the home screen and open it from there).");
    form.querySelector("button[type=submit]").disabled = true;
    return;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      if ((await Notification.requestPermission()) !== "granted") {
        say("Notifications are blocked for this site: allow them in the browser's settings.");
        return;
      }
      const registration = await navigator.serviceWorker.register("/sw.js", { scope: "/" });
      await navigator.serviceWorker.ready;
      const subscription =
        (await registration.pushManager.getSubscription()) ||
        (await registration.pushManager.subscribe({
          userVisibleOnly: true,
          applicationServerKey: keyBytes(form.dataset.publicKey),
        }));
      const chosen = (name) => [...form.querySelectorAll(`input[name=${name}]:checked`)].map((box) => box.value);
      const body = {
        ...subscription.toJSON(),
        cameras: chosen("cameras"),
        kinds: chosen("kinds"),
        quiet_from: form.elements.quiet_from.value,
        quiet_until: form.elements.quiet_until.value,
      };
      const answer = await fetch(form.dataset.endpoint, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          "X-CSRFToken": form.querySelector("input[name=csrfmiddlewaretoken]").value,
        },
        body: JSON.stringify(body),
        credentials: "same-origin",
      });
      const data = await answer.json();
      if (!answer.ok) {
        say(data.error || "The subscription was refused.");
        return;
      }
      say("This device gets notifications now.");
      setTimeout(() => location.reload(), 800);
    } catch (error) {
      say(`Could not subscribe: ${error.message || error}`);
    }
  });
})();
