"""Every page works under the Content-Security-Policy: Chromium reports no violation.

The policy (nvr/settings.py) allows no inline script or style; a page that still had one would
log "Refused to ... because it violates the following Content Security Policy directive".
The other browser tests (grid, timeline, synchronized playback) run under the same policy.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from selenium.webdriver.common.by import By

from cameras.models import Camera
from tests.browser.test_dashboard import log_in
from tests.browser.test_review import review_site  # noqa: F401 - fixture
from tests.reliability.helpers import wait_until
from tests.support.recorded import T0, segment_files  # noqa: F401 - fixture

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_every_page_loads_without_a_csp_violation(browser, review_site):  # noqa: F811 - fixture
    log_in(browser, review_site.url, "chief")
    yard = Camera.objects.get(slug="yard")
    t = int((T0 + dt.timedelta(seconds=5)).timestamp())
    pages = [
        "/",
        f"/cameras/yard/?t={t}",
        f"/review/?cameras=yard,gate&t={t}",
        "/admin/",
        "/admin/cameras/camera/",
        f"/admin/cameras/camera/{yard.pk}/change/",
        "/admin/streaming/streamtoken/add/",
        "/admin/recordings/segment/",
        "/admin/password_change/",
        "/events/",
        "/events/?kind=health",
        "/push/",
        "/offline/",
        "/audit/",
        "/accounts/2fa/",
    ]
    browser.get_log("browser")  # drop what the login left
    violations: dict[str, list[str]] = {}
    for page in pages:
        browser.get(review_site.url + page)
        wait_until(lambda: browser.execute_script("return document.readyState") != "loading", 15, what=page)
        time.sleep(1.5)  # scripts run, hls.js attaches its media source and worker
        assert browser.find_elements(By.TAG_NAME, "h1") or browser.find_elements(By.CSS_SELECTOR, "[data-review]")
        if page.startswith("/review/"):
            assert browser.execute_script("return document.querySelectorAll('video').length") == 2
        logged = [entry["message"] for entry in browser.get_log("browser")]
        violations[page] = [m for m in logged if "Content Security Policy" in m]
    print("\nCSP violations per page:", {page: len(found) for page, found in violations.items()})
    assert not any(violations.values()), violations
