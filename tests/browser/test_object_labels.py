"""Object labels as a person sees them, in Chromium at 1440 px and 390 px: the grid tile's badge (from the
camera's status, which carries the open object events' labels), the event list's label and its filter,
and the label on the camera's timeline marker."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.conf import settings
from selenium.webdriver.common.by import By

from events.models import Event
from framebus import SyncBus
from framebus.status import CameraStatus, State
from tests.browser.seen import Widths, assert_fits
from tests.browser.test_dashboard import PASSWORD, log_in
from tests.factories import make_camera, make_user
from tests.reliability.helpers import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ON_TOP = """
const element = arguments[0], box = element.getBoundingClientRect();
const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
let opacity = 1, filtered = false;
for (let node = element; node && node.nodeType === 1; node = node.parentElement) {
  const style = getComputedStyle(node);
  opacity *= parseFloat(style.opacity);
  filtered = filtered || style.filter !== "none";
}
return {top: hit === element || element.contains(hit), opacity, filtered, width: box.width, height: box.height};
"""


def assert_shown(driver, element, what: str) -> None:  # type: ignore[no-untyped-def]
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    seen = driver.execute_script(ON_TOP, element)
    assert seen["top"] and seen["opacity"] == 1 and not seen["filtered"], (what, seen)
    assert seen["width"] > 10 and seen["height"] > 8, (what, seen)


class StatusWriter(threading.Thread):
    """Writes the camera's status as its capture loop would, with `objects` as the detector left them."""

    def __init__(self, bus: SyncBus, slug: str) -> None:
        super().__init__(daemon=True)
        self.bus, self.slug, self.objects = bus, slug, "person"
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            now = time.time()
            status = CameraStatus(State.ONLINE, fps=10, width=320, height=240, last_frame_ts=now, updated_ts=now,
                                  motion=bool(self.objects), objects=self.objects)  # fmt: skip
            self.bus.write_status(self.slug, status.to_fields())
            self.stop.wait(0.5)


def test_labels_on_the_grid_the_events_page_and_the_timeline(browser, site, redis_url):
    camera = make_camera("yard", name="Yard")
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)
    event = Event.objects.create(camera=camera, start=start, end=start + dt.timedelta(seconds=20), label="person",
                                 best_score=0.87)  # fmt: skip
    make_user("chief", password=PASSWORD, is_superuser=True, is_staff=True)
    bus = SyncBus(redis_url, namespace=settings.NVR_REDIS_NAMESPACE)
    writer = StatusWriter(bus, "yard")
    writer.start()
    try:
        log_in(browser, site.url, "chief")
        tile = "return document.querySelector('.tile[data-camera=yard]').dataset.objects"
        wait_until(lambda: browser.execute_script(tile) == "person", 20, what="the objects on the tile")
        widths = Widths(browser)
        for name, width in widths.each():
            badge = browser.find_element(By.CSS_SELECTOR, ".tile[data-camera=yard] .objects-badge")
            assert badge.is_displayed() and badge.text == "person", name
            assert_shown(browser, badge, f"the tile's badge at {name}")
            assert_fits(browser, f"the grid at {name}", width)
            browser.save_screenshot(f"/tmp/nvr-object-grid-{name}.png")
        writer.objects = ""  # the person left: the badge goes (its hidden attribute, never a CSS rule)
        wait_until(lambda: browser.execute_script(tile) == "", 10, what="the badge to go")
        assert not browser.find_element(By.CSS_SELECTOR, ".tile[data-camera=yard] .objects-badge").is_displayed()

        browser.get(f"{site.url}/events/?label=person")
        for name, width in widths.each():
            label = browser.find_element(By.CSS_SELECTOR, f"[data-event='{event.pk}'] .event-label")
            assert label.text == "person", name
            assert_shown(browser, label, f"the event's label at {name}")
            assert_fits(browser, f"/events/ at {name}", width)
        chosen = browser.find_element(By.CSS_SELECTOR, "select[name=label] option:checked")
        assert chosen.get_attribute("value") == "person"

        browser.get(f"{site.url}/cameras/yard/")
        marker = wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, ".timeline-object[data-label=person]"), 15,
                            what="the object's marker on the timeline")[0]  # fmt: skip
        assert marker.size["width"] >= 1
        content = browser.execute_script("return getComputedStyle(arguments[0], '::after').content", marker)
        assert content == '"person"'
        browser.save_screenshot("/tmp/nvr-object-labels.png")
    finally:
        writer.stop.set()
        writer.join(5)
        bus.close()
