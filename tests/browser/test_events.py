"""Events in Chromium: the grid's motion badge, /events/ with its thumbnail, the marker on the camera's
timeline, and the zone editor on the camera's admin page.

A real capture worker watches a test pattern whose bar crosses the picture for 4 s of every 30 s.
"""

from __future__ import annotations

import json

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from cameras.models import Camera
from events.models import Event
from tests.browser.test_dashboard import PASSWORD, log_in
from tests.factories import make_camera, make_user
from tests.reliability.helpers import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_motion_shows_on_the_grid_the_events_page_and_the_timeline(browser, site, capture_process):
    make_camera("yard", name="Yard", motion=True, event_gap_seconds=1.0, max_fps=10)
    make_user("chief", password=PASSWORD, is_superuser=True, is_staff=True)
    log_in(browser, site.url, "chief")

    # The badge lights while the bar crosses (the status WebSocket), and goes out after.
    script = "return document.querySelector('.tile[data-camera=yard]').dataset.motion"
    wait_until(lambda: browser.execute_script(script) == "1", 40, what="the motion badge")
    badge = browser.find_element(By.CSS_SELECTOR, ".tile[data-camera=yard] .motion-badge")
    assert badge.is_displayed()
    wait_until(lambda: browser.execute_script(script) == "0", 15, what="the badge to go out")
    event = wait_until(lambda: Event.objects.filter(end__isnull=False).first(), 10, what="the event saved")

    # /events/: the event with its thumbnail (a real JPEG, decoded by the browser).
    browser.get(f"{site.url}/events/")
    image = wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, f"[data-event='{event.pk}'] img"), 10,
                       what="the event's thumbnail")[0]  # fmt: skip
    wait_until(lambda: browser.execute_script("return arguments[0].naturalWidth", image) == 240, 10,
               what="the thumbnail decoded")  # fmt: skip

    # A click plays it in the page (tests/browser/test_visible_playback.py looks at that closely); its
    # "On the timeline" link opens the camera page, whose timeline marks the event.
    browser.find_element(By.CSS_SELECTOR, f"[data-event='{event.pk}'] .event-play").click()
    wait_until(lambda: browser.find_element(By.CSS_SELECTOR, ".event-player").is_displayed(), 10, what="the player")
    browser.find_element(By.CSS_SELECTOR, ".event-player-timeline").click()
    wait_until(lambda: "/cameras/yard/" in browser.current_url, 10, what="the camera page")
    marker = wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, ".timeline-event"), 15,
                        what="the event's marker on the timeline")[0]  # fmt: skip
    assert marker.size["width"] >= 1

    # A push notification's tap opens /events/?play=<id>: that event plays at once.
    browser.get(f"{site.url}/events/?play={event.pk}&camera=yard")
    player = wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, ".event-player:not([hidden])"), 15,
                        what="the tapped event playing")[0]  # fmt: skip
    assert player.get_attribute("data-event") == str(event.pk)


def test_the_zone_editor_draws_a_mask_into_the_field(browser, site, capture_process):
    camera = make_camera("gate", name="Gate", max_fps=5)
    make_user("chief", password=PASSWORD, is_superuser=True, is_staff=True)
    log_in(browser, site.url, "chief")
    browser.get(f"{site.url}/admin/cameras/camera/{camera.pk}/change/")
    canvas = wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, ".zone-editor canvas"), 15,
                        what="the zone editor")[0]  # fmt: skip
    picture = browser.find_element(By.CSS_SELECTOR, ".zone-editor img")
    wait_until(lambda: browser.execute_script("return arguments[0].naturalWidth", picture) > 0, 20,
               what="the snapshot under the editor")  # fmt: skip
    wait_until(lambda: canvas.size["height"] > 100, 5, what="the canvas over the snapshot")
    width, height = canvas.size["width"], canvas.size["height"]
    for fx, fy in ((0.1, 0.1), (0.5, 0.1), (0.5, 0.5)):  # offsets from the canvas' centre
        ActionChains(browser).move_to_element_with_offset(
            canvas, int((fx - 0.5) * width), int((fy - 0.5) * height)
        ).click().perform()
    browser.find_element(By.CSS_SELECTOR, ".zone-tools [data-action=mask]").click()
    masks = json.loads(browser.find_element(By.ID, "id_motion_masks").get_attribute("value"))
    assert len(masks) == 1 and len(masks[0]) == 3
    assert abs(masks[0][1][0] - 0.5) < 0.05 and abs(masks[0][0][1] - 0.1) < 0.05
    browser.find_element(By.CSS_SELECTOR, "input[name=_continue]").click()
    wait_until(lambda: Camera.objects.get(pk=camera.pk).motion_masks, 10, what="the mask saved")
