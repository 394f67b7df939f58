"""The camera's own H.264 in Chromium (static/nvr/h264.js: MSE over /ws/live/<slug>/), as a person sees it.

- the camera page plays a 1280x720 RTSP camera in a <video> whose videoWidth is the camera's, whose
  frames advance (requestVideoFrameCallback), on top and undimmed at 1440 and 390 px, and says "H.264";
  a camera without compressed video (a test pattern) stays MJPEG and says so;
- a 16-tile grid plays every RTSP camera in its tile's <video>, each at its source's width, each advancing;
- a camera that switches from 720p to 1080p mid-stream keeps playing, at its new width.
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

    browser.get(f"{site.url}/cameras/pattern/")
    wait_until(lambda: browser.find_element(By.CSS_SELECTOR, ".live-mode").text == "MJPEG", 10, message="MJPEG")
    assert browser.find_element(By.CSS_SELECTOR, "img.live").is_displayed()
    assert not browser.find_element(By.CSS_SELECTOR, "video.live-h264").is_displayed()
