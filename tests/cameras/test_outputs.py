"""Capture outputs: a new kind plugs in through the protocol alone, and pictures are decoded only when asked for.

- an output written here (it counts packets and pictures) gets every packet of a real RTSP camera
  and the pictures at the rate it asks for, without a line of the capture loop knowing it;
- an RTSP camera that is recorded, has motion off and is watched by nobody decodes nothing (counted),
  while its segments are written; a viewer (a stream's want, or a snapshot) starts decoding at once,
  from the packets kept since the last keyframe.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from itertools import pairwise

import httpx
import numpy as np
import pytest

from cameras.config import CameraConfig
from cameras.outputs import CaptureOutput
from cameras.workers import CaptureLoop
from tests.factories import make_camera, make_token, make_user
from tests.reliability.helpers import wait_until
from tests.support.frames import collect_frames, sync_bus, wait_for_status
from tests.support.servers import RtspServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture(scope="module")
def rtsp(rtsp_available):
    server = RtspServer(width=640, height=480, fps=15).start()
    yield server
    server.stop()


class CountingOutput:
    """A kind of output the capture code has never heard of: it counts what it is given."""

    def __init__(self, fps: float | None) -> None:
        self.fps = fps
        self.packets: list[tuple[str, int | None]] = []
        self.frames: list[tuple[tuple[int, ...], float, float]] = []  # (shape, ts, received)
        self.disconnects: list[str] = []

    def frame_interval(self) -> float | None:
        return 1.0 / self.fps if self.fps else None

    def packet(self, packet: object) -> None:
        self.packets.append((packet.stream.type, packet.dts))  # type: ignore[attr-defined]

    def frame(self, image: np.ndarray, ts: float) -> None:
        self.frames.append((image.shape, ts, time.monotonic()))

    def disconnected(self, reason: str) -> None:
        self.disconnects.append(reason)

    def status(self) -> Mapping[str, object]:
        return {}


def test_an_output_written_elsewhere_gets_every_packet_and_the_pictures_it_asks_for(rtsp, redis_url):
    config = CameraConfig(slug="gate", name="Gate", kind="rtsp", source=rtsp.url("/test"), max_fps=15)
    sampler, listener = CountingOutput(fps=5), CountingOutput(fps=None)
    assert isinstance(sampler, CaptureOutput) and isinstance(listener, CaptureOutput)
    loop = CaptureLoop(config, sync_bus(redis_url), [sampler, listener], backoff_cap=1.0)
    loop.start()
    try:
        wait_until(lambda: len(sampler.frames) >= 3, 20, "the first pictures")
        window_start, frames_before, packets_before = time.monotonic(), len(sampler.frames), len(listener.packets)
        time.sleep(3.0)
        window = time.monotonic() - window_start
        frames, packets = len(sampler.frames) - frames_before, len(listener.packets) - packets_before
    finally:
        loop.stop()
        loop.join(10)
    assert 3.5 <= frames / window <= 6.0, frames / window  # the 5 per second it asked for, of the camera's 15
    assert 12 <= packets / window <= 18, packets / window  # every packet the camera sent
    assert sampler.frames[-1][0] == (480, 640, 3)
    assert listener.frames == []  # it asked for no pictures
    assert sampler.packets == listener.packets  # both outputs get the same packets, in order
    assert {kind for kind, _ in listener.packets} == {"video"}
    dts = [d for _, d in listener.packets]
    assert all(b > a for a, b in pairwise(dts))  # checked timestamps: always increasing
    assert sampler.disconnects == ["stopped"] and listener.disconnects == ["stopped"]


def test_a_camera_only_recorded_decodes_nothing_until_someone_watches(
    rtsp, redis_url, supervisor_thread, settings, live_web
):
    from recordings.models import Segment

    settings.RECORDINGS_SEGMENT_SECONDS = 1.0
    camera = make_camera("gate", kind="rtsp", source=rtsp.url("/test"), max_fps=15, record="continuous", motion=False)
    supervisor_thread(keep_recordings=False)
    wait_for_status(redis_url, "gate", lambda s: s["state"] == "online", 20)
    wait_until(lambda: Segment.objects.filter(camera=camera).count() >= 3, 30, "three recorded segments")
    idle = wait_for_status(redis_url, "gate", lambda s: s["frames"] >= 30, 10)
    assert idle["decoded"] == 0, idle  # recorded, no motion, nobody watching: not one picture decoded
    assert (idle["width"], idle["height"]) == (640, 480)  # known from the stream, without decoding
    assert idle["fps"] > 10 and idle["recording"] == "recording"

    # A snapshot asks for a picture and gets one at once: decoded from the packets kept since the keyframe.
    _, token = make_token(user=make_user("boss", is_superuser=True))
    asked = time.monotonic()
    response = httpx.get(f"{live_web.url}/cameras/gate/snapshot.jpg?token={token}", timeout=10)
    took = time.monotonic() - asked
    assert response.status_code == 200 and response.content[:2] == b"\xff\xd8", response.text[:200]
    assert took < 2.5, took  # one read of what viewers want (0.5 s), the kept packets decoded, one JPEG
    # A viewer of the stream: pictures at the camera's rate, now decoded.
    frames = collect_frames(redis_url, "gate", 2.0)
    assert len(frames) >= 24, len(frames)
    watched = wait_for_status(redis_url, "gate", lambda s: s["decoded"] > 0, 5)
    print(
        f"\nsnapshot of an unwatched camera in {took * 1000:.0f} ms; decoded {watched['decoded']} pictures once watched"
    )
