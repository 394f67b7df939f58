"""/exports/ in Chromium at 1440 and 390 px: a staff user limited to one camera asks for an export with the
form, the page follows it to "Download ZIP" without a reload, and the link is on top, opaque, and
the page does not scroll sideways; the downloaded ZIP verifies."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import httpx
import pytest
from selenium.webdriver.common.by import By

from exports.models import Export
from tests.browser.conftest import artifact
from tests.browser.seen import Widths, assert_fits
from tests.browser.test_dashboard import PASSWORD, log_in
from tests.factories import make_user
from tests.reliability.helpers import wait_until
from tests.support.processes import ROOT, web_server
from tests.support.recorded import T0, record_camera

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ON_TOP = """
const node = arguments[0], box = node.getBoundingClientRect();
const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
let opacity = 1;
for (let n = node; n && n !== document.documentElement; n = n.parentElement) opacity *= Number(getComputedStyle(n).opacity);
return {onTop: !!hit && (hit === node || node.contains(hit)), opacity, width: box.width, height: box.height};
"""


def assert_on_top(driver, element, what: str) -> None:  # type: ignore[no-untyped-def]
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    report = driver.execute_script(ON_TOP, element)
    assert report["onTop"] and report["opacity"] == 1 and report["width"] > 20 and report["height"] > 10, (what, report)


def test_an_export_is_asked_for_followed_and_downloaded(
    browser, redis_url, settings, tmp_path, static_root, segment_files
):
    store = str(tmp_path / "store")
    yard, _ = record_camera("yard", segment_files, store)
    record_camera("gate", segment_files, store)
    user = make_user("yardkeeper", password=PASSWORD, is_staff=True)
    yard.allowed_users.add(user)
    web = web_server(
        redis_url,
        STATIC_ROOT=str(static_root),
        RECORDINGS_DIR=store,
        NVR_EXPORTS_DIR=str(tmp_path / "exports"),
        NVR_EXPORT_KEY_FILE=str(tmp_path / "keys" / "signing.key"),
    ).start()
    try:
        log_in(browser, web.url, "yardkeeper")
        widths = Widths(browser)
        for label, width in widths.each():
            browser.get(f"{web.url}/exports/")
            boxes = wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "input[name=cameras]"), 15,
                               what=f"the export form at {label} (at {browser.current_url})")  # fmt: skip
            assert [b.get_attribute("value") for b in boxes] == ["yard"]  # only the camera this user sees
            assert_on_top(browser, browser.find_element(By.CSS_SELECTOR, ".export-form button[type=submit]"), label)
            assert_fits(browser, f"/exports/ at {label}", width)
            if label == "1440":
                begin, end = (
                    T0.strftime("%Y-%m-%dT%H:%M:%S"),
                    (T0 + dt.timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%S"),
                )
                browser.execute_script(
                    "document.querySelector('[name=start]').value = arguments[0];"
                    "document.querySelector('[name=end]').value = arguments[1];", begin, end,
                )  # fmt: skip
                boxes[0].click()
                browser.find_element(By.CSS_SELECTOR, ".export-form button[type=submit]").click()
                link = wait_until(
                    lambda: [e for e in browser.find_elements(By.CSS_SELECTOR, ".export-download") if e.is_displayed()],
                    60, what="the export's download link, shown by the page itself",
                )[0]  # fmt: skip
            else:
                link = browser.find_element(By.CSS_SELECTOR, ".export-download")
            assert link.is_displayed()
            assert not browser.find_element(By.CSS_SELECTOR, ".export-progress").is_displayed()
            assert_on_top(browser, link, f"Download ZIP at {label}")
            assert_fits(browser, f"/exports/ with an export at {label}", width)
            browser.save_screenshot(str(artifact(f"exports-{label}.png")))
        # A superuser's top bar has one link more (Audit): it still fits a phone.
        make_user("chief", password=PASSWORD, is_staff=True, is_superuser=True)
        log_in(browser, web.url, "chief")
        widths.phone()
        browser.get(f"{web.url}/exports/")
        assert_fits(browser, "/exports/ for a superuser at 390", 390)
        browser.save_screenshot(str(artifact("exports-superuser-390.png")))
        widths.desktop()
        export = Export.objects.get()
        assert export.camera_slugs == ["yard"]
        cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
        response = httpx.get(f"{web.url}/exports/{export.pk}/download", cookies=cookies, timeout=30)
        assert response.status_code == 200
        (tmp_path / "export.zip").write_bytes(response.content)
        checked = subprocess.run(
            [sys.executable, "-I", str(ROOT / "scripts" / "verify_export.py"), str(tmp_path / "export.zip")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert checked.returncode == 0, checked.stdout
    finally:
        web.stop()
