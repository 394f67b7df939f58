"""`/cameras/<slug>/live.mp4`: the camera's own H.264 over HTTP, against a real RTSP camera, capture, Redis and uvicorn.

- ffprobe reads H.264 at the camera's size; `ffmpeg -i URL -c copy` writes a playable file;
- the bytes are the camera's: every NAL unit (SPS, PPS, SEI, slices) is one a direct PyAV read of the
  same RTSP camera got, and the stream starts with the init segment and a keyframe at once;
- the credentials are stream.mjpg's (none: 401; a token for another camera: 404), and a viewer whose
  token is revoked is cut within the re-check interval.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time

import httpx
import pytest

from cameras import fmp4
from tests.factories import make_camera, make_token, make_user
from tests.support.frames import wait_for_status
from tests.support.h264 import ffprobe_video, mp4_units, read_rtsp_units
from tests.support.processes import web_server
from tests.support.servers import RtspServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def stack(rtsp_available, capture_process, redis_url):
    rtsp = RtspServer(width=640, height=480, fps=15).start()
    admin = make_user("boss", is_superuser=True, is_staff=True)
    make_camera("gate", kind="rtsp", source=rtsp.url("/test"), max_fps=15)
    web = web_server(redis_url, NVR_STREAM_ACCESS_RECHECK="1").start()
    wait_for_status(redis_url, "gate", lambda s: s["state"] == "online", 20)
    yield web, rtsp, admin
    web.stop()
    rtsp.stop()


async def _read(url: str, seconds: float) -> tuple[bytes, float, str]:
    """Bytes of the stream for `seconds`, the time to its first byte, and its content type."""
    data = bytearray()
    started = time.monotonic()
    first = 0.0
    async with httpx.AsyncClient(timeout=20) as client, client.stream("GET", url) as response:
        assert response.status_code == 200
        async for piece in response.aiter_raw():
            if not data:
                first = time.monotonic() - started
            data.extend(piece)
            if time.monotonic() - started > seconds:
                break
        return bytes(data), first, response.headers["content-type"]


def test_live_mp4_is_the_cameras_own_h264(stack, tmp_path):
    web, rtsp, admin = stack
    _, token = make_token(user=admin)
    url = f"{web.url}/cameras/gate/live.mp4?token={token}"
    direct: list[bytes] = []
    stop = threading.Event()
    reader = threading.Thread(target=read_rtsp_units, args=(rtsp.url("/test"), stop, direct), daemon=True)
    reader.start()
    try:
        time.sleep(1.0)
        data, first_byte, content_type = asyncio.run(_read(url, 3.0))
    finally:
        stop.set()
        reader.join(10)
    assert content_type == "video/mp4"
    assert data[4:8] == b"ftyp"
    assert first_byte < 3.0, first_byte  # capture is asked for the stream, then it comes from a keyframe
    path = tmp_path / "live.mp4"
    path.write_bytes(data)
    ours = mp4_units(path)
    assert sum(fmp4.nal_type(u) == fmp4.NAL_SLICE_IDR for u in ours[:6]) == 1, "it starts with a keyframe"
    assert len([u for u in ours if fmp4.nal_type(u) in (1, 5)]) >= 20
    sent = set(direct)
    assert all(u in sent for u in ours), "every NAL unit as the camera sent it"

    probe = ffprobe_video(url, count=False)
    assert (probe["codec_name"], probe["width"], probe["height"]) == ("h264", 640, 480)
    copied = tmp_path / "copy.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", url, "-c", "copy", "-t", "2", str(copied)], check=True, timeout=60)
    probe = ffprobe_video(str(copied))
    assert (probe["codec_name"], probe["width"], probe["height"]) == ("h264", 640, 480)


def test_live_mp4_takes_stream_credentials_and_a_revoked_viewer_is_cut(stack):
    from django.utils import timezone

    web, _, admin = stack
    other = make_camera("other", source="160x120", max_fps=5)
    _, other_token = make_token(user=admin, camera=other)
    assert httpx.get(f"{web.url}/cameras/gate/live.mp4", timeout=10).status_code == 401
    assert httpx.get(f"{web.url}/cameras/gate/live.mp4?token={other_token}", timeout=10).status_code == 404
    row, token = make_token(user=admin)

    async def run() -> tuple[int, float]:
        received = 0
        revoked = 0.0
        async with (
            httpx.AsyncClient(timeout=20) as client,
            client.stream("GET", f"{web.url}/cameras/gate/live.mp4?token={token}") as response,
        ):
            assert response.status_code == 200
            try:
                async for piece in response.aiter_raw():
                    received += len(piece)
                    if received > 20_000 and not revoked:
                        row.revoked_at = timezone.now()
                        await row.asave()
                        revoked = time.monotonic()
            except httpx.HTTPError:
                pass  # cut: a broken transfer is an end too
        return received, time.monotonic() - revoked

    received, ended_after = asyncio.run(run())
    assert received > 20_000 and ended_after < 5, (received, ended_after)


def test_the_browser_socket_sends_the_codec_then_fmp4_and_closes_when_access_is_revoked(stack):
    from django.utils import timezone
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    web, _, admin = stack
    other = make_camera("other", source="160x120", max_fps=5)
    _, other_token = make_token(user=admin, camera=other)
    row, token = make_token(user=admin)
    base = web.url.replace("http://", "ws://")
    origin = web.url  # channels refuses a socket from another origin

    async def run() -> tuple[dict, bytes, int, float]:
        with pytest.raises(InvalidStatus):  # a token for another camera: the handshake is refused
            async with connect(f"{base}/ws/live/gate/?token={other_token}", origin=origin):  # type: ignore[arg-type]
                pass
        async with connect(f"{base}/ws/live/gate/?token={token}", origin=origin, max_size=None) as socket:  # type: ignore[arg-type]
            first = json.loads(await socket.recv())
            init = await socket.recv()
            fragments = 0
            while fragments < 5:
                assert isinstance(await socket.recv(), bytes)
                fragments += 1
            row.revoked_at = timezone.now()
            await row.asave()
            revoked = time.monotonic()
            try:
                while True:
                    await socket.recv()
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else 0
            return first, init, code, time.monotonic() - revoked

    first, init, code, ended_after = asyncio.run(run())
    assert first["type"] == "init" and first["codec"].startswith("avc1."), first
    assert init[4:8] == b"ftyp"
    assert code == 4403 and ended_after < 5, (code, ended_after)
