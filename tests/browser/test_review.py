"""Chromium plays recordings: the timeline under a camera, and four cameras in step on /review/.

hls.js (vendored) plays the fMP4 playlists through Media Source Extensions, which Debian's
Chromium supports for H.264. The recordings are ffmpeg's testsrc, whose picture is never black.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from tests.browser.conftest import artifact
from tests.browser.test_dashboard import PASSWORD, log_in
from tests.factories import make_user
from tests.reliability.helpers import wait_until
from tests.support.processes import web_server
from tests.support.recorded import T0, record_camera, segment_files  # noqa: F401 - fixture

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BRIGHTNESS = """
const video = arguments[0];
if (!video.videoWidth) return -1;
const canvas = document.createElement("canvas");
canvas.width = 64; canvas.height = 36;
const context = canvas.getContext("2d");
context.drawImage(video, 0, 0, 64, 36);
const data = context.getImageData(0, 0, 64, 36).data;
let sum = 0;
for (let i = 0; i < data.length; i += 4) sum += data[i] + data[i + 1] + data[i + 2];
return sum / (data.length / 4) / 3;
"""


@pytest.fixture
def review_site(redis_url, settings, tmp_path, static_root, segment_files):  # noqa: F811 - fixture
    store = tmp_path / "store"
    settings.RECORDINGS_DIR = str(store)
    for slug in ("yard", "gate", "door", "shed"):
        record_camera(slug, segment_files, str(store))
    make_user("chief", password=PASSWORD, is_superuser=True, is_staff=True)
    server = web_server(redis_url, STATIC_ROOT=str(static_root), RECORDINGS_DIR=str(store)).start()
    yield server
    server.stop()


def _ms(moment: dt.datetime) -> float:
    return moment.timestamp() * 1000


def test_timeline_click_plays_from_that_second(browser, review_site):
    log_in(browser, review_site.url, "chief")
    start = T0 + dt.timedelta(seconds=5)
    browser.get(f"{review_site.url}/cameras/yard/?t={int(start.timestamp())}")
    wait_until(lambda: browser.execute_script("return document.querySelector('[data-review]')?.dataset.state"), 15,
               what="the camera page's review section")  # fmt: skip
    for _ in range(3):  # 24 h -> 6 h -> 1 h -> 10 min, centred on t
        browser.find_element(By.CSS_SELECTOR, "[data-action=zoom-in]").click()
    bar = browser.find_element(By.CSS_SELECTOR, ".timeline-bar")
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, ".timeline-span"), 10, what="recorded spans drawn")
    # Click where T0 + 15 s is on the 10-minute timeline (the page says which span the bar shows).
    target = T0 + dt.timedelta(seconds=15)
    view_start, view_width = browser.execute_script(
        "const t = window.nvrReview.timeline; return [t.start(), t.end - t.start()];"
    )
    width = bar.size["width"]
    x = (_ms(target) - view_start) / view_width * width
    assert 0 < x < width, (x, width)
    ActionChains(browser).move_to_element_with_offset(bar, int(x - width / 2), 0).click().perform()
    clicked = float(browser.execute_script("return Number(document.querySelector('[data-review]').dataset.clock)"))
    assert abs(clicked - _ms(target)) < 1500, (clicked - _ms(target)) / 1000

    video = browser.find_element(By.CSS_SELECTOR, ".review-tile video")
    wait_until(lambda: browser.execute_script("return arguments[0].currentTime > 0.5", video), 20,
               what="the video to start")  # fmt: skip
    first = browser.execute_script("return arguments[0].currentTime", video)
    time.sleep(2.0)
    later = browser.execute_script("return arguments[0].currentTime", video)
    assert later > first + 1.0, (first, later)
    shown = float(browser.find_element(By.CSS_SELECTOR, ".review-tile").get_attribute("data-wall"))
    clock = float(browser.execute_script("return Number(document.querySelector('[data-review]').dataset.clock)"))
    assert abs(shown - clock) < 1000, (shown - clock) / 1000  # the picture is the clicked second, playing on
    assert browser.execute_script(BRIGHTNESS, video) > 20, "the picture is black"
    browser.save_screenshot(str(artifact("timeline.png")))
    print(f"\nSCREENSHOT timeline: {artifact('timeline.png')}")


def test_four_cameras_play_in_step(browser, review_site):
    log_in(browser, review_site.url, "chief")
    start = T0 + dt.timedelta(seconds=2)
    browser.get(f"{review_site.url}/review/?cameras=yard,gate,door,shed&t={int(start.timestamp())}")
    videos = lambda: browser.find_elements(By.CSS_SELECTOR, ".review-tile video")  # noqa: E731
    wait_until(lambda: len(videos()) == 4, 15, what="four tiles")
    wait_until(
        lambda: all(browser.execute_script("return arguments[0].currentTime > 0.5", v) for v in videos()),
        30,
        what="all four videos playing",
    )
    spreads = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        walls = browser.execute_script(
            "return Array.from(document.querySelectorAll('.review-tile')).map((t) => Number(t.dataset.wall))"
        )
        if all(w == w for w in walls):  # no NaN: every tile is on a fragment
            spreads.append((max(walls) - min(walls)) / 1000)
        time.sleep(1.0)
    browser.save_screenshot(str(artifact("review-4.png")))
    print(f"\nSCREENSHOT review: {artifact('review-4.png')}; spread median {statistics.median(spreads):.3f} s, "
          f"max {max(spreads):.3f} s over {len(spreads)} samples")  # fmt: skip
    assert len(spreads) >= 20
    assert max(spreads) <= 0.5, spreads
