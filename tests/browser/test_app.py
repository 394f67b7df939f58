"""The installable app in Chromium: the manifest is valid and installable, the service worker registers,
the shell loads offline (the server stopped), no stream, snapshot, playlist or API answer is ever in its
cache, and /push/ is usable at desktop and phone width without sideways scroll or CSP violations."""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By

from tests.browser.conftest import artifact, wait_until
from tests.browser.seen import DESKTOP, PHONE
from tests.browser.test_dashboard import PASSWORD, log_in
from tests.factories import make_camera, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CACHED = """
const done = arguments[arguments.length - 1];
(async () => {
  const urls = [];
  for (const name of await caches.keys()) {
    for (const request of await (await caches.open(name)).keys()) urls.push(new URL(request.url).pathname);
  }
  return urls;
})().then(done, (error) => done("error: " + error));
"""

FETCH_EVERYTHING = """
const done = arguments[arguments.length - 1];
const urls = ["/cameras/yard/snapshot.jpg", "/api/cameras/", "/api/events", "/cameras/yard/recordings.m3u8",
              "/events/", "/push/"];
Promise.all(urls.map((url) => fetch(url, {credentials: "same-origin"}).then((r) => r.status).catch(() => 0)))
  .then(done);
"""


def test_the_app_installs_works_offline_and_caches_the_shell_only(browser, site):
    make_user("chief", password=PASSWORD, is_superuser=True, is_staff=True)
    make_camera("yard")
    log_in(browser, site.url, "chief")
    browser.get_log("browser")
    controlled = "return !!(navigator.serviceWorker && navigator.serviceWorker.controller)"
    browser.get(site.url + "/")
    wait_until(lambda: browser.execute_script("return document.readyState") != "loading", 15, message="the grid")
    # The worker registers on the first page and controls the pages after it.
    browser.get(site.url + "/events/")
    wait_until(lambda: browser.execute_script(controlled), 20, message="the service worker controlling the page")

    manifest = browser.execute_cdp_cmd("Page.getAppManifest", {})
    assert manifest.get("errors") == [], manifest.get("errors")
    assert '"start_url": "/"' in manifest["data"] and "fullscreen" in manifest["data"]
    installable = browser.execute_cdp_cmd("Page.getInstallabilityErrors", {})
    assert installable["installabilityErrors"] == [], installable

    # Streams, snapshots, playlists, the API, pages with data: fetched through the worker, never cached.
    browser.get(site.url + "/cameras/yard/")
    wait_until(lambda: browser.execute_script("return document.readyState") != "loading", 15, message="camera page")
    time.sleep(1.0)
    statuses = browser.execute_async_script(FETCH_EVERYTHING)
    assert statuses[0] in (200, 503) and statuses[1] == 200, statuses  # they did go through
    cached = browser.execute_async_script(CACHED)
    assert isinstance(cached, list) and "/offline/" in cached, cached
    assert all(url == "/offline/" or url.startswith("/static/") for url in cached), cached
    forbidden = (".mjpg", ".jpg", ".m3u8", ".mp4", "/api/", "/events/", "/push/", "/cameras/")
    assert not [url for url in cached if any(mark in url for mark in forbidden)], cached

    # Offline: the server is gone; opening the app shows the shell from the cache.
    site.stop()
    browser.get(site.url + "/")
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "body.page-offline h1"), 20, message="the offline shell")
    assert browser.find_element(By.TAG_NAME, "h1").text == "No connection"
    width = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], width
    browser.save_screenshot(str(artifact("app-offline.png")))
    logged = [entry["message"] for entry in browser.get_log("browser")]
    assert not [m for m in logged if "Content Security Policy" in m], logged


def test_the_notifications_page_fits_a_phone_and_a_desktop(browser, site):
    make_user("chief", password=PASSWORD, is_superuser=True, is_staff=True)
    make_camera("yard")
    log_in(browser, site.url, "chief")
    for name, metrics in (("desktop", DESKTOP), ("phone", PHONE)):
        browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        browser.get_log("browser")
        browser.get(site.url + "/push/")
        wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, ".push-form button[type=submit]"), 15,
                   message="the push form")  # fmt: skip
        time.sleep(0.5)
        width = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], (name, width)
        button = browser.find_element(By.CSS_SELECTOR, ".push-form button[type=submit]")
        on_top = browser.execute_script(
            "const b = arguments[0].getBoundingClientRect();"
            "return document.elementFromPoint(b.left + b.width / 2, b.top + b.height / 2) === arguments[0];",
            button,
        )
        assert on_top, name
        browser.save_screenshot(str(artifact(f"push-{name}.png")))
        logged = [entry["message"] for entry in browser.get_log("browser")]
        assert not [m for m in logged if "Content Security Policy" in m], (name, logged)
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_health_events_read_well_in_the_list_at_desktop_and_phone_width(browser, site):
    import datetime as dt

    from events.models import Event, EventKind

    make_user("chief", password=PASSWORD, is_superuser=True, is_staff=True)
    yard = make_camera("yard")
    now = dt.datetime.now(dt.UTC)
    Event.objects.create(camera=yard, kind=EventKind.OFFLINE, detail="could not open the RTSP stream: refused",
                         start=now - dt.timedelta(minutes=5), end=now - dt.timedelta(minutes=2))  # fmt: skip
    Event.objects.create(camera=None, kind=EventKind.LOW_SPACE, detail="812 MB free, under the floor of 5,000 MB",
                         start=now - dt.timedelta(minutes=1))  # fmt: skip
    log_in(browser, site.url, "chief")
    for name, metrics in (("desktop", DESKTOP), ("phone", PHONE)):
        browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        browser.get_log("browser")
        browser.get(site.url + "/events/?kind=health")
        rows = wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, ".event-list .event"), 15, message="rows")
        assert len(rows) == 2
        texts = [row.text for row in rows]
        assert "Recordings store" in texts[0] and "Store low on space" in texts[0] and "812 MB free" in texts[0]
        assert "Camera offline" in texts[1] and "refused" in texts[1]
        width = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], (name, width)
        for row in rows:
            assert browser.execute_script(
                "const b = arguments[0].getBoundingClientRect();"
                "const hit = document.elementFromPoint(b.left + 10, b.top + 10); return arguments[0].contains(hit);",
                row,
            ), name
        browser.save_screenshot(str(artifact(f"health-events-{name}.png")))
        logged = [entry["message"] for entry in browser.get_log("browser")]
        assert not [m for m in logged if "Content Security Policy" in m], (name, logged)
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


NOTIFICATIONS = """
const done = arguments[arguments.length - 1];
navigator.serviceWorker.ready
  .then((registration) => registration.getNotifications())
  .then((shown) => done(shown.map((n) => ({title: n.title, body: n.body, image: n.image, url: n.data.url}))))
  .catch((error) => done("error: " + error));
"""


def test_a_push_shows_a_notification_with_the_events_snapshot(browser, site):
    import datetime as dt
    import json
    import os
    from pathlib import Path

    import cv2
    import numpy as np

    from events.models import Event

    make_user("chief", password=PASSWORD, is_superuser=True, is_staff=True)
    yard = make_camera("yard")
    event = Event.objects.create(camera=yard, start=dt.datetime.now(dt.UTC), snapshot="event.snapshots/yard/1.jpg")
    picture = Path(os.environ["RECORDINGS_DIR"]) / event.snapshot  # the web server's store (tests' settings)
    picture.parent.mkdir(parents=True, exist_ok=True)
    picture.write_bytes(cv2.imencode(".jpg", np.full((90, 160, 3), 200, np.uint8))[1].tobytes())
    log_in(browser, site.url, "chief")
    browser.get(site.url + "/events/")
    controlled = "return !!(navigator.serviceWorker && navigator.serviceWorker.controller)"
    wait_until(lambda: browser.execute_script(controlled), 20, message="the service worker controlling the page")
    browser.execute_cdp_cmd("Browser.grantPermissions", {"origin": site.url, "permissions": ["notifications"]})
    browser.execute_cdp_cmd("ServiceWorker.enable", {})
    message = {"title": "Motion: Yard", "body": "path", "tag": f"nvr-{event.pk}", "id": event.pk,
               "url": f"/events/?play={event.pk}&camera=yard", "image": f"/events/{event.pk}/snapshot.jpg"}  # fmt: skip
    shown: object = []
    for registration in range(40):  # the worker's registration id (DevTools numbers every registration from 0)
        try:
            browser.execute_cdp_cmd(
                "ServiceWorker.deliverPushMessage",
                {"origin": site.url, "registrationId": str(registration), "data": json.dumps(message)},
            )
        except Exception:  # noqa: BLE001 - no such registration
            continue
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not shown:
            shown = browser.execute_async_script(NOTIFICATIONS)
            time.sleep(0.2)
        if shown:
            break
    assert isinstance(shown, list) and len(shown) == 1, shown
    assert shown[0]["title"] == "Motion: Yard" and shown[0]["url"] == message["url"]
    assert shown[0]["image"].startswith("data:image/jpeg;base64,/9j/"), shown[0]["image"][:40]  # the snapshot, fetched
    cached = browser.execute_async_script(CACHED)
    assert not [url for url in cached if "snapshot" in url], cached
