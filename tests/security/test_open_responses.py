"""Every open response is re-checked on one schedule, and the stream fast path obeys Django's security settings.

Against a real uvicorn with NVR_STREAM_ACCESS_RECHECK=1. Before the viewer lifecycle, the
status WebSocket was never re-checked (a deactivated user kept receiving camera states), and
the fast path served stream URLs over plain HTTP although SECURE_SSL_REDIRECT was on.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.factories import make_camera, make_token, make_user
from tests.streaming.test_grid import log_in
from tests.support.processes import web_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_status_websocket_closes_when_the_user_loses_access(redis_url):
    camera = make_camera("front")
    operator = make_user("op-ws", password="pw-op-ws-1")
    camera.allowed_users.add(operator)
    server = web_server(redis_url, NVR_STREAM_ACCESS_RECHECK="1").start()
    try:
        cookie = log_in(server.url, "op-ws", "pw-op-ws-1")["sessionid"]

        async def scenario() -> tuple[int | None, float]:
            url = server.url.replace("http://", "ws://") + "/ws/status/"
            async with connect(url, origin=server.url, additional_headers={"Cookie": f"sessionid={cookie}"}) as ws:
                first = json.loads(await asyncio.wait_for(ws.recv(), 5))
                assert [c["slug"] for c in first["cameras"]] == ["front"]
                await camera.allowed_users.aremove(operator)
                removed = time.monotonic()
                try:
                    while time.monotonic() - removed < 10:
                        await asyncio.wait_for(ws.recv(), 10)
                except ConnectionClosed as closed:
                    return closed.rcvd.code if closed.rcvd else None, time.monotonic() - removed
                return None, time.monotonic() - removed

        code, after = asyncio.run(scenario())
    finally:
        server.stop()
    assert code == 4403, code
    assert after < 4.0, after


def test_stream_fast_path_follows_the_https_redirect(redis_url):
    admin = make_user("boss", is_superuser=True, is_staff=True)
    make_camera("front")
    _, token = make_token(user=admin)
    server = web_server(redis_url, SECURE_SSL_REDIRECT="1").start()
    try:
        for path in ("/cameras/front/stream.mjpg", "/grid/stream.mjpg"):
            response = httpx.get(f"{server.url}{path}?token={token}", timeout=5)
            assert response.status_code == 301, (path, response.status_code)
            assert response.headers["location"].startswith("https://"), response.headers["location"]
    finally:
        server.stop()


def _stream_until_it_ends(url: str, headers: dict[str, str], act, limit: float = 10.0) -> tuple[bool, float]:  # type: ignore[no-untyped-def]
    """Read a stream; after 3 parts call `act()`; (ended by the server, seconds from act to the end)."""
    import httpx as client_lib

    from tests.support.mjpeg import PartParser

    async def run() -> tuple[bool, float]:
        parser, parts, acted = PartParser(), 0, 0.0
        async with (
            client_lib.AsyncClient(timeout=20) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            assert response.status_code == 200, response.status_code
            async for data in response.aiter_raw():
                parts += len(parser.feed(data))
                if parts >= 3 and not acted:
                    await asyncio.to_thread(act)
                    acted = time.monotonic()
                if acted and time.monotonic() - acted > limit:
                    return False, time.monotonic() - acted
        return True, time.monotonic() - acted

    return asyncio.run(run())


def _publishing(redis_url: str, slug: str):  # type: ignore[no-untyped-def]
    """A thread publishing frames of `slug` every 0.2 s until stopped (no capture process needed)."""
    import threading

    import cv2
    import numpy as np

    from framebus import Frame
    from tests.support.frames import sync_bus

    stop = threading.Event()
    jpeg = cv2.imencode(".jpg", np.zeros((48, 64, 3), np.uint8))[1].tobytes()

    def run() -> None:
        bus, seq = sync_bus(redis_url), 0
        while not stop.wait(0.2):
            seq += 1
            bus.publish_frame(slug, Frame(seq, time.time(), 64, 48, jpeg))
        bus.close()

    threading.Thread(target=run, daemon=True).start()
    return stop


def test_logging_out_ends_the_sessions_streams(redis_url):
    camera = make_camera("front")
    operator = make_user("op-out", password="pw-op-out-1")
    camera.allowed_users.add(operator)
    stop = _publishing(redis_url, "front")
    server = web_server(redis_url, NVR_STREAM_ACCESS_RECHECK="1").start()
    try:
        import re

        with httpx.Client(base_url=server.url, timeout=10) as browser:
            form = browser.get("/accounts/login/")
            csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
            browser.post("/accounts/login/", data={"username": "op-out", "password": "pw-op-out-1",
                                                   "csrfmiddlewaretoken": csrf, "next": "/"})  # fmt: skip
            cookies = f"sessionid={browser.cookies['sessionid']}; csrftoken={browser.cookies['csrftoken']}"

            def log_out() -> None:
                response = browser.post("/accounts/logout/", headers={"X-CSRFToken": browser.cookies["csrftoken"]})
                assert response.status_code == 302

            ended, after = _stream_until_it_ends(
                f"{server.url}/cameras/front/stream.mjpg", {"Cookie": cookies}, log_out
            )
    finally:
        stop.set()
        server.stop()
    assert ended and after < 4.0, after


def test_a_password_change_ends_basic_streams_and_voids_the_old_header(redis_url):
    import base64

    camera = make_camera("front")
    operator = make_user("op-basic", password="pw-op-basic-1")
    camera.allowed_users.add(operator)
    stop = _publishing(redis_url, "front")
    server = web_server(redis_url, NVR_STREAM_ACCESS_RECHECK="1").start()
    header = {"Authorization": "Basic " + base64.b64encode(b"op-basic:pw-op-basic-1").decode()}

    def change_password() -> None:
        operator.set_password("pw-op-basic-2")
        operator.save()

    try:
        ended, after = _stream_until_it_ends(f"{server.url}/cameras/front/stream.mjpg", header, change_password)
        again = httpx.get(f"{server.url}/cameras/front/snapshot.jpg", headers=header, timeout=10)
    finally:
        stop.set()
        server.stop()
    assert ended and after < 4.0, after
    assert again.status_code == 401  # the old password opens nothing new, although its check was cached


def test_a_revoked_stream_whose_viewer_stopped_reading_is_let_go(redis_url):
    """Revoked while its client reads nothing: the stream's last write cannot complete, so the connection is
    aborted at the write deadline (before, it was closed, which waits for a buffer the client never drains)."""
    import threading

    import cv2
    import numpy as np

    from framebus import Frame
    from tests.reliability.helpers import wait_until
    from tests.support.frames import sync_bus
    from tests.support.mjpeg import RawViewer
    from tests.support.sockets import held

    make_camera("front")
    row, token = make_token(user=make_user("boss", is_superuser=True))
    noise = np.random.default_rng(1).integers(0, 255, (480, 640, 3), np.uint8)
    jpeg = cv2.imencode(".jpg", noise, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()  # ~200 KB: buffers fill at once
    stop = threading.Event()

    def publish() -> None:
        bus, seq = sync_bus(redis_url), 0
        while not stop.wait(0.2):
            seq += 1
            bus.publish_frame("front", Frame(seq, time.time(), 640, 480, jpeg))
        bus.close()

    threading.Thread(target=publish, daemon=True).start()
    server = web_server(redis_url, NVR_STREAM_ACCESS_RECHECK="1", NVR_STREAM_WRITE_DEADLINE="3").start()
    try:

        async def scenario() -> float:
            viewer = RawViewer(server.port, f"/cameras/front/stream.mjpg?token={token}", rcvbuf=4096)
            await viewer.connect()
            assert viewer.writer is not None
            port = viewer.writer.get_extra_info("sockname")[1]
            await asyncio.sleep(0.5)  # it reads nothing from here on
            from django.utils import timezone

            row.revoked_at = timezone.now()
            await row.asave()
            revoked = time.monotonic()
            await asyncio.to_thread(wait_until, lambda: not held(server.port, port), 15, "the stalled stream let go")
            viewer.close()
            return time.monotonic() - revoked

        after = asyncio.run(scenario())
    finally:
        stop.set()
        server.stop()
    print(f"\nrevoked stalled stream let go after {after:.1f} s (re-check 1 s, write deadline 3 s)")
    assert after < 8.0, after
