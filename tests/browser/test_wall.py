"""The wall in Chromium: a group of 20 in 3 x 3 cycles through 3 pages; kiosk mode has no chrome and
comes back by itself after the web server restarts under it, on one URL with a token made for the group;
a tile enlarges and Escape returns."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from cameras.models import CameraGroup, GroupMember
from streaming.models import DashboardPreference
from tests.browser.test_dashboard import PASSWORD, log_in, start_cameras, tiles_state
from tests.factories import make_token, make_user
from tests.reliability.helpers import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def big_group(redis_url, capture_process):
    cameras = start_cameras(20, redis_url, "wall-")
    chief = make_user("chief", password=PASSWORD, is_superuser=True, is_staff=True)
    group = CameraGroup.objects.create(name="Everything", slug="big")
    for position, camera in enumerate(cameras):
        GroupMember.objects.create(group=group, camera=camera, position=position)
    DashboardPreference.objects.create(user=chief, group=group, layout="3")
    return group


def page_of(browser) -> int:
    return int(browser.execute_script("return document.getElementById('grid').dataset.page"))


def test_a_kiosk_cycles_its_pages_and_survives_a_server_restart(browser, site, big_group):
    """The wall screen's one URL: a token made for the group, no login."""
    row, token = make_token(user=big_group.preferences.get().user, name="Wall")
    row.group = big_group
    row.save()
    browser.delete_all_cookies()
    browser.get(f"{site.url}/?kiosk=1&cycle=3&token={token}")
    wait_until(lambda: browser.find_elements(By.ID, "grid"), 15, what="the kiosk grid")
    # No chrome on a wall: the server renders none, so none shows while the stylesheet loads (before, the
    # header was rendered and hidden by CSS, and a check made before the CSS applied found it displayed).
    assert browser.find_elements(By.CSS_SELECTOR, ".topbar, .skip-link") == []
    wait_until(lambda: browser.execute_script("return getComputedStyle(document.body).cursor") == "none", 10,
               what="the cursor hidden once the stylesheet applies")  # fmt: skip
    seen = [page_of(browser)]
    for _ in range(3):  # 20 cameras in 3 x 3: pages 1, 2, 3 and round to 1
        wait_until(lambda: browser.find_elements(By.ID, "grid") and page_of(browser) != seen[-1], 12,
                   what="the next page")  # fmt: skip
        seen.append(page_of(browser))
    assert seen == [1, 2, 3, 1], seen
    assert len(browser.find_elements(By.CSS_SELECTOR, ".tile")) == 9

    # The web server restarts under the wall: pictures come back with nobody touching it.
    browser.get(f"{site.url}/?kiosk=1&cycle=0&token={token}")
    wait_until(lambda: tiles_state(browser) and all(f > 0 for _, f, _ in tiles_state(browser).values()), 20,
               what="pictures in every tile")  # fmt: skip
    site.stop()
    site.start()
    before = {slug: frames for slug, (_, frames, _) in tiles_state(browser).items()}
    wait_until(lambda: all(f > before[s] + 3 for s, (_, f, _) in tiles_state(browser).items()), 30,
               what="every tile drawing again after the restart")  # fmt: skip


def test_a_tile_enlarges_and_escape_returns(browser, site, big_group):
    log_in(browser, site.url, "chief")
    browser.get(f"{site.url}/?group=big")
    tile = wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, ".tile"), 15, what="the tiles")[0]
    ActionChains(browser).double_click(tile).perform()
    wait_until(lambda: "enlarged" in tile.get_attribute("class"), 5, what="the enlarged tile")
    shown = [t for t in browser.find_elements(By.CSS_SELECTOR, ".tile") if t.is_displayed()]
    assert shown == [tile] and "/?group=big" in browser.current_url  # no navigation to the camera page
    ActionChains(browser).send_keys(Keys.ESCAPE).perform()
    wait_until(lambda: len([t for t in browser.find_elements(By.CSS_SELECTOR, ".tile") if t.is_displayed()]) == 9,
               5, what="the grid back")  # fmt: skip
