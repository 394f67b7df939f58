"""Live H.264 with the camera's sound in Chromium: muted at first, heard after a click on Unmute.

An RTSP camera sending AAC: the camera page plays it through MSE (one SourceBuffer of H.264 and AAC), the
<video> is muted until the page's sound button (or `m`) unmutes it, and its sound is decoded
(`webkitAudioDecodedByteCount`; Chromium decodes it while muted too), and the picture plays on top and undimmed at 1440 and 390 px.
"""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from tests.browser.conftest import artifact, wait_until
from tests.browser.seen import Widths, assert_seen
from tests.browser.test_dashboard import PASSWORD, log_in
from tests.browser.test_h264_live import presented
from tests.browser.test_visible_playback import check_page
from tests.factories import make_camera, make_user
from tests.support.frames import wait_for_status
from tests.support.servers import RtspServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PLAYING_H264 = "const v = document.querySelector('.viewer'); return !!v && v.dataset.mode === 'h264'"


def test_live_sound_plays_muted_until_unmuted(browser, site, capture_process, redis_url, rtsp_available):
    server = RtspServer(width=640, height=360, fps=15, mounts=("/porch:640x360:aac",)).start()
    try:
        make_camera("porch", kind="rtsp", source=server.url("/porch"), max_fps=15)
        make_user("chief", password=PASSWORD, is_superuser=True, is_staff=True)
        wait_for_status(redis_url, "porch", lambda s: s["state"] == "online", 30)
        log_in(browser, site.url, "chief")
        for label, width in Widths(browser).each():
            what = f"camera page with sound at {label}"
            browser.get(f"{site.url}/cameras/porch/")
            wait_until(lambda: browser.execute_script(PLAYING_H264), 20, message=f"{what}: H.264 plays")
            video = browser.find_element(By.CSS_SELECTOR, "video.live-h264")
            sound = browser.find_element(By.CSS_SELECTOR, "[data-action=sound]")
            assert browser.execute_script("return arguments[0].muted", video) is True, f"{what}: starts muted"
            assert sound.text == "Unmute"

            browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", sound)
            sound.click()
            assert browser.execute_script("return arguments[0].muted", video) is False, what
            assert sound.text == "Mute"
            wait_until(
                lambda v=video: browser.execute_script("return arguments[0].webkitAudioDecodedByteCount", v) > 0,
                10,
                message=f"{what}: the camera's sound is decoded",
            )
            seen = presented(browser, video)
            assert seen["width"] == 640 and seen["frames"] >= 10, (what, seen)
            assert browser.execute_script("return arguments[0].muted", video) is False, what
            browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", video)
            assert_seen(browser, video, what)
            check_page(browser, what, width)
            browser.execute_script("window.scrollTo(0, 0)")
            browser.save_screenshot(str(artifact(f"h264-sound-{label}.png")))
        browser.find_element(By.CSS_SELECTOR, "body").send_keys("m")  # the key mutes it again
        assert browser.execute_script("return arguments[0].muted", video) is True
        assert sound.text == "Unmute"
    finally:
        browser.get("about:blank")
        server.stop()
