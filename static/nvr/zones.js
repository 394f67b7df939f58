/* The zone and mask editor on a camera's admin page: polygons drawn over the camera's snapshot.
 *
 * It edits the two JSON fields in place (#id_motion_zones: {"name": [[x, y], ...]}, #id_motion_masks:
 * [[[x, y], ...], ...]), corners as fractions of the picture, so the form saves them as usual and a
 * hand-edited field stays the truth. Click to add corners; "Finish" closes the polygon as a zone
 * (it asks for a name) or a mask. A static file, no inline script (Content-Security-Policy).
 */
(function () {
  "use strict";

  function start() {
    const zonesField = document.getElementById("id_motion_zones");
    const masksField = document.getElementById("id_motion_masks");
    const slug = (document.getElementById("id_slug") || {}).value;
    if (!zonesField || !masksField || !slug || !location.pathname.endsWith("/change/")) return; // a saved camera only

    const box = document.createElement("div");
    box.className = "zone-editor";
    const picture = new Image();
    picture.alt = "The camera's picture, to draw zones and masks on";
    const source = `/cameras/${encodeURIComponent(slug)}/snapshot.jpg?width=640`;
    picture.src = source;
    let retries = 0;
    picture.addEventListener("error", () => {
      // Not live yet (or offline): try again for a while; drawing works on the empty frame meanwhile.
      if (retries++ < 30) setTimeout(() => { picture.src = `${source}&attempt=${retries}`; }, 2000);
    });
    const canvas = document.createElement("canvas");
    const tools = document.createElement("div");
    tools.className = "zone-tools";
    const help = document.createElement("p");
    help.className = "help";
    help.textContent = "Click corners on the picture, then finish the polygon as a zone (named) or a mask (ignored area).";
    const buttons = {};
    for (const [name, text] of [["zone", "Finish as zone"], ["mask", "Finish as mask"], ["undo", "Undo corner"], ["clear", "Remove all"]]) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = text;
      button.dataset.action = name;
      tools.appendChild(button);
      buttons[name] = button;
    }
    box.append(picture, canvas, tools, help);
    masksField.closest(".form-row").after(box);

    let corners = [];

    function read(field, empty) {
      try {
        return JSON.parse(field.value || empty);
      } catch (error) {
        return JSON.parse(empty);
      }
    }

    function draw() {
      const width = (canvas.width = picture.clientWidth);
      const height = (canvas.height = picture.clientHeight);
      const context = canvas.getContext("2d");
      context.clearRect(0, 0, width, height);
      const polygon = (points, fill, stroke, label) => {
        if (!points.length) return;
        context.beginPath();
        points.forEach(([x, y], i) => (i ? context.lineTo(x * width, y * height) : context.moveTo(x * width, y * height)));
        context.closePath();
        context.fillStyle = fill;
        context.fill();
        context.strokeStyle = stroke;
        context.lineWidth = 2;
        context.stroke();
        if (label) {
          context.fillStyle = "#fff";
          context.font = "14px sans-serif";
          context.fillText(label, points[0][0] * width + 4, points[0][1] * height + 16);
        }
      };
      for (const [name, points] of Object.entries(read(zonesField, "{}"))) polygon(points, "rgba(217,130,43,0.25)", "#d9822b", name);
      for (const points of read(masksField, "[]")) polygon(points, "rgba(0,0,0,0.55)", "#888", "mask");
      if (corners.length) polygon(corners, "rgba(80,160,255,0.25)", "#50a0ff", "");
    }

    canvas.addEventListener("click", (event) => {
      const rect = canvas.getBoundingClientRect();
      const round = (v) => Math.round(Math.min(1, Math.max(0, v)) * 1000) / 1000;
      corners.push([round((event.clientX - rect.left) / rect.width), round((event.clientY - rect.top) / rect.height)]);
      draw();
    });
    buttons.undo.addEventListener("click", () => { corners.pop(); draw(); });
    buttons.clear.addEventListener("click", () => {
      corners = [];
      zonesField.value = "{}";
      masksField.value = "[]";
      draw();
    });
    buttons.zone.addEventListener("click", () => {
      if (corners.length < 3) return;
      const name = (window.prompt("Name of this zone (letters, digits, spaces, dots, dashes)") || "").trim();
      if (!name) return;
      const zones = read(zonesField, "{}");
      zones[name] = corners;
      zonesField.value = JSON.stringify(zones);
      corners = [];
      draw();
    });
    buttons.mask.addEventListener("click", () => {
      if (corners.length < 3) return;
      const masks = read(masksField, "[]");
      masks.push(corners);
      masksField.value = JSON.stringify(masks);
      corners = [];
      draw();
    });
    for (const field of [zonesField, masksField]) field.addEventListener("input", draw);
    picture.addEventListener("load", draw);
    window.addEventListener("resize", draw);
    window.nvrZones = { draw, corners: () => corners };
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
