"""The live grid in a real browser: 16 cameras over plain HTTP/1.1 in one Chromium tab.

Chromium opens at most 6 connections per host (docs/facts.md), so these tests prove the grid's
design rather than its markup: every one of 16 tiles keeps changing, the rest of the
site still loads while it plays, status changes arrive without a reload, and the page
works at phone width. Screenshots go to var/artifacts/ and their paths are printed.
"""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By

from cameras.models import Camera
from tests.browser.conftest import artifact, browser_pids, cpu_seconds, wait_until
from tests.factories import make_camera, make_user
from tests.support.frames import wait_for_status

pytestmark = pytest.mark.slow

PASSWORD = "pw-grid-browser-1"

# Per tile: a checksum of the canvas pixels and how many frames it drew.
TILE_PIXELS = """
return [...window.nvrGrid.tiles.values()].map((tile) => {
  const {width, height} = tile.canvas;
  const data = tile.context.getImageData(0, 0, width, height).data;
  let sum = 0;
  for (let i = 0; i < data.length; i += 7) sum = (sum * 31 + data[i]) >>> 0;
  return [tile.slug, sum, tile.frames, width];
});
"""

# Other requests to the site while the grid plays: they must not wait for a free connection.
OTHER_REQUESTS = """
const done = arguments[arguments.length - 1];
const began = performance.now();
const urls = ["/cameras/%(slug)s/", "/api/cameras/", "/cameras/%(slug)s/snapshot.jpg", "/accounts/login/", "/"];
Promise.all(urls.map((url) => fetch(url, {cache: "no-store"}).then((r) => r.status)))
  .then((statuses) => done({statuses, ms: performance.now() - began}))
  .catch((error) => done({error: String(error)}));
"""


def log_in(driver, base: str, username: str, screenshot: str = "") -> None:
    driver.delete_all_cookies()
    driver.get(f"{base}/accounts/login/?next=/")
    wait_until(lambda: driver.find_elements(By.ID, "id_username"), 15, message="login form")
    if screenshot:
        driver.save_screenshot(str(artifact(screenshot)))
        print(f"\nSCREENSHOT login: {artifact(screenshot)}")
    driver.find_element(By.ID, "id_username").send_keys(username)
    driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_until(
        lambda: driver.execute_script("return !!(window.nvrGrid && document.readyState !== 'loading')"),
        15,
        message="the grid page after login",
    )


def tiles_state(driver) -> dict[str, tuple[int, int, int]]:
    return {slug: (checksum, frames, width) for slug, checksum, frames, width in driver.execute_script(TILE_PIXELS)}


def start_cameras(count: int, redis_url: str, prefix: str) -> list[Camera]:
    # Small test patterns at a low rate: the machine running the tests has 2 cores.
    cameras = [
        make_camera(f"{prefix}{i:02d}", name=f"Camera {i + 1:02d}", source="320x240", position=i, max_fps=5 + i % 4)
        for i in range(count)
    ]
    for camera in cameras:
        wait_for_status(redis_url, camera.slug, lambda s: s.get("state") == "online", 30)
    return cameras


def test_sixteen_cameras_play_live_in_one_tab_and_the_site_stays_responsive(browser, site, capture_process, redis_url):
    cameras = start_cameras(16, redis_url, "live-")
    make_user("chief", password=PASSWORD, is_superuser=True, is_staff=True)
    browser.set_window_size(1280, 900)
    log_in(browser, site.url, "chief", screenshot="login.png")

    # Every tile draws pictures, through one stream (not one connection per camera).
    wait_until(
        lambda: all(frames > 0 for _, frames, _ in tiles_state(browser).values()), 20, message="a picture in every tile"
    )
    stats = browser.execute_script("return window.nvrGrid.stats")
    assert len(stats["cameras"].split(",")) == 16 and stats["connects"] == 1

    # Over a measuring window: every tile's pixels change; bandwidth and browser CPU.
    pids = browser_pids(browser)
    before, cpu_before, server_before = tiles_state(browser), cpu_seconds(pids), site.cpu_seconds()
    bytes_before = browser.execute_script("return [window.nvrGrid.stats.bytes, window.nvrGrid.stats.drawn]")
    began = time.monotonic()
    time.sleep(3.0)
    middle = tiles_state(browser)
    unchanged = [slug for slug in before if middle[slug][0] == before[slug][0]]
    assert not unchanged, f"tiles whose pixels did not change in 3 s: {unchanged}"
    time.sleep(7.0)
    seconds = time.monotonic() - began
    cpu = (cpu_seconds(pids) - cpu_before) / seconds
    server_cpu = (site.cpu_seconds() - server_before) / seconds
    bytes_after = browser.execute_script("return [window.nvrGrid.stats.bytes, window.nvrGrid.stats.drawn]")
    after = tiles_state(browser)
    rate = (bytes_after[0] - bytes_before[0]) / seconds
    drawn = (bytes_after[1] - bytes_before[1]) / seconds
    camera_fps = sum(c.max_fps for c in cameras)
    print(
        f"\nGRID 16 tiles: {rate / 1024:.0f} KiB/s ({rate * 8 / 1e6:.2f} Mbit/s) on one stream, "
        f"{drawn:.1f} frames drawn/s (cameras produce {camera_fps}/s), "
        f"browser CPU {cpu * 100:.0f} % of one core over {seconds:.1f} s ({len(pids)} processes), "
        f"web server CPU {server_cpu * 100:.0f} %, tile width {after[cameras[0].slug][2]} px"
    )
    assert all(after[slug][1] > before[slug][1] for slug in before)
    assert drawn > camera_fps * 0.6, "the grid keeps up with the cameras"

    # The rest of the site is not starved of connections while the grid plays.
    result = browser.execute_async_script(OTHER_REQUESTS % {"slug": cameras[3].slug})
    assert result.get("statuses") == [200, 200, 200, 200, 200], result
    assert result["ms"] < 3000, f"other requests took {result['ms']:.0f} ms while the grid played"
    print(f"GRID other pages while playing: 5 requests in {result['ms']:.0f} ms")

    desktop = artifact("grid-16-desktop.png")
    browser.save_screenshot(str(desktop))
    print(f"SCREENSHOT desktop 1280x900: {desktop}")

    # Phone width: one column, readable captions, only tiles on screen are streamed.
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}
    )
    try:
        layout = wait_until(
            lambda: browser.execute_script("""
            const tiles = [...document.querySelectorAll('.tile')].map((t) => t.getBoundingClientRect());
            const lefts = new Set(tiles.map((r) => Math.round(r.left)));
            const font = parseFloat(getComputedStyle(document.querySelector('.caption')).fontSize);
            const streamed = window.nvrGrid.stats.cameras.split(',').length;
            return lefts.size === 1 && streamed < 16 ? {width: tiles[0].width, font, streamed,
              viewport: window.innerWidth} : null;"""),
            10,
            message="one column at 390 px",
        )
        assert layout["viewport"] == 390 and layout["width"] >= 350 and layout["font"] >= 14, layout
        first = cameras[0].slug
        frames = tiles_state(browser)[first][1]
        wait_until(lambda: tiles_state(browser)[first][1] > frames + 3, 10, message="the top tile plays on a phone")
        time.sleep(0.5)
        phone = artifact("grid-16-phone-390.png")
        browser.save_screenshot(str(phone))
        print(f"SCREENSHOT phone 390 px: {phone} (streaming {layout['streamed']} of 16 tiles: those on screen)")
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    # A click opens the camera full size, with its own full-resolution stream.
    browser.find_element(By.CSS_SELECTOR, f'.tile[data-camera="{cameras[5].slug}"]').click()
    wait_until(
        lambda: browser.execute_script(
            "const img = document.querySelector('.viewer img'); return img && img.naturalWidth"
        ),
        10,
        message="the camera page's live picture",
    )
    assert browser.execute_script("return document.querySelector('.viewer img').naturalWidth") == 320
    assert browser.find_element(By.TAG_NAME, "h1").text == cameras[5].name
    camera_page = artifact("camera-page.png")
    browser.save_screenshot(str(camera_page))
    print(f"SCREENSHOT camera page: {camera_page}")


def test_a_camera_turned_off_shows_offline_within_5s_and_comes_back(browser, site, capture_process, redis_url):
    cameras = start_cameras(4, redis_url, "toggle-")
    make_user("chief", password=PASSWORD, is_superuser=True, is_staff=True)
    log_in(browser, site.url, "chief")
    target = cameras[2].slug
    state = f"return document.querySelector('.tile[data-camera=\"{target}\"]').dataset.state"
    wait_until(lambda: browser.execute_script(state) == "online", 10, message="the tile live")
    wait_until(lambda: all(frames > 0 for _, frames, _ in tiles_state(browser).values()), 10, message="pictures")
    browser.execute_script("window.notReloaded = true")

    Camera.objects.filter(slug=target).update(enabled=False)
    turned_off = time.monotonic()
    shown = wait_until(
        lambda: browser.execute_script(state) in ("disabled", "offline") and browser.execute_script(state),
        5,
        interval=0.1,
        message="the offline state without a reload",
    )
    print(f"\nGRID offline shown {time.monotonic() - turned_off:.1f} s after the camera was turned off ({shown})")
    label = browser.find_element(By.CSS_SELECTOR, f'.tile[data-camera="{target}"] .state-text').text
    assert label in ("Turned off", "Offline")
    offline = artifact("grid-camera-off.png")
    browser.save_screenshot(str(offline))
    print(f"SCREENSHOT camera turned off: {offline}")

    Camera.objects.filter(slug=target).update(enabled=True)
    turned_on = time.monotonic()
    wait_until(lambda: browser.execute_script(state) == "online", 15, interval=0.1, message="live again")
    frames = tiles_state(browser)[target][1]
    wait_until(lambda: tiles_state(browser)[target][1] > frames + 2, 10, message="pictures again")
    print(f"GRID live again {time.monotonic() - turned_on:.1f} s after the camera was turned on")
    assert browser.execute_script("return window.notReloaded === true"), "no reload"
    assert browser.execute_script("return window.nvrGrid.stats.connects") == 1, "status came by WebSocket"

    # Layout "1": one camera per page, remembered for the user.
    browser.find_element(By.CSS_SELECTOR, '.layouts button[value="1"]').click()
    wait_until(
        lambda: browser.execute_script(
            "return window.nvrGrid && window.nvrGrid.tiles.size === 1 && document.querySelector('#grid').dataset.layout"
        ),
        10,
        message="the one-camera layout",
    )
    assert "Page 1 of 4" in browser.find_element(By.CSS_SELECTOR, ".pager").text
    wait_until(lambda: next(iter(tiles_state(browser).values()))[1] > 2, 10, message="the single tile plays")
    single = artifact("grid-layout-1.png")
    browser.save_screenshot(str(single))
    print(f"SCREENSHOT layout 1: {single}")
