"""The admin's "Test connection" is no port scanner (issue #23, finding 2).

Before, it was open to view-only staff and answered "connection refused", "the server does not speak
RTSP" or "timed out", each after its own delay: pointing a camera at a port and testing it told
whether the port was open. Now it is for who may change cameras, says "reachable" or "not reachable",
answers every failure after NVR_CONNECTION_TEST_SECONDS (3 s in the tests), and a user may test
NVR_CONNECTION_TEST_LIMIT cameras per window. All three kinds of port are on loopback.
"""

from __future__ import annotations

import http.server
import threading
import time

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from tests.factories import make_camera, make_user
from tests.support.servers import SilentTcpServer
from tests.support.waiting import free_port

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

CHANGELIST = "/admin/cameras/camera/"
PORT_DETAIL = ("refused", "timed out", "RTSP", "answered", "network error", "does not speak")


def test_only_reachable_or_not_alike_for_every_kind_of_port_and_a_few_per_user(redis_url, settings):
    settings.NVR_CONNECTION_TEST_LIMIT = 5
    tester = make_user("tester", is_staff=True)
    tester.user_permissions.add(*Permission.objects.filter(codename__in=["view_camera", "change_camera"]))
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    silent = SilentTcpServer()
    cameras = {
        "closed": make_camera("closed", kind="rtsp", source=f"rtsp://127.0.0.1:{free_port()}/live"),
        "silent": make_camera("silent", kind="rtsp", source=silent.url("rtsp", "/live")),
        "http": make_camera("other", kind="rtsp", source=f"rtsp://127.0.0.1:{web.server_address[1]}/live"),
    }
    for camera in cameras.values():
        camera.allowed_users.add(tester)
    client = Client()
    client.force_login(tester)

    def test(*names: str) -> tuple[str, float]:
        started = time.monotonic()
        page = client.post(CHANGELIST, {"action": "test_connection",
                                        "_selected_action": [cameras[n].pk for n in names]}, follow=True)  # fmt: skip
        return page.content.decode(), time.monotonic() - started

    try:
        page, _ = test("closed", "silent", "http")
        assert page.count("Not reachable.") == 3
        assert not [word for word in PORT_DETAIL if word in page], page
        closed, closed_took = test("closed")
        _, silent_took = test("silent")
        print(f"\nnot reachable: a closed port after {closed_took:.2f} s, a silent one after {silent_took:.2f} s")
        assert "Not reachable." in closed
        assert closed_took >= 3.0 and silent_took >= 3.0  # every failure waits out the same answer time
        assert abs(closed_took - silent_took) < 1.0  # so timing tells nothing either
        # Five cameras tested in this window: the sixth is refused without a connection.
        refused, refused_took = test("closed")
        assert "Too many connection tests" in refused and "Not reachable." not in refused
        assert refused_took < 2.0
    finally:
        web.shutdown()
        web.server_close()
        silent.stop()
