"""A camera page's live picture comes back by itself after the web server restarts under it.

A browser never reopens an <img> stream that ended: the page reopens it when its status socket
returns (static/nvr/camera.js), on the jittered schedule of static/nvr/reconnect.js.
"""

from __future__ import annotations

import pytest

from tests.browser.test_dashboard import PASSWORD, log_in, start_cameras
from tests.factories import make_user
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# The picture's pixels as a short string: the test pattern's clock changes it with every frame.
PICTURE = """
const img = document.querySelector('img.live');
if (!img || !img.naturalWidth) return null;
const canvas = document.createElement('canvas');
canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
const context = canvas.getContext('2d');
context.drawImage(img, 0, 0);
const data = context.getImageData(0, Math.floor(canvas.height * 0.8), canvas.width, Math.floor(canvas.height * 0.15)).data;
let sum = 0;
for (let i = 0; i < data.length; i += 7) sum = (sum * 31 + data[i]) % 1000000007;
return sum;
"""


def moving(browser) -> bool:
    """The picture changes within two seconds."""
    first = browser.execute_script(PICTURE)
    if first is None:
        return False
    try:
        wait_until(lambda: browser.execute_script(PICTURE) not in (None, first), 2, "a new frame")
    except AssertionError:
        return False
    return True


def test_the_camera_page_picture_returns_after_a_server_restart(browser, site, capture_process, redis_url):
    camera = start_cameras(1, redis_url, "page-")[0]
    make_user("chief", password=PASSWORD, is_superuser=True, is_staff=True)
    log_in(browser, site.url, "chief")
    browser.get(f"{site.url}/cameras/{camera.slug}/")
    wait_until(lambda: moving(browser), 15, what="the live picture moving")

    site.stop()
    site.start()
    reopened = wait_until(
        lambda: "attempt=" in browser.execute_script("return document.querySelector('img.live').src"),
        10,
        what="the picture reopened",
    )
    assert reopened
    wait_until(lambda: moving(browser), 10, what="the live picture moving again after the restart")
