"""The camera's own H.264 in Chromium (static/nvr/h264.js: MSE over /ws/live/<slug>/), as a person sees it.

- the camera page plays a 1280x720 RTSP camera in a <video> whose videoWidth is the camera's, whose
  frames advance (requestVideoFrameCallback), on top and undimmed at 1440 and 390 px, and says "H.264";
  a camera without compressed video (a test pattern) stays MJPEG and says so;
- a 16-tile grid plays every RTSP camera in its tile's <video>, each at its source's width, each advancing;
- a camera that switches from 720p to 1080p mid-stream keeps playing, at its new width;
- a camera that sends H.265 (Chromium cannot play it) shows MJPEG by itself, and says why;
- the kiosk wall plays H.264 with its token alone (no session), at 1440 and 390 px.
"""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By

from tests.browser.conftest import artifact, wait_until
from tests.browser.seen import Widths, assert_seen
from tests.browser.test_dashboard import PASSWORD, log_in
from tests.browser.test_visible_playback import check_page
from tests.factories import make_camera, make_user
from tests.support.frames import wait_for_status
from tests.support.servers import RtspServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# Frames a <video> presents over arguments[1] ms (requestVideoFrameCallback), and its size.
FRAMES_PRESENTED = """
const [video, ms, done] = arguments;
let frames = 0;
const count = () => { frames += 1; video.requestVideoFrameCallback(count); };
video.requestVideoFrameCallback(count);
setTimeout(() => done({frames, width: video.videoWidth, height: video.videoHeight}), ms);
"""


def presented(browser, video, ms: int = 2000) -> dict:
    return browser.execute_async_script(FRAMES_PRESENTED, video, ms)


@pytest.fixture
def rtsp(rtsp_available):
    server = RtspServer(width=1280, height=720, fps=15, mounts=("/hd",)).start()
    yield server
    server.stop()


@pytest.fixture
def leave_page(browser):
    """Close the page's sockets before the server stops (asked for after the server's fixture: ends first)."""
    yield
    browser.get("about:blank")


def test_the_camera_page_plays_the_cameras_h264(browser, site, capture_process, redis_url, rtsp, leave_page):
    make_camera("gate", kind="rtsp", source=rtsp.url("/hd"), max_fps=15)
    make_camera("pattern", source="320x240", max_fps=5)
    make_user("chief", password=PASSWORD, is_superuser=True, is_staff=True)
    wait_for_status(redis_url, "gate", lambda s: s["state"] == "online", 30)
    log_in(browser, site.url, "chief")
    for label, width in Widths(browser).each():
        what = f"camera page at {label}"
        started = time.monotonic()
        browser.get(f"{site.url}/cameras/gate/")
        wait_until(
            lambda: browser.execute_script(
                "const v = document.querySelector('.viewer'); return !!v && v.dataset.mode === 'h264'"
            ),
            20,
            message=f"{what}: H.264 plays",
        )
        first_picture = time.monotonic() - started
        video = browser.find_element(By.CSS_SELECTOR, "video.live-h264")
        seen = presented(browser, video)
        assert seen["width"] == 1280 and seen["height"] == 720, seen
        assert seen["frames"] >= 10, f"{what}: {seen['frames']} frames in 2 s"
        assert browser.find_element(By.CSS_SELECTOR, ".live-mode").text == "H.264"
        assert not browser.find_element(By.CSS_SELECTOR, "img.live").is_displayed()  # one picture at a time
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", video)
        assert_seen(browser, video, what)
        check_page(browser, what, width)
        browser.execute_script("window.scrollTo(0, 0)")
        browser.save_screenshot(str(artifact(f"h264-camera-{label}.png")))
        print(f"\n{what}: first picture after {first_picture:.2f} s (page load included)")

    urls = "return [...document.querySelectorAll('.urls input')].map((i) => i.value).join(' ')"
    assert "/cameras/gate/live.mp4" in browser.execute_script(urls)  # for other systems too
    browser.get(f"{site.url}/cameras/pattern/")
    wait_until(lambda: browser.find_element(By.CSS_SELECTOR, ".live-mode").text == "MJPEG", 10, message="MJPEG")
    assert "live.mp4" not in browser.execute_script(urls)  # a camera that sends pictures has no H.264
    assert browser.find_element(By.CSS_SELECTOR, "img.live").is_displayed()
    assert not browser.find_element(By.CSS_SELECTOR, "video.live-h264").is_displayed()


# Each tile's <video>: its mode, its picture's width, and frames presented over arguments[0] ms.
TILES_PRESENTED = """
const [ms, done] = arguments;
const tiles = [...document.querySelectorAll(".tile[data-h264]")];
const counts = tiles.map(() => 0);
tiles.forEach((tile, i) => {
  const video = tile.querySelector("video");
  const count = () => { counts[i] += 1; video.requestVideoFrameCallback(count); };
  video.requestVideoFrameCallback(count);
});
setTimeout(() => done(tiles.map((tile, i) => [tile.dataset.camera, tile.dataset.mode,
  tile.querySelector("video").videoWidth, counts[i]])), ms);
"""


def test_a_sixteen_tile_grid_plays_each_cameras_h264(browser, site, capture_process, redis_url, rtsp_available):
    mounts = [f"/t{i:02d}" for i in range(16)]
    server = RtspServer(width=320, height=180, fps=10, mounts=mounts).start()
    try:
        for i, mount in enumerate(mounts):
            make_camera(f"tile{i:02d}", kind="rtsp", source=server.url(mount), max_fps=10, position=i)
        make_user("chief", password=PASSWORD, is_superuser=True, is_staff=True)
        for i in range(16):
            wait_for_status(redis_url, f"tile{i:02d}", lambda s: s["state"] == "online", 40)
        log_in(browser, site.url, "chief")
        for label, _ in Widths(browser).each():
            what = f"grid at {label}"
            browser.get(f"{site.url}/")
            if label == "390":  # one column: a tile plays while it is on screen
                for i in (0, 15):
                    tile = browser.find_element(By.CSS_SELECTOR, f".tile[data-camera='tile{i:02d}'] video")
                    browser.execute_script(  # the tile: its <video> is hidden (no box) until it plays
                        "arguments[0].closest('.tile').scrollIntoView({block: 'center'})", tile
                    )
                    wait_until(tile.is_displayed, 20, message=f"{what}: tile{i:02d} plays")
                    assert_seen(browser, tile, f"{what}, tile{i:02d}")
                    assert browser.execute_script("return arguments[0].videoWidth", tile) == 320
                browser.save_screenshot(str(artifact(f"h264-grid-{label}.png")))
                continue
            wait_until(
                lambda: browser.execute_script(
                    "const t = document.querySelectorAll('.tile[data-mode=h264] video:not([hidden])');"
                    "return t.length === 16"
                ),
                40,
                message=f"{what}: H.264 in every tile",
            )
            report = browser.execute_async_script(TILES_PRESENTED, 3000)
            assert len(report) == 16
            for slug, mode, width, frames in report:
                assert mode == "h264" and width == 320, (slug, mode, width)
                assert frames >= 10, f"{what}: {slug} presented {frames} frames in 3 s"
            stats = browser.execute_script("return window.nvrGrid.stats")
            assert stats["connects"] == 0, "no MJPEG grid stream while every tile plays H.264"
            for i in range(16):
                video = browser.find_element(By.CSS_SELECTOR, f".tile[data-camera='tile{i:02d}'] video")
                browser.execute_script("arguments[0].scrollIntoView({block: 'nearest'})", video)
                assert_seen(browser, video, f"{what}, tile{i:02d}")
            check_page(browser, what, 1440)
            browser.save_screenshot(str(artifact(f"h264-grid-{label}.png")))
    finally:
        browser.get("about:blank")
        server.stop()


def test_a_camera_switched_from_720p_to_1080p_keeps_playing(
    browser, site, capture_process, redis_url, rtsp, leave_page
):
    make_camera("gate", kind="rtsp", source=rtsp.url("/hd"), max_fps=15)
    make_user("chief", password=PASSWORD, is_superuser=True, is_staff=True)
    wait_for_status(redis_url, "gate", lambda s: s["state"] == "online", 30)
    log_in(browser, site.url, "chief")
    browser.get(f"{site.url}/cameras/gate/")
    width = "return document.querySelector('video.live-h264').videoWidth"
    wait_until(lambda: browser.execute_script(width) == 1280, 20, message="720p plays")
    # The camera's settings change: it restarts, sending 1080p on the same address.
    rtsp.stop()
    rtsp.width, rtsp.height = 1920, 1080
    rtsp.start()
    wait_until(lambda: browser.execute_script(width) == 1920, 40, message="1080p plays")
    video = browser.find_element(By.CSS_SELECTOR, "video.live-h264")
    seen = presented(browser, video)
    assert (seen["width"], seen["height"]) == (1920, 1080) and seen["frames"] >= 10, seen
    assert browser.find_element(By.CSS_SELECTOR, ".live-mode").text == "H.264"
    assert_seen(browser, video, "after the switch")


def test_a_camera_sending_h265_falls_back_to_mjpeg_and_says_why(browser, site, capture_process, redis_url, leave_page):
    from tests.support.clock import ClockCamera

    camera = ClockCamera(fps=10, h265=True).start()
    try:
        make_camera("hevc", kind="rtsp", source=camera.url("/clock"), max_fps=10)
        make_user("chief", password=PASSWORD, is_superuser=True, is_staff=True)
        wait_for_status(redis_url, "hevc", lambda s: s["state"] == "online", 30)
        log_in(browser, site.url, "chief")
        browser.get(f"{site.url}/cameras/hevc/")
        mode = "const m = document.querySelector('.live-mode'); return m && [m.textContent, m.title]"
        wait_until(lambda: "hvc1" in ((browser.execute_script(mode) or ["", ""])[1]), 20, message="the reason")
        text, why = browser.execute_script(mode)
        assert text == "MJPEG" and "not H.264" in why, (text, why)
        picture = browser.find_element(By.CSS_SELECTOR, "img.live")
        wait_until(lambda: browser.execute_script("return arguments[0].naturalWidth", picture) == 640, 20,
                   message="the MJPEG picture")  # fmt: skip
        assert not browser.find_element(By.CSS_SELECTOR, "video.live-h264").is_displayed()
        assert_seen(browser, picture, "the H.265 camera's MJPEG picture")
        browser.save_screenshot(str(artifact("h265-fallback-1440.png")))
    finally:
        browser.get("about:blank")
        camera.stop()


def test_the_kiosk_wall_plays_h264_with_its_token(browser, site, capture_process, redis_url, leave_page):
    from tests.factories import make_token

    server = RtspServer(width=320, height=180, fps=10, mounts=("/wall",)).start()
    try:
        make_camera("wall", kind="rtsp", source=server.url("/wall"), max_fps=10)
        owner = make_user("chief", password=PASSWORD, is_superuser=True, is_staff=True)
        _, token = make_token(user=owner)
        wait_for_status(redis_url, "wall", lambda s: s["state"] == "online", 30)
        browser.delete_all_cookies()  # no session: the token alone opens the wall and its sockets
        playing = "return !!document.querySelector('.tile[data-mode=h264] video:not([hidden])')"
        for label, _ in Widths(browser).each():
            browser.get(f"{site.url}/?kiosk=1&token={token}")
            wait_until(lambda: browser.execute_script(playing), 20, message=f"kiosk at {label}: H.264")
            video = browser.find_element(By.CSS_SELECTOR, ".tile video")
            seen = presented(browser, video)
            assert seen["width"] == 320 and seen["frames"] >= 5, seen
            assert_seen(browser, video, f"kiosk at {label}")
            browser.save_screenshot(str(artifact(f"h264-kiosk-{label}.png")))
    finally:
        browser.get("about:blank")
        server.stop()


def test_a_grid_tile_plays_the_sub_stream_the_camera_page_the_main_and_a_failed_sub_says_so(
    browser, site, capture_process, redis_url, rtsp_available, leave_page
):
    from tests.factories import make_token
    from tests.support.h264 import ffprobe_video

    main = RtspServer(mounts=["/main:640x360"], fps=10).start()
    sub = RtspServer(mounts=["/sub:320x240"], fps=10).start()
    try:
        make_camera("gate", kind="rtsp", source=main.url("/main"), sub_source=sub.url("/sub"), max_fps=10)
        owner = make_user("chief", password=PASSWORD, is_superuser=True, is_staff=True)
        wait_for_status(redis_url, "gate", lambda s: s["state"] == "online" and s["sub_stream"] == "live", 30)
        log_in(browser, site.url, "chief")
        tile = ".tile[data-camera='gate']"
        for label, _ in Widths(browser).each():
            browser.get(f"{site.url}/")
            video = browser.find_element(By.CSS_SELECTOR, f"{tile} video")
            browser.execute_script("arguments[0].closest('.tile').scrollIntoView({block: 'center'})", video)
            wait_until(video.is_displayed, 20, message=f"grid at {label}: the tile plays")
            seen = presented(browser, video)
            assert (seen["width"], seen["height"]) == (320, 240) and seen["frames"] >= 5, seen
            assert browser.execute_script(f'return document.querySelector("{tile}").dataset.stream') == "sub"
            assert browser.find_element(By.CSS_SELECTOR, f"{tile} .live-mode").text == "H.264"
            assert_seen(browser, video, f"grid at {label}: the sub stream's tile")
            browser.save_screenshot(str(artifact(f"h264-sub-grid-{label}.png")))

        browser.get(f"{site.url}/cameras/gate/")  # full screen: the main stream
        page_video = browser.find_element(By.CSS_SELECTOR, "video.live-h264")
        width = "return document.querySelector('video.live-h264').videoWidth"
        wait_until(lambda: browser.execute_script(width) == 640, 20, message="the camera page plays the main stream")
        assert presented(browser, page_video)["frames"] >= 5

        _, token = make_token(user=owner)
        for stream, size in (("sub", (320, 240)), ("main", (640, 360))):  # live.mp4 for other systems, too
            probe = ffprobe_video(f"{site.url}/cameras/gate/live.mp4?stream={stream}&token={token}", count=False)
            assert (probe["codec_name"], probe["width"], probe["height"]) == ("h264", *size), (stream, probe)

        browser.get(f"{site.url}/")
        video = browser.find_element(By.CSS_SELECTOR, f"{tile} video")
        wait_until(lambda: browser.execute_script("return arguments[0].videoWidth", video) == 320, 20, message="sub")
        sub.kill()
        caption = f'return document.querySelector("{tile} .live-mode").textContent'
        wait_until(lambda: browser.execute_script("return arguments[0].videoWidth", video) == 640, 30,
                   message="the tile plays the main stream once the sub stream failed")  # fmt: skip
        wait_until(lambda: browser.execute_script(caption) == "H.264 · main", 10, message="and says so")
        why = browser.find_element(By.CSS_SELECTOR, f"{tile} .live-mode").get_attribute("title")
        assert "sub stream failed" in why, why
        seen = presented(browser, video)
        assert seen["width"] == 640 and seen["frames"] >= 5, seen
        assert_seen(browser, video, "the tile after the sub stream failed")
        browser.save_screenshot(str(artifact("h264-sub-fallback-1440.png")))
    finally:
        browser.get("about:blank")
        main.stop()
        sub.stop()
