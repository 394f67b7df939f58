/*
 * The event list (/events/): a click on an event plays it in the page, from its start minus the
 * pre-roll (the list item's data-from) to its end plus the post-roll (data-until), with its camera,
 * time, length, zones and score beside the picture. Without JavaScript the same link opens the
 * camera page playing from that moment.
 *
 * The player is the camera's HLS playlist of that window through nvrPlayer (player.js); the wall
 * time of the picture shown is in the player's data-wall (read from EXT-X-PROGRAM-DATE-TIME).
 */
(function () {
  "use strict";

  const player = document.querySelector(".event-player");
  const list = document.querySelector(".event-list");
  if (!player || !list) return;

  const video = player.querySelector("video");
  const note = player.querySelector(".review-note");
  const token = new URLSearchParams(location.search).get("token");
  let recording = null;
  let started = false;
  let from = 0;

  function say(text) {
    note.textContent = text;
    note.hidden = !text;
  }

  function fill(item) {
    const link = item.querySelector(".event-play");
    const text = (selector) => (item.querySelector(selector) || {}).textContent || "";
    player.querySelector(".event-player-camera").textContent = text(".event-camera");
    player.querySelector(".event-player-time").textContent = text("time");
    player.querySelector(".event-player-length").textContent = text(".event-length");
    player.querySelector(".event-player-zones").textContent = text(".event-zones");
    player.querySelector(".event-player-score").textContent = text(".event-score");
    player.querySelector(".event-player-timeline").href = link.href;
    player.querySelector(".event-player-clip").href = item.querySelector(".event-clip").href;
    for (const other of list.querySelectorAll(".event[aria-current]")) other.removeAttribute("aria-current");
    item.setAttribute("aria-current", "true");
  }

  function play(item) {
    from = Date.parse(item.dataset.from);
    const until = Date.parse(item.dataset.until);
    const url = new URL(item.dataset.playlist, location.href);
    url.searchParams.set("start", new Date(from).toISOString());
    url.searchParams.set("end", new Date(Math.max(until, from + 1000)).toISOString());
    if (token) url.searchParams.set("token", token);
    fill(item);
    player.hidden = false;
    player.dataset.event = item.dataset.event;
    started = false;
    say("Loading…");
    if (recording) recording.destroy();
    recording = new window.nvrPlayer.Recording(video, url.pathname + url.search, from, {
      onReady: start,
      onFatal: () => say("This event's recording could not be played (deleted by retention?): try the clip."),
    });
    if (recording.unsupported) say("This browser cannot play recordings: download the clip.");
    player.scrollIntoView({ block: "nearest" });
  }

  function start() {
    if (started || !recording) return;
    // The window starts at the pre-roll; its first recorded moment when that is in a gap.
    const fragments = recording.fragments();
    const first = fragments.length ? Math.max(from, fragments[0].pdt) : from;
    const target = recording.mediaTime(first);
    if (target === null) {
      say("Nothing was recorded around this event.");
      return;
    }
    started = true;
    say("");
    video.currentTime = target;
    video.play().catch(() => {});
  }

  list.addEventListener("click", (event) => {
    const link = event.target.closest(".event-play");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    play(link.closest(".event"));
  });

  player.querySelector("[data-action=close]").addEventListener("click", () => {
    if (recording) recording.destroy();
    recording = null;
    video.pause();
    player.hidden = true;
  });

  setInterval(() => {
    if (recording && started) player.dataset.wall = String(recording.wallTime());
  }, 250);

  // A notification's tap opens /events/?play=<id>: that event plays at once.
  const wanted = new URLSearchParams(location.search).get("play");
  const item = wanted && list.querySelector(`.event[data-event="${CSS.escape(wanted)}"]`);
  if (item && item.dataset.playlist) play(item);
})();
