"""Deleting a camera in the admin, as a person sees it (Chromium at 1440 and 390 px): the confirmation
says how much the camera recorded, the choice is on top and usable without scrolling sideways, and
choosing to keep the recordings makes an archive the superuser finds in the admin."""

from __future__ import annotations

import datetime as dt

import pytest
from selenium.webdriver.common.by import By

from recordings.models import Segment
from recordings.store import LocalStore, segment_key
from tests.browser.conftest import artifact, wait_until
from tests.factories import make_camera, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PASSWORD = "pw-delete-admin-1"

ON_TOP = """
const element = document.querySelector(arguments[0]);
const box = element.getBoundingClientRect();
const top = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
const style = getComputedStyle(element);
return {onTop: element === top || element.contains(top), opacity: style.opacity, visible: box.width > 0 && box.height > 0,
        sideways: document.documentElement.scrollWidth > window.innerWidth};
"""


def test_the_delete_page_says_how_much_and_keeping_makes_an_archive(browser, site, settings, tmp_path):
    settings.RECORDINGS_DIR = str(tmp_path / "store")  # the site reads its own store; only the index matters here
    make_user("root", password=PASSWORD, is_superuser=True, is_staff=True)
    camera = make_camera("porch", name="Porch")
    start = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
    for index in range(3):
        begun = start + dt.timedelta(seconds=10 * index)
        key = segment_key(str(camera.uid), begun)
        LocalStore(settings.RECORDINGS_DIR).put(key, b"x" * 1_000_000)
        Segment.objects.create(
            camera=camera, start=begun, end=begun + dt.timedelta(seconds=10), duration=10.0, bytes=1_000_000,
            codec="avc1.64001e", width=640, height=360, key=key,
        )  # fmt: skip
    browser.delete_all_cookies()
    browser.get(f"{site.url}/admin/login/")
    wait_until(lambda: browser.find_elements(By.ID, "id_username"), 15, message="the admin login")
    browser.find_element(By.ID, "id_username").send_keys("root")
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait_until(lambda: "/admin/login/" not in browser.current_url, 15, message="logged in")
    for width, height in ((1440, 900), (390, 844)):
        browser.set_window_size(width, height)
        browser.get(f"{site.url}/admin/cameras/camera/{camera.pk}/delete/")
        wait_until(lambda: browser.find_elements(By.ID, "footage-summary"), 15, message="the delete page")
        summary = browser.find_element(By.ID, "footage-summary").text
        assert summary.startswith("3 recorded segments, 2.9 MB, 30 seconds of video from 2026-12-01 12:00"), summary
        for selector in ("#footage-summary", "input[value=delete]", "input[value=keep]"):
            browser.execute_script("document.querySelector(arguments[0]).scrollIntoView({block: 'center'})", selector)
            seen = browser.execute_script(ON_TOP, selector)
            assert seen["visible"] and seen["onTop"] and seen["opacity"] == "1", (width, selector, seen)
            assert not seen["sideways"], (width, selector)
        shot = artifact(f"camera-delete-{width}.png")
        browser.save_screenshot(str(shot))
        print(f"\nSCREENSHOT camera delete at {width} px: {shot}")
        assert browser.find_element(By.CSS_SELECTOR, "input[value=delete]").is_selected()  # the default
    browser.find_element(By.CSS_SELECTOR, "input[value=keep]").click()
    browser.find_element(By.CSS_SELECTOR, "form input[type=submit]").click()
    wait_until(lambda: browser.current_url.endswith("/admin/cameras/camera/"), 15, message="back to the list")
    browser.get(f"{site.url}/admin/recordings/archive/")
    wait_until(lambda: "Porch" in browser.page_source, 15, message="the archive in the admin")
    assert Segment.objects.filter(archive__name="Porch").count() == 3
