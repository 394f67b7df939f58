"""`/cameras/<slug>/live.mp4` of a camera with sound (AAC over RTSP), through capture, Redis and uvicorn.

ffprobe reads the URL as H.264 + AAC, `ffmpeg -i URL -c copy` writes a file with both tracks, and the
video's NAL units are still the camera's, byte for byte (a direct PyAV read of the same RTSP mount).
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time

import pytest

from tests.cameras.test_relay_sound import streams
from tests.factories import make_camera, make_token, make_user
from tests.streaming.test_live_mp4 import _read
from tests.support.frames import wait_for_status
from tests.support.h264 import mp4_units, read_rtsp_units
from tests.support.processes import web_server
from tests.support.servers import RtspServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_live_mp4_carries_the_cameras_sound(rtsp_available, capture_process, redis_url, tmp_path):
    rtsp = RtspServer(width=640, height=480, fps=15, mounts=("/porch:640x480:aac",)).start()
    admin = make_user("boss", is_superuser=True, is_staff=True)
    make_camera("porch", kind="rtsp", source=rtsp.url("/porch"), max_fps=15)
    web = web_server(redis_url).start()
    direct: list[bytes] = []
    stop = threading.Event()
    reader = threading.Thread(target=read_rtsp_units, args=(rtsp.url("/porch"), stop, direct), daemon=True)
    try:
        wait_for_status(redis_url, "porch", lambda s: s["state"] == "online", 20)
        _, token = make_token(user=admin)
        url = f"{web.url}/cameras/porch/live.mp4?token={token}"
        reader.start()
        time.sleep(1.0)
        data, _, content_type = asyncio.run(_read(url, 3.0))
        copied = tmp_path / "copy.mp4"
        subprocess.run(
            ["ffmpeg", "-v", "error", "-i", url, "-c", "copy", "-t", "2", str(copied)], check=True, timeout=60
        )
    finally:
        stop.set()
        reader.join(10)
        web.stop()
        rtsp.stop()
    assert content_type == "video/mp4"
    path = tmp_path / "live.mp4"
    path.write_bytes(data)
    found = streams(str(path))
    assert (found["video"]["codec_name"], found["video"]["width"]) == ("h264", 640), found
    assert (found["audio"]["codec_name"], int(found["audio"]["sample_rate"])) == ("aac", 16000), found
    assert int(found["audio"]["nb_read_packets"]) >= 20  # about 3 s of 64 ms frames
    copy = streams(str(copied))
    assert copy["video"]["codec_name"] == "h264" and copy["audio"]["codec_name"] == "aac", copy
    ours = mp4_units(path)
    assert len(ours) >= 20 and all(u in set(direct) for u in ours), "the video's NAL units as the camera sent them"
