"""Recordings with sound play muted until the user unmutes them, in Chromium at desktop and phone width.

The segments are ffmpeg's testsrc with a 440 Hz tone in AAC, laid out as the recorder writes them.
"""

from __future__ import annotations

import datetime as dt

import pytest
from selenium.webdriver.common.by import By

from tests.browser.conftest import artifact
from tests.browser.seen import Widths, assert_fits, assert_playing, assert_seen
from tests.browser.test_dashboard import PASSWORD, log_in
from tests.factories import make_user
from tests.reliability.helpers import wait_until
from tests.support.processes import web_server
from tests.support.recorded import SEGMENT_SECONDS, STARTS, T0, record_camera, segment_with_sound

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ON_TOP = """
const box = arguments[0].getBoundingClientRect();
const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
return hit === arguments[0] || arguments[0].contains(hit);
"""


@pytest.fixture
def sound_site(redis_url, settings, tmp_path, static_root):
    store = tmp_path / "store"
    settings.RECORDINGS_DIR = str(store)
    files = []
    for index in range(len(STARTS)):
        files.append(tmp_path / f"seg{index}.mp4")
        segment_with_sound(files[-1], index * SEGMENT_SECONDS)
    record_camera("yard", files, str(store))
    make_user("chief", password=PASSWORD, is_superuser=True, is_staff=True)
    server = web_server(redis_url, STATIC_ROOT=str(static_root), RECORDINGS_DIR=str(store)).start()
    yield server
    server.stop()


def test_review_plays_muted_until_unmuted(browser, sound_site):
    log_in(browser, sound_site.url, "chief")
    start = T0 + dt.timedelta(seconds=5)
    browser.get(f"{sound_site.url}/cameras/yard/?t={int(start.timestamp())}")
    video = wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, ".review-tile video"), 15, what="the player")[0]
    wait_until(lambda: browser.execute_script("return arguments[0].currentTime > 0.5", video), 20,
               what="the recording to play")  # fmt: skip
    sound = browser.find_element(By.CSS_SELECTOR, "[data-action=sound]")
    assert browser.execute_script("return arguments[0].muted", video) is True, "recordings start muted"
    assert (sound.text, sound.get_attribute("aria-pressed")) == ("Unmute", "false")

    sound.click()
    assert browser.execute_script("return arguments[0].muted", video) is False
    assert (sound.text, sound.get_attribute("aria-pressed")) == ("Mute", "true")
    # Chromium decodes the recording's sound once it plays unmuted (its track is in the segments).
    wait_until(lambda: browser.execute_script("return arguments[0].webkitAudioDecodedByteCount", video) > 0, 10,
               what="the sound to be decoded")  # fmt: skip
    for width_name, width in Widths(browser).each():
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", video)
        assert_seen(browser, video, f"the recording at {width_name}")
        assert_playing(browser, video, f"the recording at {width_name}")
        if width < 640:  # a desktop page may scroll down (its scrollbar narrows the layout), never sideways
            assert_fits(browser, f"the camera page at {width_name}", width)
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", sound)
        assert browser.execute_script(ON_TOP, sound), f"the sound button is covered at {width_name}"
        assert browser.execute_script("return arguments[0].muted", video) is False, "a new window stays unmuted"
        browser.save_screenshot(str(artifact(f"review-sound-{width_name}.png")))
        print(f"\nSCREENSHOT review with sound at {width_name}: {artifact(f'review-sound-{width_name}.png')}")
    sound.click()
    assert browser.execute_script("return arguments[0].muted", video) is True
