"""Streams and snapshots against a real uvicorn, capture supervisor and Redis, read by real clients."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import time

import cv2
import httpx
import pytest

from tests.factories import make_camera, make_token, make_user
from tests.support.frames import decode, wait_for_status
from tests.support.mjpeg import read_parts

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def stack(live_web, capture_process, redis_url):
    """A superuser token, one 320x240 camera at 10 fps, captured and served."""
    admin = make_user("boss", is_superuser=True, is_staff=True)
    make_camera("front", source="320x240", max_fps=10)
    _, token = make_token(user=admin)
    wait_for_status(redis_url, "front", lambda s: s["state"] == "online", 15)
    return live_web, token


def test_parts_have_the_headers_clients_need(stack):
    web, token = stack
    check_parts(web.url, token)


def test_daphne_serves_the_same_stream(stack, redis_url):
    """Under uvicorn the feed writes parts itself (nvr.server.DirectWrite); daphne (`runserver`) gets them
    through ASGI sends: both must give clients the same stream."""
    from tests.support.processes import web_server

    _, token = stack
    server = web_server(redis_url, server="daphne").start()
    try:
        check_parts(server.url, token)
    finally:
        server.stop()


def check_parts(base_url: str, token: str) -> None:
    async def run():
        async with httpx.AsyncClient(timeout=10) as client:
            return await read_parts(client, f"{base_url}/cameras/front/stream.mjpg?token={token}", 12)

    response, parts = asyncio.run(run())
    assert response.status_code == 200
    assert response.headers["content-type"] == "multipart/x-mixed-replace; boundary=frame"
    assert "no-store" in response.headers["cache-control"]
    assert "content-encoding" not in response.headers
    assert len(parts) == 12
    for part in parts:
        assert part.headers["content-type"] == "image/jpeg"
        assert int(part.headers["content-length"]) == len(part.jpeg)
        assert abs(part.timestamp - time.time()) < 5
    assert decode(parts[-1].jpeg).shape == (240, 320, 3)
    stamps = [p.timestamp for p in parts[1:]]
    assert stamps == sorted(stamps)


def test_ffmpeg_reads_frames_with_a_token_and_with_basic_auth(stack, tmp_path):
    web, token = stack
    port = web.port
    for name, url in [
        ("token", f"{web.url}/cameras/front/stream.mjpg?token={token}"),
        ("basic", f"http://boss:pw-operator-1@127.0.0.1:{port}/cameras/front/stream.mjpg"),
    ]:
        out = tmp_path / f"{name}-%02d.jpg"
        result = subprocess.run(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", url, "-frames:v", "20", str(out)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        files = sorted(tmp_path.glob(f"{name}-*.jpg"))
        assert len(files) == 20
        assert decode(files[-1].read_bytes()).shape == (240, 320, 3)


def test_opencv_reads_frames_with_a_token(stack):
    web, token = stack
    capture = cv2.VideoCapture(f"{web.url}/cameras/front/stream.mjpg?token={token}", cv2.CAP_FFMPEG)
    try:
        assert capture.isOpened()
        shapes = []
        for _ in range(10):
            ok, frame = capture.read()
            assert ok
            shapes.append(frame.shape)
        assert set(shapes) == {(240, 320, 3)}
    finally:
        capture.release()


def test_snapshot_decodes_and_width_scales(stack):
    web, token = stack
    response = httpx.get(f"{web.url}/cameras/front/snapshot.jpg?token={token}", timeout=10)
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert "no-store" in response.headers["cache-control"]
    assert decode(response.content).shape == (240, 320, 3)
    small = httpx.get(f"{web.url}/cameras/front/snapshot.jpg?token={token}&width=160", timeout=10)
    assert decode(small.content).shape == (120, 160, 3)


def test_width_option_streams_a_smaller_variant(stack):
    web, token = stack

    async def run():
        async with httpx.AsyncClient(timeout=15) as client:
            return await read_parts(client, f"{web.url}/cameras/front/stream.mjpg?token={token}&width=160", 8)

    _, parts = asyncio.run(run())
    assert decode(parts[-1].jpeg).shape == (120, 160, 3)


def test_fps_option_limits_the_rate(stack):
    web, token = stack

    async def run():
        async with httpx.AsyncClient(timeout=15) as client:
            started = time.monotonic()
            _, parts = await read_parts(client, f"{web.url}/cameras/front/stream.mjpg?token={token}&fps=2", 7)
            return time.monotonic() - started, parts

    elapsed, parts = asyncio.run(run())
    assert len(parts) == 7
    assert elapsed >= 2.4  # 6 intervals at 2 fps = 3 s (first part is immediate)


def test_snapshot_is_503_when_the_camera_has_no_frame(live_web, redis_url):
    admin = make_user("boss", is_superuser=True)
    make_camera("dark", source="320x240")  # no capture process runs in this test
    _, token = make_token(user=admin)
    response = httpx.get(f"{live_web.url}/cameras/dark/snapshot.jpg?token={token}", timeout=10)
    assert response.status_code == 503
    assert "offline" in response.text


def test_offline_frame_is_shown_while_no_frames_come(live_web, redis_url):
    admin = make_user("boss", is_superuser=True)
    make_camera("dark", name="Dark Room", source="320x240")
    _, token = make_token(user=admin)

    async def run():
        async with httpx.AsyncClient(timeout=15) as client:
            return await read_parts(client, f"{live_web.url}/cameras/dark/stream.mjpg?token={token}", 2)

    response, parts = asyncio.run(run())
    assert response.status_code == 200 and len(parts) == 2
    image = decode(parts[0].jpeg)
    assert image.mean() < 80  # the dark offline card, not a camera picture


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_access_control(live_web, redis_url):
    admin = make_user("boss", is_superuser=True)
    operator = make_user("op", password="op-pass-1")
    mine = make_camera("mine", source="160x120", password="MARKER-cam-pw", username="u")
    make_camera("theirs", source="160x120")
    mine.allowed_users.add(operator)
    revoked, revoked_token = make_token(user=admin)
    from django.utils import timezone

    revoked.revoked_at = timezone.now()
    revoked.save()
    _, camera_token = make_token(user=admin, camera=mine)  # every token has an owner
    base = live_web.url

    def get(path: str, **kwargs) -> httpx.Response:
        return httpx.get(base + path, timeout=10, **kwargs)

    for path in ["/cameras/mine/snapshot.jpg", "/cameras/theirs/stream.mjpg", "/api/cameras/"]:
        anonymous = get(path)
        assert anonymous.status_code == 401 and "Basic" in anonymous.headers["www-authenticate"]
    assert get("/cameras/mine/snapshot.jpg?token=nvr_wrongwrongwrong").status_code == 401
    assert get(f"/cameras/mine/snapshot.jpg?token={revoked_token}").status_code == 401
    assert get("/cameras/mine/snapshot.jpg", headers=basic("op", "wrong")).status_code == 401
    assert get("/cameras/mine/snapshot.jpg", headers={"Authorization": "Basic !!!notbase64"}).status_code == 401
    # Allowed camera: 503 (no capture here) rather than 401/404; forbidden and unknown look alike.
    assert get("/cameras/mine/snapshot.jpg", headers=basic("op", "op-pass-1")).status_code == 503
    assert get("/cameras/theirs/snapshot.jpg", headers=basic("op", "op-pass-1")).status_code == 404
    assert get("/cameras/nosuch/snapshot.jpg", headers=basic("op", "op-pass-1")).status_code == 404
    # A per-camera token opens that camera only.
    assert get(f"/cameras/mine/snapshot.jpg?token={camera_token}").status_code == 503
    assert get(f"/cameras/theirs/snapshot.jpg?token={camera_token}").status_code == 404
    listing = get("/api/cameras/", headers=basic("op", "op-pass-1"))
    assert [c["slug"] for c in listing.json()["cameras"]] == ["mine"]
    assert "MARKER-cam-pw" not in listing.text
    # Bad options are clean 400s.
    for query in ["fps=abc", "fps=0", "width=5", "width=1e9", "fps=nan"]:
        assert get(f"/cameras/mine/stream.mjpg?{query}", headers=basic("op", "op-pass-1")).status_code == 400


def test_revoking_a_token_ends_its_open_streams(redis_url, capture_process):
    from django.utils import timezone

    from tests.support.processes import web_server

    admin = make_user("boss", is_superuser=True)
    make_camera("front", source="160x120", max_fps=5)
    row, token = make_token(user=admin)
    wait_for_status(redis_url, "front", lambda s: s["state"] == "online", 15)
    server = web_server(redis_url, NVR_STREAM_ACCESS_RECHECK="1").start()
    try:

        async def run():
            received = 0
            async with (
                httpx.AsyncClient(timeout=20) as client,
                client.stream("GET", f"{server.url}/cameras/front/stream.mjpg?token={token}") as response,
            ):
                from tests.support.mjpeg import iter_parts

                async for _ in iter_parts(response):
                    received += 1
                    if received == 3:
                        row.revoked_at = timezone.now()
                        await row.asave()
                        revoked = time.monotonic()
            return received, time.monotonic() - revoked

        received, ended_after = asyncio.run(run())
        assert received >= 3 and ended_after < 5, (received, ended_after)
    finally:
        server.stop()
